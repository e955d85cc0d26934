"""Cost of one online update (one new observation) against the length of the history.

``Forecaster.update`` reads only the steps its new windows need, and
``HybridForecaster.update`` runs one filter step, so the cost of a call should
not grow with the history. For each history length the forecaster is fitted
on a short series (the cost of fitting is not measured), its seen history is
extended to the length, and ``--calls`` one-observation updates are timed; the
figure is the median per call, in milliseconds.

    python benchmarks/streaming_cost.py [--lengths 2000,20000,60000] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tagi_lstm.forecast import Forecaster, HybridForecaster


def series(n: int) -> np.ndarray:
    t = np.arange(n)
    return 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.5 * np.random.default_rng(1).normal(size=n)


def per_call_ms(kind, length: int, calls: int) -> float:
    y = series(length + calls)
    model = kind(lookback=24, hidden_size=16, seed=0).fit(y[:500], epochs=2, progress=False)
    model.update(y[500:length])  # the history seen grows to `length`
    times = []
    for k in range(length, length + calls):
        start = time.perf_counter()
        model.update(y[k:k + 1])
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="2000,20000,60000")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    lengths = [int(v) for v in args.lengths.split(",")]
    print("| forecaster | " + " | ".join(f"{n} steps" for n in lengths) + " | ratio last/first |")
    print("| --- | " + " | ".join("---:" for _ in lengths) + " | ---: |")
    for kind in (Forecaster, HybridForecaster):
        ms = [per_call_ms(kind, n, args.calls) for n in lengths]
        print(f"| {kind.__name__} | " + " | ".join(f"{v:.2f} ms" for v in ms)
              + f" | {ms[-1] / ms[0]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
