"""Where the small-layer kernels stop paying: LSTM and Linear training steps on
both code paths, side by side.

Small layers run a whole window (LSTM) or all sums (Linear) inside one Numba
kernel with loop products; larger ones call BLAS. The switch is
``WINDOW_MAX_WORK`` (``batch * (input + hidden) * hidden``) and
``SMALL_MAX_WORK`` (``batch * in * out``) in ``tagi_lstm/config.py``. This script
times one forward + observation update + backward + step of a one-layer network on
each path, interleaved, and prints the median ratio per size, so the thresholds can
be set where the ratio crosses 1.

    python benchmarks/crossover.py [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tagi_lstm
from tagi_lstm.layers import linear as linear_module
from tagi_lstm.layers import lstm as lstm_module
from tagi_lstm.nn import LSTM, Linear, Sequential

_PATHS = {"loops": 10 ** 12, "blas": -1}


def _network(kind, batch, size, seq_len):
    if kind == "lstm":
        return Sequential(LSTM(size, size, seq_len), Linear(size * seq_len, 1))
    return Sequential(Linear(size, size), Linear(size, 1))


def _time(net, x, y, seconds=0.05):
    """ms per training step, averaged over about ``seconds`` of steps."""
    net(x)
    net.update(y, 0.1)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        net(x)
        net.update(y, 0.1)
        n += 1
    return (time.perf_counter() - start) / n * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=8)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| layer | batch | size | work | loops (ms) | BLAS (ms) | loops / BLAS |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("lstm", "linear"):
        for batch in (1, 4, 16):
            for size in (4, 8, 16, 32, 64):
                T = args.seq_len
                shape = (batch, T, size) if kind == "lstm" else (batch, size)
                x = rng.standard_normal(shape).astype(np.float32)
                y = rng.standard_normal(batch).astype(np.float32)
                nets = {}
                for path, limit in _PATHS.items():
                    lstm_module.WINDOW_MAX_WORK = linear_module.SMALL_MAX_WORK = limit
                    tagi_lstm.manual_seed(0)
                    nets[path] = _network(kind, batch, size, T)
                    nets[path].set_threads(args.threads)
                    nets[path](x)  # buffers (and the path) are chosen at the first call
                times = {p: [] for p in nets}
                for _ in range(args.repeats):
                    for path, net in nets.items():
                        times[path].append(_time(net, x, y))
                loops, blas = (float(np.median(times[p])) for p in ("loops", "blas"))
                work = batch * 2 * size * size if kind == "lstm" else batch * size * size
                print(f"| {kind} | {batch} | {size} | {work} | {loops:.4f} | {blas:.4f} | "
                      f"{loops / blas:.2f} |", flush=True)


if __name__ == "__main__":
    main()
