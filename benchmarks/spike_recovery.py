"""Online learning through outliers: how the forecasters' errors recover after a spike.

A sine with noise (sd 0.5, period 24) is learned from 2000 steps; then 1000 online
``update`` steps follow, the 11th of them shifted by 20, 150 or 1000 noise standard
deviations. The table gives the mean absolute one-step error (against the clean series)
over steps 1-24, 25-100, 101-500 and 501-990 after the spike, beside the same run without
it, and whether any forecast was NaN.

    python benchmarks/spike_recovery.py [--epochs 10]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tagi_lstm.forecast import Forecaster, HybridForecaster

BLOCKS = [(11, 35), (35, 111), (111, 511), (511, 1000)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    t = np.arange(3000)
    y = 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.5 * np.random.default_rng(1).normal(size=3000)

    def blocks(err):
        return " / ".join(f"{err[i:j].mean():.3f}" for i, j in BLOCKS)

    print("| forecaster | spike | NaN | mean abs error after the spike: steps 1-24 / 25-100 / "
          "101-500 / 501-990 | the same run without the spike |")
    print("| --- | --- | ---: | --- | --- |")
    for kind in (Forecaster, HybridForecaster):
        clean = kind(seed=0).fit(y[:2000], epochs=args.epochs, progress=False)
        err_clean = np.abs(clean.update(y[2000:]).mean - y[2000:])
        for size in (20, 150, 1000):
            model = kind(seed=0).fit(y[:2000], epochs=args.epochs, progress=False)
            z = y[2000:].copy()
            z[10] += size * 0.5
            out = model.update(z)
            err = np.abs(out.mean - y[2000:])
            print(f"| {kind.__name__} | {size} sd | {int(np.isnan(out.mean).sum())} | "
                  f"{blocks(err)} | {blocks(err_clean)} |", flush=True)


if __name__ == "__main__":
    main()
