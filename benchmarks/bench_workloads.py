"""Benchmark workloads (their table: docs/benchmarks.md), their synthetic data, and
tagi_lstm's GEMM count.

Every workload is one-step-ahead regression: a window of ``seq_len`` steps of
``input_size`` features goes through a stack of LSTM layers, and a Linear head
reads the hidden states of all steps (``Linear(hidden * seq_len, 1)``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    """One network and batch shape to time."""

    name: str
    input_size: int
    hidden: int
    seq_len: int
    layers: int
    batch: int
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """Short shape summary for tables, e.g. ``in 4, h 64, T 24, 2 LSTM, B 32``."""
        return (f"in {self.input_size}, h {self.hidden}, T {self.seq_len}, "
                f"{self.layers} LSTM, B {self.batch}")


WORKLOADS = {w.name: w for w in (
    Workload("W1", 1, 8, 5, 2, 5, "pytagi's sine example"),
    Workload("W2", 4, 64, 24, 2, 32),
    Workload("W3", 8, 256, 48, 1, 64),
    Workload("L1", 4, 128, 168, 1, 16, "long sequence"),
    Workload("W4", 16, 512, 96, 2, 256, "GPU-sized"),
)}

#: Workloads run when ``--workloads`` is not given, per device. W4 is sized for a
#: GPU: on two CPU cores one pytagi batch of it would take minutes.
DEFAULT_WORKLOADS = {"cpu": ("W1", "W2", "W3", "L1"), "cuda": ("W1", "W2", "W3", "L1", "W4")}


def make_batches(w: Workload, pool_size: int, seed: int):
    """A pool of ``pool_size`` distinct float32 batches ``(x, y)``, cycled during timing.

    The data are windows of a synthetic multivariate series (noisy sines with
    random frequencies and phases); ``y`` is feature 0 one step after the
    window. Only the shapes matter for timing, but realistic values keep the
    TAGI update away from degenerate corners (every update capped, variances
    floored) that would not be representative.

    Returns:
        list of ``(x, y)`` with ``x`` of shape ``(batch, seq_len, input_size)``
        and ``y`` of shape ``(batch,)``.
    """
    rng = np.random.default_rng(seed)
    n_windows = pool_size * w.batch
    length = n_windows + w.seq_len
    t = np.arange(length)[:, None]
    freq = rng.uniform(0.02, 0.3, w.input_size)
    phase = rng.uniform(0.0, 2 * np.pi, w.input_size)
    series = np.sin(freq * t + phase) + 0.1 * rng.standard_normal((length, w.input_size))
    starts = rng.permutation(n_windows)
    x = np.stack([series[s:s + w.seq_len] for s in starts]).astype(np.float32)
    y = series[starts + w.seq_len, 0].astype(np.float32)
    return [(x[i * w.batch:(i + 1) * w.batch], y[i * w.batch:(i + 1) * w.batch])
            for i in range(pool_size)]


def tagi_gemm_shapes(w: Workload) -> Counter:
    """The matrix products of one tagi_lstm training batch, ``{(m, k, n): count}``.

    Mirrors the sums that ``tagi_lstm/layers/lstm.py`` and ``linear.py``
    compute as matrix products (an ``(m, k) @ (k, n)`` product costs
    ``2 m k n`` flops): with ``matmul`` (BLAS, cuBLAS) in general, and inside
    the whole-window Numba kernels for LSTM layers small enough for those
    (``WINDOW_MAX_WORK`` in ``tagi_lstm/config.py``, e.g. W1), where the arithmetic is
    the same but BLAS is not called. With several threads, tagi_lstm may split
    a product's rows across its worker threads: more, smaller calls, the same
    flops. With
    ``B`` windows, ``T`` steps, ``ni`` inputs, ``no`` hidden units and
    ``n = ni + no``, per LSTM layer:

    - forward, input part for all steps at once: ``(B*T, ni) @ (ni, 4no)``
      for the mean and the variance, plus ``(B*T, ni) @ (ni, 8no)`` for the
      gate-pair covariance sums when the input has a variance (every layer
      after the first: the network input is exact);
    - forward, recurrent part for each step ``t >= 1`` (``h_0 = 0`` by
      default): ``(B, no) @ (no, 4no)`` twice and ``(B, no) @ (no, 8no)``;
    - backward through time, each step ``t >= 1``: ``(B, 4no) @ (4no, no)``
      twice (deltas to ``h_{t-1}``, mean and variance);
    - parameter sums: ``(4no, B*T) @ (B*T, n)`` twice;
    - deltas to the input, non-first layers only: ``(B*T, 4no) @ (4no, ni)``
      twice.

    The Linear head ``(B, hT) -> (B, 1)`` takes an input with variance, so
    three forward products; backward two parameter products and two input
    products (the head is never the first layer).

    The bias sums and the elementwise kernels are not matrix products and
    are left out: the count is what a GEMM-bound implementation would spend.
    Update this function when the layers change which products they do.
    """
    shapes = Counter()
    B, T, no = w.batch, w.seq_len, w.hidden
    for layer in range(w.layers):
        ni = w.input_size if layer == 0 else no
        n = ni + no
        has_var = layer > 0
        shapes[(B * T, ni, 4 * no)] += 2
        if has_var:
            shapes[(B * T, ni, 8 * no)] += 1
        shapes[(B, no, 4 * no)] += 2 * (T - 1)
        shapes[(B, no, 8 * no)] += T - 1
        shapes[(B, 4 * no, no)] += 2 * (T - 1)
        shapes[(4 * no, B * T, n)] += 2
        if layer > 0:
            shapes[(B * T, 4 * no, ni)] += 2
    h_in = no * T
    shapes[(B, h_in, 1)] += 3          # forward: mean, (m^2 + s) s_W, s m_W^2
    shapes[(1, B, h_in)] += 2          # backward: weight mean and variance sums
    shapes[(B, 1, h_in)] += 2          # backward: deltas to the LSTM output
    return shapes


def gemm_flops(shapes: Counter) -> int:
    """Floating-point operations of the products in ``shapes`` (2 m k n each)."""
    return sum(2 * m * k * n * count for (m, k, n), count in shapes.items())
