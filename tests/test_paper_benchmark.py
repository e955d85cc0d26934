"""benchmarks/paper.py runs the TAGI-LSTM paper's protocol on a few series (only where the
paper's benchmark files are: the development tree's ../shared)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "paper_benchmarks"


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
@pytest.mark.parametrize("model", ["hybrid", "global,hybrid_ts", "global_auto"])
def test_paper_protocol_runs_on_a_few_series(model):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper.py"), "--dataset",
         "tourism_quarterly", "--data", str(DATA), "--series", "3", "--seeds", "0",
         "--epochs", "3", "--model", model], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    labels = [r.split("|")[1].strip() for r in rows[2:]]
    assert labels == [f"ours ({model})", "the paper's predictions", "seasonal naive"]
    for row in rows[2:]:
        nd = float(row.split("|")[2])
        assert 0 < nd < 10


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
def test_local_panel_benchmark_compares_with_the_loop():
    """benchmarks/local_panel.py fits a few series alone and as a panel; it fails if the
    panel's forecasts are not bitwise the loop's."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "local_panel.py"), "--data", str(DATA),
         "--series", "4", "--repeats", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    fits = [r for r in rows[2:] if "GFLOP" not in r]
    labels = [r.split("|")[1].strip() for r in fits]
    assert labels[:2] == ["loop", "panel, 1 thread"]
    assert all(label.startswith("panel, ") for label in labels[2:])  # with more threads
    assert all(float(r.split("|")[4]) > 0 for r in fits)  # time ÷ the loop's
    assert "GFLOP/s" in proc.stdout
