"""Wall time of ``Forecaster.auto`` with a 5-member ensemble on a 500-point series.

The target is at most 30 s on 2 CPU cores for the whole call: the search over
settings (each candidate trained with early stopping and scored on a
backtest) and the final ensemble (early stopping, calibration, refit). The
series is the first 500 months of statsmodels' El Nino record when
statsmodels is installed, else a seasonal AR(1) with a trend of the same
length. Numba's kernels are compiled before the clock starts; the figure is
the median over ``--repeats`` calls, each with a new seed.

    python benchmarks/auto_speed.py [--repeats 3] [--length 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tagi_lstm.forecast import Forecaster


def series(length: int):
    """``(y, monthly dates)``: El Nino from statsmodels, or a synthetic stand-in."""
    dates = np.datetime64("1950-01") + np.arange(length).astype("timedelta64[M]")
    try:
        from statsmodels.datasets import elnino

        values = np.asarray(elnino.load().data)[:, 1:].astype(float).reshape(-1)
        if len(values) >= length:
            return values[:length], dates, "El Nino SST (statsmodels)"
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    y = np.zeros(length)
    for t in range(1, length):
        y[t] = 0.7 * y[t - 1] + rng.standard_normal()
    return y + 3 * np.sin(2 * np.pi * np.arange(length) / 12) + 0.01 * np.arange(length), \
        dates, "synthetic seasonal AR(1)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--length", type=int, default=500)
    args = parser.parse_args(argv)
    y, dates, name = series(args.length)
    Forecaster(8, 8, linear=True).fit(y[:100], epochs=1, progress=False)  # compile kernels
    times = []
    for seed in range(args.repeats):
        start = time.perf_counter()
        model = Forecaster.auto(y, dates=dates, seed=seed, ensemble=5, progress=False)
        times.append(time.perf_counter() - start)
        search = sum(r["seconds"] for r in model.auto_)
        print(f"seed {seed}: {times[-1]:.1f} s ({len(model.auto_)} candidates in {search:.1f} s, "
              f"final 5-member fit {times[-1] - search:.1f} s); chosen {model.auto_settings_}")
    print(f"{name}, {args.length} steps, {os.cpu_count()} CPU cores: median "
          f"{np.median(times):.1f} s over {args.repeats} calls (target <= 30 s)")


if __name__ == "__main__":
    main()
