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
def test_paper_protocol_runs_on_a_few_series(model, tmp_path):
    import numpy as np

    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper.py"), "--dataset",
         "tourism_quarterly", "--data", str(DATA), "--series", "3", "--seeds", "0",
         "--epochs", "3", "--model", model, "--save", str(tmp_path / "forecasts.npz")],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    saved = np.load(tmp_path / "forecasts.npz")
    assert saved["mean"].shape == saved["std"].shape == (8, 3)  # test steps, series
    assert np.isfinite(saved["mean"]).all() and (saved["std"] > 0).all()
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


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
def test_m4_dates_carry_the_files_calendar():
    """paper.py's timestamps of the M4 hourly series have the hour of day and day of week
    of the data set's calendar files (hour 24: the midnight opening the next day)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from paper import hourly_dates, load

    values = load(DATA, "m4_hourly")[0][:, :5]
    hour = np.loadtxt(DATA / "m4_hourly_hour_of_day.csv.gz", delimiter=",")[:, :5]
    day = np.loadtxt(DATA / "m4_hourly_day_of_week.csv.gz", delimiter=",")[:, :5]
    for j, stamps in enumerate(hourly_dates(DATA, "m4_hourly", values)):
        rows = ~np.isnan(values[:, j])
        assert len(stamps) == rows.sum()
        hours = stamps.astype("datetime64[h]").astype(np.int64)
        np.testing.assert_array_equal(hours % 24, hour[rows, j] % 24)
        # 1970-01-01 was a Thursday; the files' day 1 is taken as a Monday
        weekday = (hours // 24 + 3) % 7 + 1
        np.testing.assert_array_equal(weekday, day[rows, j])


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
def test_m4_protocol_runs_with_the_calendar_covariates():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper.py"), "--dataset", "m4_hourly",
         "--data", str(DATA), "--series", "2", "--seeds", "0", "--epochs", "2", "--model",
         "forecaster", "--lookback", "24", "--calendar"], capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "calendar covariates ('hour', 'dayofweek')" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ours")]
    assert 0 < float(rows[0].split("|")[2]) < 10


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
def test_both_differencings_mix_and_saved_runs_combine(tmp_path):
    """--both-differencing forecasts the equal mixture of the forecaster with and
    without seasonal differencing; --combine scores the mixture of saved runs, and
    combining the two single runs gives the same forecasts as fitting both at once."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from paper import main

    from tagi_lstm.forecast import mixture_moments

    common = ["--dataset", "tourism_quarterly", "--data", str(DATA), "--series", "3",
              "--seeds", "0", "--epochs", "3", "--model", "forecaster"]
    runs = {"sd": [], "nosd": ["--no-seasonal-difference"], "both": ["--both-differencing"]}
    for name, extra in runs.items():
        main(common + extra + ["--save", str(tmp_path / f"{name}.npz")])
    saved = {name: np.load(tmp_path / f"{name}.npz") for name in runs}
    assert not np.allclose(saved["sd"]["mean"], saved["nosd"]["mean"])
    mean, var = mixture_moments(np.stack([saved["sd"]["mean"], saved["nosd"]["mean"]]),
                                np.stack([saved["sd"]["std"], saved["nosd"]["std"]]) ** 2)
    np.testing.assert_allclose(saved["both"]["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(saved["both"]["std"], np.sqrt(var), rtol=1e-12)

    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper.py"), *common[:6], "--combine",
         str(tmp_path / "sd.npz"), str(tmp_path / "nosd.npz")],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ours = [line for line in proc.stdout.splitlines() if line.startswith("| ours")][0]
    truth = np.loadtxt(DATA / "tourism_quarterly_values.csv.gz", delimiter=",")[-8:, :3]
    from tagi_lstm import metric

    assert ours.split("|")[2].strip() == f"{metric.nd(mean, truth):.4f}"
    with pytest.raises(SystemExit, match="shape"):
        main(common[:4] + ["--series", "2", "--combine", str(tmp_path / "sd.npz")])


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
def test_holdout_scores_the_training_part_end_of_every_kth_series(tmp_path, capsys):
    """--holdout forecasts each series' last test steps of the training part from the
    steps before them (the test part unread, no paper row); --stride K keeps every K-th
    series; the scaled CRPS column scales each series by its mean absolute step change."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from paper import main

    from tagi_lstm import metric

    main(["--dataset", "tourism_quarterly", "--data", str(DATA), "--series", "9", "--stride",
          "4", "--seeds", "0", "--epochs", "2", "--model", "forecaster", "--holdout",
          "--save", str(tmp_path / "h.npz")])
    out = capsys.readouterr().out
    saved = np.load(tmp_path / "h.npz")
    values = np.loadtxt(DATA / "tourism_quarterly_values.csv.gz", delimiter=",")[:, [0, 4, 8]]
    truth, before = values[-16:-8], values[:-16]
    assert saved["mean"].shape == (8, 3)
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    labels = [r.split("|")[1].strip() for r in rows[2:]]
    assert labels == ["ours (forecaster)", "seasonal naive"]
    cells = [c.strip() for c in rows[2].split("|")[2:6]]
    assert cells[0] == f"{metric.nd(saved['mean'], truth):.4f}"
    assert cells[2] == f"{metric.mase(saved['mean'], truth, before, 4):.3f}"
    scale = np.array([np.mean(np.abs(np.diff(c[~np.isnan(c)]))) for c in before.T])
    mean, std = saved["mean"] / scale, saved["std"] / scale
    assert cells[3] == f"{metric.crps(mean, truth / scale, std):.4f}"
    naive = [r for r in rows if r.startswith("| seasonal naive")][0]
    last_year = np.stack([c[~np.isnan(c)][-4:] for c in before.T], axis=1)
    assert naive.split("|")[2].strip() == f"{metric.nd(np.tile(last_year, (2, 1)), truth):.4f}"
    with pytest.raises(SystemExit):
        main(["--dataset", "tourism_quarterly", "--data", str(DATA), "--stride", "0"])


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
def test_m4_dates_of_chosen_columns_and_shortened_values():
    """hourly_dates of some columns, the values cut short as --holdout cuts them, are
    the full run's timestamps of those series, cut as short."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from paper import hourly_dates, load

    values = load(DATA, "m4_hourly")[0][:, :9]
    full = hourly_dates(DATA, "m4_hourly", values)
    picked = [1, 5, 8]
    cut = hourly_dates(DATA, "m4_hourly", values[:-48, picked], np.array(picked))
    for j, stamps in zip(picked, cut):
        np.testing.assert_array_equal(stamps, full[j][:-48])


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
def test_peers_are_fitted_on_the_same_training_parts_and_scored_alike(capsys):
    """--peers fits statsforecast's models on each series' training part and scores them
    as ours (their equal mixture too); an unknown peer is refused, and without
    statsforecast installed the run stops with a message naming it."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from paper import main

    from tagi_lstm import metric

    common = ["--dataset", "tourism_quarterly", "--data", str(DATA), "--series", "3",
              "--seeds", "0", "--epochs", "2", "--model", "forecaster"]
    with pytest.raises(SystemExit):
        main(common + ["--peers", "ets,prophet"])
    assert "prophet" in capsys.readouterr().err
    try:
        from statsforecast.models import AutoETS
    except ImportError:
        with pytest.raises(SystemExit, match="statsforecast"):
            main(common + ["--peers", "ets"])
        return
    main(common + ["--peers", "ets,theta"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    labels = [r.split("|")[1].strip() for r in rows[2:]]
    assert labels == ["ours (forecaster)", "statsforecast AutoETS", "statsforecast AutoTheta",
                      "the peers' equal mixture", "the paper's predictions", "seasonal naive"]
    values = np.loadtxt(DATA / "tourism_quarterly_values.csv.gz", delimiter=",")[:, :3]
    train, truth = values[:-8], values[-8:]
    # each series fitted alone, straight from statsforecast: the same forecasts, same order
    mean = np.stack([AutoETS(season_length=4).forecast(y=c[~np.isnan(c)], h=8)["mean"]
                     for c in train.T], axis=1)
    ets = rows[3].split("|")
    assert ets[2].strip() == f"{metric.nd(mean, truth):.4f}"
    assert ets[4].strip() == f"{metric.mase(mean, truth, train, 4):.3f}"
