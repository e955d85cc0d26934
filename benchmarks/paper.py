"""The TAGI-LSTM paper's protocol on its own data: M4 hourly and tourism, local models.

Vuong, Nguyen & Goulet (International Journal of Forecasting 41(1), 2025) fit one model per
series and score the last ``test`` steps of each with ND, the p90 quantile loss and MASE.
This script keeps their splits, lookbacks, covariates and metrics (the ``README.md`` beside
the data files states them) and fits ours, one model per series, then prints ours, the
paper's own predictions and seasonal naive side by side, with our wall time.

Data: the folder of ``*_values.csv.gz`` and ``*_paper_{mean,var}.csv.gz`` files (one column
per series, shorter series NaN-padded at the top).

Models (``--model``), each a panel forecaster (one network per series, fitted as the
series would be alone) with the validation tail the paper holds out for early stopping
(12 / 12 / 4 steps) and ``--seeds`` members combined by mixture moments:

- ``hybrid``: :class:`tagi_lstm.forecast.HybridForecaster` (the closest to the paper's
  model: an LSTM beside a local level, one Kalman filter), lookback as the paper's;
- ``hybrid_ts``: the same with a local linear trend and a seasonal component beside the
  level (step variances ``auto`` tries: ``tagi_lstm.config.HYBRID_TREND_NOISE`` and the
  smallest of ``HYBRID_SEASONAL_NOISES``);
- ``forecaster``: :class:`tagi_lstm.forecast.Forecaster` with the paper's lookback,
  seasonal differencing, heteroscedastic noise;
- ``global``: the same forecaster with ``mode="global"``: one network (``--seeds``
  members) trained on the windows of every series, each standardised by its own
  training part;
- ``global_auto``: ``Forecaster.auto`` on the panel: the global forecaster whose
  lookback (one or two seasons) and seasonal differencing forecast the training part's
  last ``test`` steps best from the rest (mean CRPS, each series scaled by its mean
  absolute step change, as MASE scales errors; one member per candidate); nothing of the
  test part is looked at.

A comma-separated list (``--model hybrid_ts,forecaster``) fits each and forecasts their
equal-weight mixture (:func:`tagi_lstm.forecast.mixture_moments`), as
:class:`~tagi_lstm.forecast.Combination` does for one series; every model fitted
weighs the same.

``--both-differencing`` fits ``forecaster`` and ``global`` twice, with and without
seasonal differencing, and forecasts the equal mixture of the two. ``--combine A.npz
B.npz ...`` fits nothing: it scores the equal mixture of forecasts that earlier runs
saved with ``--save`` (the same data set and series), so that two long runs can be
combined without running them again.

``--holdout`` moves the whole protocol one test period back, onto the training part:
each series' last ``test`` training steps are forecast from the steps before them and
scored, and nothing of the test part is read (the paper's predictions cover the test
part only, so their row is left out). A configuration is then chosen on the training
part alone, as ``global_auto`` chooses its settings; the extra column, mean CRPS with
each series scaled by its mean absolute step change, is the score ``global_auto``
chooses by. ``--stride K`` keeps every K-th of the (first ``--series``) series, a
spread-out sample where the first series are not typical.

``--workers N`` fits the series on a local Dask cluster of ``N`` single-threaded worker
processes (``fit(..., client=...)``: the same forecasts as in one process).

``--peers ets,arima,theta`` adds the tools a forecaster would pick instead, fitted per
series on the same training parts: statsforecast's ``AutoETS``, ``AutoARIMA`` and
``AutoTheta`` (R's ``ets``, ``auto.arima`` and the Theta method, each with the data
set's season; statsforecast must be installed: it is a peer, not a dependency), and,
with several, their equal mixture. Their standard deviations come from their 80 %
intervals, whose upper bound is a Gaussian forecast's 0.9-quantile. ``--workers`` sets
statsforecast's processes too.

    python benchmarks/paper.py --dataset tourism_quarterly --data ../shared/data/paper_benchmarks
        [--model hybrid|hybrid_ts|forecaster] [--series 50] [--stride 4] [--holdout]
        [--seeds 0,1,2] [--epochs 50]
        [--workers 2] [--lookback 24] [--no-seasonal-difference | --both-differencing]
        [--hidden 16] [--transform sqrt] [--calendar] [--save forecasts.npz]
        [--combine A.npz B.npz ...] [--peers ets,arima,theta]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import ndtri

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tagi_lstm import metric
from tagi_lstm.config import HYBRID_SEASONAL_NOISES, HYBRID_TREND_NOISE
from tagi_lstm.forecast import Forecaster, HybridForecaster, mixture_moments
from tagi_lstm.forecast.transform import Power

#: name: (test steps, validation steps, lookback, season)
DATASETS = {"m4_hourly": (48, 12, 168, 24), "tourism_monthly": (24, 12, 12, 12),
            "tourism_quarterly": (8, 4, 4, 4)}


def load(data: Path, name: str):
    """``(values, paper_mean, paper_std)``: ``(time, n)``, ``(test, n)``, ``(test, n)``."""
    read = lambda suffix: np.loadtxt(data / f"{name}_{suffix}.csv.gz", delimiter=",")  # noqa: E731
    return read("values"), read("paper_mean"), np.sqrt(read("paper_var"))


def hourly_dates(data: Path, name: str, values: np.ndarray, columns=None) -> list:
    """Per series, the timestamps of its observed rows, built from the data set's calendar
    files (M4 hourly: hour of day 1-24 and day of week 1-7 of every value), so that
    ``calendar=("hour", "dayofweek")`` gives the network the covariates the paper gave its
    own. The files count hour 24 as the midnight that opens the next day; day 1 is taken
    as a Monday (only the phase of the week depends on it). ``values`` holds the files'
    ``columns`` (default: the first ones) and their first rows."""
    read = lambda suffix: np.loadtxt(data / f"{name}_{suffix}.csv.gz", delimiter=",")  # noqa: E731
    # the files' rows are those of the full values; ``values`` may end earlier
    columns = np.arange(values.shape[1]) if columns is None else columns
    hour, day = (read(part)[:len(values), columns] for part in ("hour_of_day", "day_of_week"))
    monday = np.datetime64("2024-01-01T00", "h")  # a Monday
    out = []
    for j in range(values.shape[1]):
        rows = ~np.isnan(values[:, j])
        week_hour = (hour[rows, j] % 24 + 24 * (day[rows, j] - 1)).astype(np.int64)
        if not np.all(np.diff(week_hour) % 168 == 1):
            raise ValueError(f"{name}: series {j}'s calendar is not one value per hour")
        out.append((monday + week_hour[0] + np.arange(rows.sum())).astype("datetime64[s]"))
    return out


def seasonal_naive(train: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last season repeated over the horizon."""
    last = train[-season:]
    return np.array([last[h % season] for h in range(horizon)])


