"""The ``tagi-lstm`` command: forecast a column of a CSV file with intervals.

    tagi-lstm forecast data.csv --target co2 --lookback 52 --horizon 26 --plot co2.png

A long file (one row per series and step) gives one forecast per series::

    tagi-lstm forecast panel.csv --id-col unique_id --time-col ds --target y
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

from .data import CALENDAR_PERIODS
from .dates import check_dates
from .forecast import METHODS, NOISE_MODES, Forecaster
from .forecast.transform import Power

#: Forecaster settings the command line can fix, at their defaults.
DEFAULTS = {"num_layers": 1, "method": "linearized", "calendar": (), "transform": None}

_MISSING = {"", "na", "nan", "null", "none", "n/a"}


class CLIError(Exception):
    """A problem with the user's input, reported as one line."""


def read_csv(path: str, target: str, time_col: str | None, id_col: str | None = None):
    """``(values, timestamps or None)`` of ``target`` in the CSV at ``path``.

    Empty cells and ``NA``/``NaN``/``null`` are missing values (NaN). The time
    column is ``time_col`` or, when not given, the first column if every cell
    of it parses as a date. With ``id_col`` the file is long (one row per
    series and step): ``values`` is ``{id: (n_id,) values}`` and the
    timestamps ``{id: (n_id,)}`` (each series sorted by time), or None
    without ``time_col`` (each series in file order).
    """
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not a text CSV file ({exc.reason})") from exc
    except csv.Error as exc:
        raise CLIError(f"{path} is not a valid CSV file: {exc}") from exc
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CLIError(f"{path} is empty; expected a header row then one row per time step")
    header = [cell.strip() for cell in rows[0]]
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise CLIError(f"{path} has a header but no data rows")
    if target not in header:
        raise CLIError(f"column {target!r} not found in {path}; its columns are {header}")
    for n, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CLIError(f"{path} line {n}: {len(row)} fields, the header has {len(header)}")
    if id_col is not None:
        return _read_long(path, header, body, id_col, target, time_col)
    values = _numbers(path, header, body, target, range(2, len(body) + 2))
    if time_col is not None:
        if time_col not in header:
            raise CLIError(f"time column {time_col!r} not found in {path}; its columns are "
                           f"{header}")
        return values, _parse_dates([row[header.index(time_col)] for row in body], time_col)
    if header[0] != target and body and _all_dates([row[0] for row in body]):
        # a first column of dates is the time column: out of order, it is an error
        return values, _parse_dates([row[0] for row in body], header[0])
    return values, None


def _numbers(path, header, rows, target, lines) -> np.ndarray:
    """The ``target`` cells of ``rows`` (file lines ``lines``) as floats, NaN where
    missing."""
    col = header.index(target)
    values = np.empty(len(rows))
    for n, (row, line) in enumerate(zip(rows, lines)):
        cell = row[col].strip()
        if cell.lower() in _MISSING:
            values[n] = np.nan
            continue
        try:
            values[n] = float(cell)
        except ValueError:
            raise CLIError(f"{path} line {line}: {target} = {cell!r} is not a number "
                           f"(leave the cell empty or write NA for a missing value)") from None
    return values


def _read_long(path, header, body, id_col, target, time_col):
    """:func:`read_csv` of a long file: ``({id: values}, {id: dates} or None)``."""
    for flag, name in (("--id-col", id_col), ("--time-col", time_col)):
        if name is not None and name not in header:
            raise CLIError(f"{flag} {name!r} not found in {path}; its columns are {header}")
    ids = [row[header.index(id_col)].strip() for row in body]
    rows = {}
    for n, name in enumerate(ids):
        if not name:
            raise CLIError(f"{path} line {n + 2}: the {id_col} cell is empty")
        rows.setdefault(name, []).append(n)
    values, dates = {}, {} if time_col is not None else None
    for name, picked in rows.items():
        part = [body[n] for n in picked]
        y = _numbers(path, header, part, target, [n + 2 for n in picked])
        values[name] = y
        if time_col is not None:
            stamps = np.array([row[header.index(time_col)].strip() for row in part])
            try:
                stamps = stamps.astype("datetime64[s]")
            except ValueError:
                raise CLIError(f"{path}: series {name!r} has a {time_col} cell that is not a "
                               f"date") from None
            order = np.argsort(stamps, kind="stable")
            values[name] = y[order]
            dates[name] = _parse_dates(stamps[order].astype(str), f"{time_col} of {name}")
    return values, dates


def _all_dates(cells) -> bool:
    try:
        np.array([c.strip() for c in cells], dtype="datetime64[s]")
    except ValueError:
        return False
    return True


