"""Smoke test of the speed benchmark: ``benchmarks/bench.py --quick`` runs and records.

Runs tagi_lstm alone (``--peers none``) on the smallest workload, so it needs
neither torch nor pytagi; the numbers it produces are not measurements.
"""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_quick_benchmark_writes_json_and_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--workloads", "W1", "--peers", "none",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    [json_path] = tmp_path.glob("*.json")
    [md_path] = tmp_path.glob("*.md")
    record = json.loads(json_path.read_text())
    assert {"environment", "settings", "workloads"} <= record.keys()
    env = record["environment"]
    assert {"cpu_model", "cpu_count", "versions", "blas", "git_commit", "date_utc"} <= env.keys()
    assert env["versions"]["numpy"]
    assert record["settings"]["peers"] == [] and record["settings"]["quick"] is True

    [workload] = record["workloads"]
    assert workload["name"] == "W1" and workload["spec"]["hidden"] == 8
    [result] = workload["results"]
    assert result["implementation"] == "tagi_lstm"
    assert result["status"] == "ok", result.get("message")
    assert result["first_batch_ms"] > 0
    assert len(result["round_ms_per_batch"]) >= result["planned_rounds"] >= 1
    assert all(t > 0 for t in result["round_ms_per_batch"])
    assert 0 < result["min_ms"] <= result["median_ms"] <= result["max_ms"]
    assert result["windows_per_s"] > 0 and result["peak_rss_kib"] > 0
    assert result["tagi_ratio"] == 1.0

    gemm = workload["gemm"]
    assert gemm["gflop_per_batch"] > 0 and gemm["ideal_ms"] > 0
    assert gemm["matmul_gflops"] > 0 and gemm["ideal_over_measured"] > 0

    table = md_path.read_text()
    assert "| W1 | tagi_lstm |" in table and table in proc.stdout