MODELS = ("hybrid", "hybrid_ts", "forecaster", "global", "global_auto")

#: ``--peers`` name: the statsforecast model
PEERS = {"ets": "AutoETS", "arima": "AutoARIMA", "theta": "AutoTheta"}


def peer_forecasts(train: np.ndarray, test: int, season: int, names, workers: int) -> list:
    """statsforecast's forecasts of the ``test`` steps after each column of ``train``
    (``(time, n)``, NaN-padded at the top) by each peer of ``names``, and with several
    their equal mixture: ``[(label, means, stds)]``, each ``(test, n)``."""
    try:
        import pandas as pd
        from statsforecast import StatsForecast, models
    except ImportError as exc:
        raise SystemExit(f"--peers needs statsforecast (pip install statsforecast): {exc}") \
            from None
    chosen = [getattr(models, PEERS[name])(season_length=season) for name in names]
    columns = [train[~np.isnan(train[:, j]), j] for j in range(train.shape[1])]
    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(len(columns)),
                                                 [len(c) for c in columns]),
                          "ds": np.concatenate([np.arange(len(c)) for c in columns]),
                          "y": np.concatenate(columns)})
    out = StatsForecast(models=chosen, freq=1, n_jobs=workers).forecast(
        df=frame, h=test, level=[80]).sort_values(["unique_id", "ds"])
    z = ndtri(0.9)
    rows = []
    for name in names:
        label = PEERS[name]
        mean, upper = (out[column].to_numpy().reshape(len(columns), test).T
                       for column in (label, f"{label}-hi-80"))
        rows.append((f"statsforecast {label}", mean, (upper - mean) / z))
    if len(rows) > 1:
        mean, std = mixture([r[1] for r in rows], [r[2] for r in rows])
        rows.append(("the peers' equal mixture", mean, std))
    return rows


