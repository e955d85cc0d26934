"""The TAGI-LSTM paper's protocol on its own data: M4 hourly and tourism, local models.

Vuong, Nguyen & Goulet (International Journal of Forecasting 41(1), 2025) fit one model per
series and score the last ``test`` steps of each with ND, the p90 quantile loss and MASE.
This script keeps their splits, lookbacks, covariates and metrics (the ``README.md`` beside
the data files states them) and fits ours, one model per series, then prints ours, the
paper's own predictions and seasonal naive side by side, with our wall time.

Data: the folder of ``*_values.csv.gz`` and ``*_paper_{mean,var}.csv.gz`` files (one column
per series, shorter series NaN-padded at the top).

Models (``--model``):

- ``hybrid``: :class:`tagi_lstm.forecast.HybridForecaster` (the closest to the paper's
  model: an LSTM beside a local level, one Kalman filter), lookback as the paper's;
- ``forecaster``: :class:`tagi_lstm.forecast.Forecaster` with the paper's lookback,
  seasonal differencing, heteroscedastic noise;

each with the validation tail the paper holds out for early stopping (12 / 12 / 4 steps)
and ``--seeds`` members combined by mixture moments.

    python benchmarks/paper.py --dataset tourism_quarterly --data ../shared/data/paper_benchmarks
        [--model hybrid|forecaster] [--series 50] [--seeds 0,1,2] [--epochs 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tagi_lstm import metric
from tagi_lstm.forecast import Forecaster, HybridForecaster

#: name: (test steps, validation steps, lookback, season)
DATASETS = {"m4_hourly": (48, 12, 168, 24), "tourism_monthly": (24, 12, 12, 12),
            "tourism_quarterly": (8, 4, 4, 4)}


def load(data: Path, name: str):
    """``(values, paper_mean, paper_std)``: ``(time, n)``, ``(test, n)``, ``(test, n)``."""
    read = lambda suffix: np.loadtxt(data / f"{name}_{suffix}.csv.gz", delimiter=",")  # noqa: E731
    return read("values"), read("paper_mean"), np.sqrt(read("paper_var"))


def seasonal_naive(train: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last season repeated over the horizon."""
    last = train[-season:]
    return np.array([last[h % season] for h in range(horizon)])


def fit_one(kind: str, train: np.ndarray, test: int, val: int, lookback: int, season: int,
            seeds, epochs: int):
    """Forecast ``test`` steps after ``train`` with one local model: ``(mean, std)``."""
    validation = val / len(train)
    if kind == "hybrid":
        model = HybridForecaster(lookback=lookback, hidden_size=16, season=season,
                                 ensemble=len(seeds), seed=seeds[0])
    else:
        model = Forecaster(lookback=lookback, hidden_size=16, season=season,
                           seasonal_difference=len(train) > 2 * season + lookback + 2,
                           ensemble=len(seeds), seed=seeds[0])
    model.fit(train, validation=validation, epochs=epochs, progress=False)
    fc = model.forecast(test)
    return fc.mean, fc.std


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--data", type=Path, required=True,
                        help="folder of the paper's benchmark files")
    parser.add_argument("--model", choices=("hybrid", "forecaster"), default="hybrid")
    parser.add_argument("--series", type=int, default=None,
                        help="only the first N series (default: all)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args(argv)
    test, val, lookback, season = DATASETS[args.dataset]
    values, paper_mean, paper_std = load(args.data, args.dataset)
    n = values.shape[1] if args.series is None else min(args.series, values.shape[1])
    seeds = [int(s) for s in args.seeds.split(",")]
    means, stds, naive = np.empty((test, n)), np.empty((test, n)), np.empty((test, n))
    start = time.perf_counter()
    from tqdm.auto import tqdm

    for j in tqdm(range(n), desc=args.dataset, unit="series"):
        column = values[:, j]
        column = column[np.flatnonzero(~np.isnan(column))[0]:]  # drop the padding
        train = column[:-test]
        means[:, j], stds[:, j] = fit_one(args.model, train, test, val, lookback, season,
                                          seeds, args.epochs)
        naive[:, j] = seasonal_naive(train, test, season)
    seconds = time.perf_counter() - start
    truth, insample = values[-test:, :n], values[:-test, :n]

    def row(label, mean, std):
        cells = [f"{metric.nd(mean, truth):.4f}",
                 f"{metric.quantile_loss(mean, truth, std, 0.9):.4f}" if std is not None
                 else "—",
                 f"{metric.mase(mean, truth, insample, season):.3f}"]
        return f"| {label} | " + " | ".join(cells) + " |"

    print(f"\n{args.dataset}: {n} series, test {test}, validation {val}, lookback {lookback}, "
          f"season {season}; ours: {args.model}, seeds {args.seeds}, at most {args.epochs} "
          f"epochs; {seconds:.0f} s ({seconds / n:.2f} s per series)\n")
    print("| method | ND | p90 | MASE |")
    print("| --- | ---: | ---: | ---: |")
    print(row(f"ours ({args.model})", means, stds))
    print(row("the paper's predictions", paper_mean[:, :n], paper_std[:, :n]))
    print(row("seasonal naive", naive, None))


if __name__ == "__main__":
    main()
