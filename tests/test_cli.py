"""The tagi-lstm command on small CSV files, good and bad."""

import csv
import re

import numpy as np
import pytest

from tagi_lstm.cli import build_parser, main


@pytest.fixture
def good_csv(tmp_path):
    path = tmp_path / "data.csv"
    dates = np.datetime64("2024-01-01") + np.arange(150).astype("timedelta64[D]")
    values = np.sin(2 * np.pi * np.arange(150) / 7) + 10
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["date", "other", "sales"])
        for k, (d, v) in enumerate(zip(dates, values)):
            writer.writerow([str(d), k, "" if k == 40 else f"{v:.4f}"])
    return path


def test_forecast_writes_csv_and_plot(good_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "out.csv", tmp_path / "out.png"
    rc = main(["forecast", str(good_csv), "--target", "sales", "--lookback", "7",
               "--horizon", "5", "--epochs", "2", "--hidden", "4", "--calendar", "dayofweek",
               "--output", str(out), "--plot", str(png), "--quiet"])
    assert rc == 0
    with open(out) as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["timestamp", "mean", "std", "lower_50", "upper_50", "lower_90",
                       "upper_90"]
    assert [r[0][:10] for r in rows[1:]] == ["2024-05-30", "2024-05-31", "2024-06-01",
                                             "2024-06-02", "2024-06-03"]
    table = np.array([[float(c) for c in r[1:]] for r in rows[1:]])
    mean, std, lo50, hi50, lo90, hi90 = table.T
    assert np.all(std > 0) and np.all(lo90 < lo50) and np.all(lo50 < mean)
    assert np.all(mean < hi50) and np.all(hi50 < hi90)
    assert png.stat().st_size > 1000
    assert capsys.readouterr().out == ""


def _written(out, args) -> list:
    """Run the command quietly with ``--output out``; the rows of the CSV it wrote."""
    assert main([*args, "--output", str(out), "--quiet"]) == 0
    with open(out) as fh:
        return list(csv.reader(fh))


def _error_line(capsys, args):
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("tagi-lstm: error: ")
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("content, message", [
    ("date,sales\n", "no data rows"),
    ("", "is empty"),
    ("date,sales\n2024-01-01,1\n2024-01-02,abc\n", "line 3: sales = 'abc' is not a number"),
    ("date,sales\n2024-01-01,1\n2024-01-02,2,3\n", "line 3: 3 fields, the header has 2"),
    ("date,price\n2024-01-01,1\n", "column 'sales' not found"),
])
def test_bad_csv_gives_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    err = _error_line(capsys, ["forecast", str(path), "--target", "sales", "--quiet"])
    assert message in err


def test_missing_file_binary_file_and_short_series(tmp_path, capsys):
    assert "No such file" in _error_line(capsys, ["forecast", str(tmp_path / "none.csv"),
                                                  "--target", "y"])
    binary = tmp_path / "bin.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    assert "not a text CSV" in _error_line(capsys, ["forecast", str(binary), "--target", "y"])
    short = tmp_path / "short.csv"
    short.write_text("y\n" + "\n".join(str(v) for v in range(10)) + "\n")
    assert "one window needs" in _error_line(capsys, ["forecast", str(short), "--target", "y",
                                                      "--lookback", "24", "--quiet"])


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    forecast = build_parser()._subparsers._group_actions[0].choices["forecast"]
    for action in forecast._actions:
        assert action.help, f"option {action.dest} has no help text"
        for flag in action.option_strings:
            assert flag in text


def test_auto_chooses_settings_and_reports_them(good_csv, tmp_path, capsys):
    out = tmp_path / "auto.csv"
    rc = main(["forecast", str(good_csv), "--target", "sales", "--auto", "--horizon", "7",
               "--epochs", "2", "--ensemble", "2", "--output", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert re.search(r"chose (Forecaster|HybridForecaster|Combination)\(.*ensemble=2",
                     printed) and "7 forecasts written" in printed
    with open(out) as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 8 and rows[1][0][:10] == "2024-05-30"


def test_transform_models_the_square_root_and_names_bad_values(good_csv, tmp_path, capsys):
    from tagi_lstm.cli import read_csv
    from tagi_lstm.forecast import Forecaster

    rows = _written(tmp_path / "sqrt.csv", ["forecast", str(good_csv), "--target", "sales",
                                            "--time-col", "date", "--lookback", "7",
                                            "--horizon", "3", "--epochs", "2", "--hidden",
                                            "4", "--transform", "sqrt"])
    mean = np.array([float(r[1]) for r in rows[1:]])
    y, dates = read_csv(str(good_csv), "sales", "date")
    model = Forecaster(7, 4, transform="sqrt", seed=0).fit(y, dates=dates, epochs=2,
                                                           progress=False)
    np.testing.assert_allclose(mean, model.forecast(3).mean, rtol=1e-5)  # written as %.6g
    err = _error_line(capsys, ["forecast", str(good_csv), "--target", "other", "--transform",
                               "log", "--epochs", "1", "--lookback", "7", "--quiet"])
    assert "transform='log' needs positive values; the smallest is 0" in err


def test_bad_dates_and_horizon_fail_before_training(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("date,y\n" + "\n".join(f"2024-01-0{1 + k % 3},{k}" for k in range(6)))
    assert "dates must be" in _error_line(capsys, ["forecast", str(path), "--target", "y"])
    good = tmp_path / "good.csv"
    good.write_text("y\n" + "\n".join(str(v) for v in range(40)) + "\n")
    assert "--horizon must be a positive" in _error_line(
        capsys, ["forecast", str(good), "--target", "y", "--horizon", "0"])


@pytest.fixture
def long_csv(tmp_path):
    """Two monthly series of different lengths in one long file, rows shuffled."""
    rng = np.random.default_rng(1)
    months = np.arange("2000-01", "2006-01", dtype="datetime64[M]")
    rows, series = [], {}
    for name, n in (("north", 60), ("south", 44)):
        y = np.round(np.sin(2 * np.pi * np.arange(n) / 12) + (name == "north") * 3
                     + rng.normal(0, 0.1, n), 4)
        series[name] = (y, months[:n].astype("datetime64[s]"))
        rows += [[name, f"{months[i]}-01", "NA" if i == 20 else f"{y[i]:.4f}"]
                 for i in range(n)]
        series[name][0][20] = np.nan
    path = tmp_path / "long.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["store", "month", "sales"])
        writer.writerows([rows[i] for i in rng.permutation(len(rows))])
    return path, series


def test_a_long_file_gets_one_forecast_per_series(long_csv, tmp_path):
    from tagi_lstm.forecast import Forecaster

    path, series = long_csv
    rows = _written(tmp_path / "out.csv", ["forecast", str(path), "--id-col", "store",
                                           "--time-col", "month", "--target", "sales",
                                           "--lookback", "12", "--horizon", "3", "--epochs",
                                           "2", "--hidden", "4"])
    assert rows[0] == ["store", "timestamp", "mean", "std", "lower_50", "upper_50",
                       "lower_90", "upper_90"]
    assert sorted({r[0] for r in rows[1:]}) == ["north", "south"] and len(rows) == 1 + 2 * 3
    for name, (y, dates) in series.items():
        alone = Forecaster(12, 4, noise="heteroscedastic", seed=0).fit(
            y, dates=dates, epochs=2, progress=False).forecast(3)
        mine = [r for r in rows[1:] if r[0] == name]
        assert [r[1][:10] for r in mine] == [str(d)[:10] for d in alone.index]
        np.testing.assert_allclose([float(r[2]) for r in mine], alone.mean, rtol=1e-5)


def test_long_file_errors(long_csv, tmp_path, capsys):
    path, _ = long_csv
    base = ["forecast", str(path), "--target", "sales", "--output", str(tmp_path / "o.csv")]
    assert "--id-col 'shop' not found" in _error_line(capsys, base + ["--id-col", "shop"])
    assert "does not combine with --id-col" in _error_line(
        capsys, base + ["--id-col", "store", "--auto"])
