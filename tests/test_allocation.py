"""The steady-state training loop allocates no buffers: once the shapes settle every buffer
is reused."""

import tracemalloc

import numpy as np

import tagi_lstm
from tagi_lstm.nn import LSTM, Linear, OutputUpdater, Sequential


def _buffer_bytes(net):
    """Bytes held by the layers' array buffers (parameters excluded)."""
    total = 0
    for layer in net.layers:
        for name, value in vars(layer).items():
            if isinstance(value, np.ndarray) and name.startswith("_") and \
                    not name.lstrip("_").startswith(("mu_w", "var_w", "mu_b", "var_b", "delta")):
                total += value.nbytes
    return total


def test_training_loop_allocates_no_buffers():
    tagi_lstm.manual_seed(0)
    net = Sequential(LSTM(4, 32, 24, stateful=True), LSTM(32, 32, 24, stateful=True),
                     Linear(32 * 24, 1))
    updater = OutputUpdater(net.device)
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(4, 16, 24, 4)).astype(np.float32)
    ys = rng.normal(size=(4, 16)).astype(np.float32)
    var_y = np.full(16, 0.25, np.float32)

    def train_batch(k):
        net(xs[k % 4])
        updater.update(net.output_z_buffer, ys[k % 4], var_y, net.input_delta_z_buffer)
        net.backward()
        net.step()

    for k in range(3):  # warm-up: buffers, Numba dispatch, BLAS
        train_batch(k)
    buffers = _buffer_bytes(net)
    assert buffers > 1_000_000  # the check below would be meaningless for a tiny network

    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for k in range(20):
            train_batch(k)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The only arrays a batch creates are the two (batch, outputs) copies that
    # net(x) returns (128 bytes); everything else is small Python objects.
    assert peak - before < 32_000, f"peak grew by {peak - before} bytes (buffers: {buffers})"
    assert after - before < 4_000