def _parse_dates(cells, name):
    try:
        return check_dates([c.strip() for c in cells], where=f"time column {name!r}")
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tagi-lstm",
        description="Bayesian LSTM forecasts with intervals (TAGI).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fc = commands.add_parser(
        "forecast", help="fit a forecaster to a CSV column and forecast past its end",
        description="Fit a Bayesian LSTM to one column of a CSV file (the last --validation "
                    "fraction held out for early stopping), then forecast --horizon steps "
                    "past the end, recursively, with the uncertainty fed back. Writes a CSV of "
                    "timestamp, mean, std and 50%/90% interval bounds, and optionally a plot.")
    fc.add_argument("csv", help="input CSV: a header row, then one row per time step")
    fc.add_argument("--target", required=True, metavar="COL",
                    help="column to forecast (empty cells or NA are missing values)")
    fc.add_argument("--id-col", metavar="COL",
                    help="column of series ids: the file is long, one row per series and "
                         "step; one network is fitted per series and the output has one "
                         "forecast per series")
    fc.add_argument("--time-col", metavar="COL",
                    help="column of timestamps (default: the first column if it holds dates; "
                         "else steps are numbered)")
    fc.add_argument("--lookback", type=int, default=24, metavar="N",
                    help="steps each input window reads (default: %(default)s)")
    fc.add_argument("--horizon", type=int, default=12, metavar="H",
                    help="steps to forecast past the end of the data (default: %(default)s)")
    fc.add_argument("--hidden", type=int, default=16, metavar="N",
                    help="LSTM units per layer (default: %(default)s)")
    fc.add_argument("--layers", type=int, default=DEFAULTS["num_layers"], metavar="N",
                    help="stacked LSTM layers (default: %(default)s)")
    fc.add_argument("--epochs", type=int, default=30, metavar="N",
                    help="most training epochs (default: %(default)s)")
    fc.add_argument("--patience", type=int, default=5, metavar="N",
                    help="epochs without validation improvement before stopping "
                         "(default: %(default)s)")
    fc.add_argument("--validation", type=float, default=0.2, metavar="F",
                    help="fraction of the series, from its end, held out for early stopping "
                         "(default: %(default)s)")
    fc.add_argument("--noise", choices=NOISE_MODES, default="heteroscedastic",
                    help="observation noise: fixed, scheduled (decayed per epoch) or learned "
                         "per step (default: %(default)s)")
    fc.add_argument("--transform", choices=[k for k in Power.KINDS if k],
                    help="model sqrt(y) or log(y), for a series whose noise grows with its "
                         "level (default: y itself; --auto tries sqrt on a series without "
                         "negative values)")
    fc.add_argument("--difference", action="store_true",
                    help="model first differences (for a series with a trend)")
    fc.add_argument("--season", type=int, metavar="M",
                    help="season length in steps (default: from the timestamps' frequency "
                         "with --auto)")
    fc.add_argument("--seasonal-difference", action="store_true",
                    help="model seasonal differences y[t] - y[t - M] (needs --season)")
    fc.add_argument("--ensemble", type=int, default=1, metavar="N",
                    help="networks trained from N seeds, combined by mixture moments "
                         "(default: %(default)s; 5 with --auto)")
    fc.add_argument("--method", choices=METHODS, default=DEFAULTS["method"],
                    help="how multi-step uncertainty is carried (default: %(default)s)")
    fc.add_argument("--calibrate", action="store_true",
                    help="fit per-horizon variance factors on a backtest of the held-out part")
    fc.add_argument("--auto", action="store_true",
                    help="choose differencing, calendar covariates, lookback, width and noise "
                         "on a backtest of the data, and whether the LSTM / local-level "
                         "hybrid does better (ignores --lookback, --hidden, --noise, "
                         "--difference, --seasonal-difference; --calendar, --layers, "
                         "--method and --calibrate leave the hybrid out)")
    fc.add_argument("--calendar", default="", metavar="LIST",
                    help="comma-separated calendar covariates from the timestamps: "
                         f"{', '.join(CALENDAR_PERIODS)} (default: none)")
    fc.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    fc.add_argument("--output", default="forecast.csv", metavar="CSV",
                    help="where to write the forecasts (default: %(default)s)")
    fc.add_argument("--plot", metavar="PNG", help="also draw the history and the forecast here")
    fc.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return parser