def listed(parser, flag: str, text: str, choices: tuple) -> list:
    """The comma-separated names of ``text``, each one of ``choices`` (else the parser's
    error naming the others)."""
    names = text.split(",")
    unknown = sorted(set(names) - set(choices))
    if unknown:
        parser.error(f"unknown {flag} {unknown}; choose from {choices}")
    return names


def make(kind: str, lookback: int, season: int, seeds, seasonal_difference: bool = True,
         hidden_size: int = 16, calendar: tuple = (), transform: str | None = None,
         seasonal_noise: float = HYBRID_SEASONAL_NOISES[0]):
    """The unfitted forecaster of ``--model kind``."""
    common = {"lookback": lookback, "hidden_size": hidden_size, "season": season,
              "ensemble": len(seeds), "seed": seeds[0], "transform": transform}
    if kind == "hybrid":
        return HybridForecaster(**common)
    if kind == "hybrid_ts":
        return HybridForecaster(**common, trend_noise=HYBRID_TREND_NOISE,
                                seasonal_noise=seasonal_noise)
    return Forecaster(**common, seasonal_difference=seasonal_difference, calendar=calendar,
                      mode="global" if kind == "global" else "local")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--data", type=Path, required=True,
                        help="folder of the paper's benchmark files")
    parser.add_argument("--model", default="hybrid",
                        help=f"one of {MODELS}, or several separated by commas (their "
                             f"mixture)")
    parser.add_argument("--series", type=int, default=None,
                        help="only the first N series (default: all)")
    parser.add_argument("--stride", type=int, default=1, metavar="K",
                        help="every K-th series (of the first --series; default 1: all)")
    parser.add_argument("--holdout", action="store_true",
                        help="forecast and score each series' last test steps of the "
                             "training part instead of the test part")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--lookback", type=int, default=None,
                        help="lookback of forecaster and global (default: the paper's)")
    parser.add_argument("--no-seasonal-difference", action="store_true",
                        help="forecaster and global without seasonal differencing")
    parser.add_argument("--both-differencing", action="store_true",
                        help="forecaster and global with and without seasonal "
                             "differencing: their equal mixture")
    parser.add_argument("--combine", type=Path, nargs="+", default=None,
                        help="fit nothing: score the equal mixture of forecasts saved by "
                             "earlier runs (--save)")
    parser.add_argument("--hidden", type=int, default=16,
                        help="LSTM units of every model (default 16)")
    parser.add_argument("--transform", choices=[k for k in Power.KINDS if k], default=None,
                        help="model sqrt(y) or log(y) (default: y; global_auto tries sqrt "
                             "itself)")
    parser.add_argument("--seasonal-noise", type=float, default=HYBRID_SEASONAL_NOISES[0],
                        metavar="Q", help="hybrid_ts: the seasonal effect's step variance "
                                          "(default: %(default)s, the smallest auto tries)")
    parser.add_argument("--calendar", action="store_true",
                        help="M4 hourly: hour of day and day of week as covariates, as the "
                             "paper (forecaster, global and global_auto)")
    parser.add_argument("--save", type=Path, default=None,
                        help="write our forecasts' means and standard deviations "
                             "(test, series) to this .npz file")
    parser.add_argument("--workers", type=int, default=1,
                        help="Dask worker processes (default 1: no cluster)")
    parser.add_argument("--peers", default=None,
                        help=f"statsforecast's models beside ours: some of {sorted(PEERS)}, "
                             f"separated by commas")
    args = parser.parse_args(argv)
    test, val, lookback, season = DATASETS[args.dataset]
    lookback = args.lookback or lookback
    values, paper_mean, paper_std = load(args.data, args.dataset)
    if args.stride < 1:
        parser.error(f"--stride must be at least 1; got {args.stride}")
    columns = np.arange(values.shape[1])[:args.series][::args.stride]
    values, paper_mean, paper_std = (a[:, columns] for a in (values, paper_mean, paper_std))
    if args.holdout:  # the series end together: the training part's last steps
        values, paper_mean, paper_std = values[:-test], None, None
    n = values.shape[1]
    seeds = [int(s) for s in args.seeds.split(",")]
    train = values[:-test]
    naive = np.stack([seasonal_naive(train[:, j], test, season) for j in range(n)], axis=1)
    kinds = listed(parser, "--model", args.model, MODELS)
    if args.no_seasonal_difference and args.both_differencing:
        parser.error("--no-seasonal-difference and --both-differencing exclude each other")
    peers, peer_seconds = [], 0.0
    if args.peers:
        names = listed(parser, "--peers", args.peers, tuple(PEERS))
        start = time.perf_counter()
        peers = peer_forecasts(train, test, season, names, args.workers)
        peer_seconds = time.perf_counter() - start
    if args.combine is not None:
        means, stds = combine_saved(args.combine, (test, n))
        args.model = " + ".join(str(path) for path in args.combine)
        report(args, n, test, val, lookback, season, (), values, paper_mean, paper_std,
               naive, means, stds, 0.0, peers, peer_seconds)
        return
    calendar, panel, dates = (), train, None
    if args.calendar:
        if args.dataset != "m4_hourly" or {"hybrid", "hybrid_ts"} & set(kinds):
            parser.error("--calendar: M4 hourly only (its files hold the calendar), and "
                         "the hybrids take no covariates")
        calendar = ("hour", "dayofweek")
        stamps = hourly_dates(args.data, args.dataset, values, columns)
        rows = [~np.isnan(train[:, j]) for j in range(n)]
        panel = {j: train[rows[j], j] for j in range(n)}
        dates = {j: stamps[j][:rows[j].sum()] for j in range(n)}
    start = time.perf_counter()
    differencing = ((True, False) if args.both_differencing
                    else (not args.no_seasonal_difference,))
    models = []
    for kind in kinds:
        if kind == "global_auto":  # fitted here, by auto
            model = Forecaster.auto(panel, dates=dates, horizon=test, season=season,
                                    ensemble=len(seeds), validation=val, epochs=args.epochs,
                                    seed=seeds[0], hidden_size=args.hidden, calendar=calendar,
                                    **({"transform": args.transform} if args.transform else {}))
            for row in model.auto_:
                left = f"({row['left_out']} series too short left out) " \
                    if "left_out" in row else ""
                print(f"global_auto: {row['settings']} scaled CRPS {row['crps']:.4f} "
                      f"{left}{row.get('error', '')}")
            models.append((model, False))
        elif kind in ("forecaster", "global"):
            models += [(make(kind, lookback, season, seeds, seasonal_difference=sd,
                             hidden_size=args.hidden, calendar=calendar,
                             transform=args.transform), True)
                       for sd in differencing]
        else:
            models.append((make(kind, lookback, season, seeds, hidden_size=args.hidden,
                                transform=args.transform, seasonal_noise=args.seasonal_noise),
                           True))
    with contextlib.ExitStack() as stack:
        client = None
        if args.workers > 1:
            from distributed import Client, LocalCluster

            cluster = stack.enter_context(LocalCluster(
                n_workers=args.workers, threads_per_worker=1, dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        # a global model is one network: trained here, not spread over the workers
        forecasts = []
        for m, unfitted in models:  # global_auto is fitted already
            if unfitted:
                m.fit(panel, dates=dates, validation=val, epochs=args.epochs,
                      client=None if getattr(m, "mode", "local") == "global" else client)
            forecasts.append(m.forecast(test))
    means, stds = mixture([f.mean for f in forecasts], [f.std for f in forecasts])
    if args.save is not None:
        np.savez(args.save, mean=means, std=stds)
    report(args, n, test, val, lookback, season, calendar, values, paper_mean, paper_std,
           naive, means, stds, time.perf_counter() - start, peers, peer_seconds)


def mixture(means, stds) -> tuple:
    """``(means, stds)`` of the equal-weight mixture of forecasts given as lists of
    means and standard deviations (:func:`tagi_lstm.forecast.mixture_moments`)."""
    mean, variance = mixture_moments(np.stack(means), np.stack(stds) ** 2)
    return mean, np.sqrt(variance)


def combine_saved(paths, shape) -> tuple:
    """The equal mixture ``(means, stds)`` of forecasts saved by ``--save``, each
    ``shape`` ``(test, series)``."""
    saved = [np.load(path) for path in paths]
    for path, s in zip(paths, saved):
        if s["mean"].shape != shape:
            raise SystemExit(f"--combine: {path} holds forecasts of shape {s['mean'].shape}; "
                             f"this data set and --series need {shape}")
    return mixture([s["mean"] for s in saved], [s["std"] for s in saved])


def report(args, n, test, val, lookback, season, calendar, values, paper_mean, paper_std,
           naive, means, stds, seconds, peers=(), peer_seconds=0.0) -> None:
    """Print ours, ``peers`` (``[(label, means, stds)]``, fitted in ``peer_seconds``), the
    paper's predictions and seasonal naive, scored alike."""
    truth, insample = values[-test:], values[:-test]
    # global_auto's score: each series in units of its mean absolute step change
    scale = np.nanmean(np.abs(np.diff(insample, axis=0)), axis=0)

    def row(label, mean, std):
        cells = [f"{metric.nd(mean, truth):.4f}",
                 f"{metric.quantile_loss(mean, truth, std, 0.9):.4f}" if std is not None
                 else "—",
                 f"{metric.mase(mean, truth, insample, season):.3f}",
                 f"{metric.crps(mean / scale, truth / scale, std / scale):.4f}"
                 if std is not None else "—"]
        return f"| {label} | " + " | ".join(cells) + " |"

    part = (f"the training part's last {test} steps (--holdout: the test part unread)"
            if args.holdout else f"test {test}")
    if args.combine is not None:
        print(f"\n{args.dataset}: {n} series, {part}; ours: the equal mixture of the "
              f"saved forecasts {args.model}\n")
    else:
        differencing = (", no seasonal differencing" * args.no_seasonal_difference
                        + ", with and without seasonal differencing" * args.both_differencing)
        noise = f", seasonal noise {args.seasonal_noise:g}" if "hybrid_ts" in args.model \
            else ""
        print(f"\n{args.dataset}: {n} series, {part}, validation {val}, lookback "
              f"{lookback}, season {season}{differencing}"
              f"{', calendar covariates ' + str(calendar) if calendar else ''}"
              f"{', transform ' + args.transform if args.transform else ''}"
              f"{noise}; "
              f"ours: {args.model}, seeds {args.seeds}, at most {args.epochs} "
              f"epochs, {args.workers} worker(s); {seconds:.0f} s ({seconds / n:.2f} s per "
              f"series)\n")
    print("| method | ND | p90 | MASE | scaled CRPS |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(row(f"ours ({args.model})", means, stds))
    for label, mean, std in peers:
        print(row(label, mean, std))
    if paper_mean is not None:
        print(row("the paper's predictions", paper_mean, paper_std))
    print(row("seasonal naive", naive, None))
    if peers:
        print(f"\nstatsforecast's fits and forecasts: {peer_seconds:.0f} s")


if __name__ == "__main__":
    main()
