"""Many local models fitted together against a loop of single fits, per series.

``Forecaster.fit`` on a panel (``mode="local"``) trains every series' networks side
by side: each round makes one TAGI update of every series, in one kernel call per
layer (``tagi_lstm.forecast.stacked``). This script fits the first ``--series``
series of one of the TAGI-LSTM paper's data sets (its protocol: validation tail,
lookback, seasonal differencing; ``benchmarks/paper.py``) three ways and prints the
wall time per series of each, the median of ``--repeats`` runs:

- ``loop``: ``Forecaster.fit`` on each series alone, one after another;
- ``panel, 1 thread`` and ``panel, N threads``: ``Forecaster.fit`` on the panel
  (CPU threads as ``Sequential.set_threads`` sets them); its forecasts are bitwise
  the loop's (checked).

Then the throughput of the stacked LSTM kernels: a round of updates of ``S`` networks
(``StackedMembers.learn``; each network learns as many batches as an epoch of the
data set's median series holds), counted in flops of the gate products (forward: means,
variances and covariance terms of the gate sums; backward: the recurrent deltas and
the weight sums), beside ``numpy.matmul`` doing products of the same shapes and
count for the ``S`` networks at once (batched over the networks); the two are timed in
turn, pair after pair (at least 5 pairs), and the median of the pairs' ratios is
reported, since either one's speed moves from minute to minute on a shared machine.
Both run in ``--dtype``, float32 by default as the Forecaster's networks do; the ratio
depends on it (in float64 ``numpy.matmul`` on these shapes runs three to four times
slower, the kernels under twice as slow).

    python benchmarks/local_panel.py --data ../shared/data/paper_benchmarks
        [--dataset tourism_quarterly] [--series 200] [--repeats 3] [--dtype float32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from paper import DATASETS, load

from tagi_lstm.backend import _workers
from tagi_lstm.forecast import Forecaster
from tagi_lstm.forecast.member import Member
from tagi_lstm.forecast.stacked import StackedMembers


def fit_times(train, kw, val, repeats, threads) -> dict:
    """Median seconds of the loop and of the panel fit (with 1 and ``threads``)."""
    series = [train[:, j][~np.isnan(train[:, j])] for j in range(train.shape[1])]
    label = lambda n: f"panel, {n} thread{'s' if n > 1 else ''}"  # noqa: E731
    counts = sorted({1, threads})
    times = {"loop": [], **{label(n): [] for n in counts}}
    for _ in range(repeats):
        _workers.set_count(1)
        start = time.perf_counter()
        alone = [Forecaster(**kw).fit(y, validation=val, progress=False) for y in series]
        times["loop"].append(time.perf_counter() - start)
        for n in counts:
            _workers.set_count(n)
            start = time.perf_counter()
            panel = Forecaster(**kw).fit(train, validation=val, progress=False)
            times[label(n)].append(time.perf_counter() - start)
        b = panel.forecast(4)
        for j, model in enumerate(alone):
            a = model.forecast(4)
            if not (np.array_equal(a.mean, b.mean[:, j]) and np.array_equal(a.std, b.std[:, j])):
                raise AssertionError(f"series {j}: the panel's forecast differs from its own")
    return {k: float(np.median(v)) for k, v in times.items()}


def kernel_throughput(S, lookback, hidden, batch, per_round, repeats, dtype, rounds=20) -> tuple:
    """``(stacked GFLOP/s, matmul GFLOP/s, ratio)`` for ``S`` networks' rounds of updates,
    ``per_round`` batches each (an epoch of a short series): medians over ``repeats``
    pairs, each timing both side by side, and the median of the pairs' ratios."""
    rng = np.random.default_rng(0)
    members = [Member(1, lookback, hidden, 1, "heteroscedastic", 0.3, dtype, "cpu", s)
               for s in range(S)]
    stack = StackedMembers(members[0], S, batch)
    x = rng.standard_normal((S, per_round * batch, lookback, 1), dtype=dtype)
    t = rng.standard_normal((S, per_round * batch), dtype=dtype)
    requests = [(s, members[s], x[s], t[s], None) for s in range(S)]
    n, no, rows = 1 + hidden, hidden, batch * lookback
    # multiply-adds per update: forward 16 no n per row-step (4 no means, 4 no
    # variances, 8 no covariance terms); backward 8 no no (recurrent deltas) and
    # 8 no n (weight sums) per row-step
    flops = 2 * rows * (16 * no * n + 8 * no * no + 8 * no * n) * S
    a = rng.standard_normal((S, rows, n), dtype=dtype)
    w1 = rng.standard_normal((S, n, 16 * no), dtype=dtype)
    h = rng.standard_normal((S, rows, no), dtype=dtype)
    w2 = rng.standard_normal((S, no, 8 * no), dtype=dtype)
    g = rng.standard_normal((S, rows, 8 * no), dtype=dtype)
    at = np.ascontiguousarray(a.transpose(0, 2, 1))
    stack.learn(requests)
    ours, matmul = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            stack.learn(requests)
        ours.append(flops * per_round * rounds / (time.perf_counter() - start) / 1e9)
        start = time.perf_counter()
        for _ in range(rounds):
            np.matmul(a, w1)
            np.matmul(h, w2)
            np.matmul(at, g)
        matmul.append(flops * rounds / (time.perf_counter() - start) / 1e9)
    stack.release()
    ratio = np.median(np.array(ours) / np.array(matmul))
    return float(np.median(ours)), float(np.median(matmul)), float(ratio)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="folder of the paper's benchmark files")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="tourism_quarterly")
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="the networks' dtype (default: the Forecaster's)")
    args = parser.parse_args(argv)
    test, val, lookback, season = DATASETS[args.dataset]
    values = load(args.data, args.dataset)[0]
    train = values[:-test, :args.series]
    kw = {"lookback": lookback, "hidden_size": 16, "season": season,
          "seasonal_difference": True, "seed": 0, "dtype": args.dtype}
    threads = _workers.default_count()
    Forecaster(**kw).fit(train[:, :2], validation=val, epochs=2, progress=False)  # compile
    times = fit_times(train, kw, val, args.repeats, threads)
    n = train.shape[1]
    print(f"\n{args.dataset}, first {n} series, lookback {lookback}, hidden 16, one member, "
          f"at most 50 epochs; median of {args.repeats}; forecasts bitwise equal\n")
    print("| fit | seconds | per series | per series ÷ loop's |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.2f} | {1000 * seconds / n:.1f} ms | "
              f"{seconds / times['loop']:.2f} |")
    _workers.set_count(threads)
    # a round is an epoch of every series: about this many batches of 8 training windows
    lengths = (~np.isnan(train)).sum(axis=0) - val - lookback - season
    per_round = max(1, int(np.median(np.ceil(lengths / 8))))
    ours, matmul, ratio = kernel_throughput(min(n, 64), lookback, 16, 8, per_round,
                                            max(args.repeats, 5), np.dtype(args.dtype))
    print(f"\nstacked rounds of {min(n, 64)} networks ({per_round} batches of 8 each, lookback "
          f"{lookback}, hidden 16, {args.dtype}), {threads} threads, medians of "
          f"{max(args.repeats, 5)} side-by-side pairs: {ours:.1f} GFLOP/s of gate products; "
          f"numpy.matmul on the same shapes: {matmul:.1f} GFLOP/s (ratio {100 * ratio:.0f} %)")


if __name__ == "__main__":
    main()