def _check_outputs(args) -> None:
    """Every file the command will write: never the input, in a folder that exists and
    can be written to (checked before any training)."""
    source = Path(args.csv).resolve()
    for flag, value in (("--output", args.output), ("--plot", args.plot)):
        if not value:
            continue
        path = Path(value)
        if path.resolve() == source:
            raise CLIError(f"{flag} {value} is the input file; choose another name so the "
                           f"data are not overwritten")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise CLIError(f"{flag} {value}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise CLIError(f"{flag} {value}: the folder {folder} is not writable")
        if path.is_dir():
            raise CLIError(f"{flag} {value} is a folder; give a file name")


def run_forecast(args) -> None:
    _check_outputs(args)
    if args.id_col is not None:
        for flag, given in (("--auto", args.auto), ("--plot", args.plot),
                            ("--calendar", args.calendar)):
            if given:
                raise CLIError(f"{flag} is for one series; it does not combine with --id-col")
    y, dates = read_csv(args.csv, args.target, args.time_col, args.id_col)
    calendar = tuple(c.strip() for c in args.calendar.split(",") if c.strip())
    if calendar and dates is None:
        raise CLIError("--calendar needs timestamps: give --time-col")
    if args.horizon < 1:
        raise CLIError(f"--horizon must be a positive number of steps; got {args.horizon}")
    fixed = {"num_layers": args.layers, "method": args.method, "calendar": calendar,
             "transform": args.transform}
    # only what the user changed, so that --auto may still pick the hybrid
    fixed = {k: v for k, v in fixed.items() if v != DEFAULTS[k]}
    fixed["seed"] = args.seed
    if args.auto:
        model = Forecaster.auto(y, dates=dates, horizon=args.horizon, season=args.season,
                                ensemble=args.ensemble if args.ensemble > 1 else 5,
                                calibrate=args.calibrate, validation=args.validation,
                                epochs=args.epochs, patience=args.patience,
                                progress=not args.quiet, **fixed)
    else:
        model = Forecaster(args.lookback, args.hidden, noise=args.noise,
                           difference=args.difference, season=args.season,
                           seasonal_difference=args.seasonal_difference,
                           ensemble=args.ensemble, **fixed)
        model.fit(y, dates=dates, validation=args.validation, epochs=args.epochs,
                  patience=args.patience, progress=not args.quiet,
                  calibrate=args.horizon if args.calibrate else False)
    result = model.forecast(args.horizon)
    _write_forecasts(args.output, result, args.id_col)
    if args.id_col is not None:
        if not args.quiet:
            print(f"{len(result)} series, {args.horizon} forecasts each written to "
                  f"{args.output}")
        return
    if not args.quiet:
        kept = [r for r in model.history_ if r["member"] == 0
                and r["epoch"] == model.best_epoch_]
        ll = kept[0]["val_log_likelihood"] if kept else None
        chosen = f"chose {model!r}; " if args.auto else ""
        print(f"{chosen}kept epoch {model.best_epoch_} of member 0"
              + (f" (validation log-likelihood {ll:.3f})" if ll is not None else "")
              + f"; {args.horizon} forecasts written to {args.output}")
    if args.plot:
        import matplotlib.pyplot as plt

        from .plotting import plot_forecast

        n_hist = min(len(y), max(4 * args.horizon, 2 * args.lookback))
        index = dates if dates is not None else np.arange(len(y))
        ax = plot_forecast(result, history=y[-n_hist:], history_index=index[-n_hist:],
                           boundary=index[-1], boundary_label="end of data",
                           title=f"{args.target}: {args.horizon}-step forecast")
        ax.figure.tight_layout()
        ax.figure.savefig(args.plot, dpi=110)
        plt.close(ax.figure)
        if not args.quiet:
            print(f"plot written to {args.plot}")


def _write_forecasts(path, result, id_col) -> None:
    """The forecasts as CSV: ``timestamp``, ``mean``, ``std`` and the 50 % / 90 % bounds,
    after an ``id_col`` column for a panel (one block of rows per series)."""
    parts = [(None, result)] if id_col is None else list(zip(result.ids, result.forecasts))
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        for k, (name, fc) in enumerate(parts):
            cols = fc.to_dict((0.5, 0.9))
            names = ["timestamp"] + [c for c in cols if c != "index"]
            if k == 0:
                writer.writerow(names if id_col is None else [id_col] + names)
            for i in range(len(fc)):
                row = [str(cols["index"][i])] + [f"{cols[c][i]:.6g}" for c in names[1:]]
                writer.writerow(row if id_col is None else [name] + row)


def main(argv=None) -> int:
    """Entry point of ``tagi-lstm``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        run_forecast(args)
    except (CLIError, ValueError, TypeError, OSError, ImportError) as exc:
        print(f"tagi-lstm: error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
