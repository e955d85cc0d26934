"""The steady-state training loop allocates no buffers: once the shapes settle every buffer
is reused. Released buffers free that memory between calls and change no result."""

import copy
import tracemalloc

import numpy as np
import pytest

import tagi_lstm
from tagi_lstm.nn import LSTM, EvenExp, Linear, OutputUpdater, Sequential


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


def _all_buffer_bytes(net):
    """Buffer bytes of every layer, the directions of a bidirectional LSTM included."""
    total = _buffer_bytes(net)
    for layer in net.layers:
        for core in getattr(layer, "directions", ()):
            total += sum(v.nbytes for k, v in vars(core).items()
                         if isinstance(v, np.ndarray) and not k.lstrip("_").startswith(
                             ("mu_w", "var_w", "mu_b", "var_b", "delta")))
    return total


@pytest.mark.parametrize("lstm", [dict(), dict(proj_size=4), dict(bidirectional=True)])
def test_released_buffers_are_small_and_change_nothing(lstm):
    """release_buffers frees what a batch of long windows allocated; the next forward
    allocates again and gives the same numbers, and learning goes on as without it."""
    tagi_lstm.manual_seed(1)
    net = Sequential(LSTM(2, 8, 48, **lstm), Linear(48 * (16 if lstm.get("bidirectional")
                                                         else lstm.get("proj_size") or 8), 2),
                     EvenExp())
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 48, 2)).astype(np.float32)
    y = rng.normal(size=64).astype(np.float32)
    before = [a.copy() for a in net(x)]
    held = _all_buffer_bytes(net)
    kept = copy.deepcopy(net)
    net.release_buffers()
    assert _all_buffer_bytes(net) < held / 20
    with pytest.raises(RuntimeError):
        net.backward()  # the forward's buffers are gone: forward first
    after = net(x)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    kept(x)
    for model in (net, kept):  # one update each, from the same forward
        OutputUpdater(model.device).update_heteros(model.output_z_buffer, y,
                                                   model.input_delta_z_buffer)
        model.backward()
        model.step()
    for a, b in zip(net.state_dict().values(), kept.state_dict().values()):
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p, q)


def test_a_fitted_forecaster_keeps_no_batch_sized_buffers():
    """A forecaster's networks hold little more than their parameters between calls:
    fitting, predicting every step and backtesting do not leave buffers sized for all
    their windows behind (a panel of many series would keep them all)."""
    import pickle

    from tagi_lstm.forecast import Forecaster

    rng = np.random.default_rng(0)
    y = np.sin(np.arange(2000) / 5) + rng.normal(0, 0.1, 2000)
    model = Forecaster(lookback=48, hidden_size=8, seed=0).fit(y[:300], epochs=2,
                                                               progress=False)
    fitted = len(pickle.dumps(model))
    first = model.predict(y)
    assert len(pickle.dumps(model)) < 1.5 * fitted
    np.testing.assert_array_equal(model.predict(y).mean, first.mean)
    model.backtest(y, 24, start=1500, stride=25)
    assert len(pickle.dumps(model)) < 1.5 * fitted
    panel = Forecaster(lookback=48, hidden_size=8, seed=0).fit(
        np.stack([y[:300], 2 * y[:300]], axis=1), epochs=2, progress=False)
    panel.predict(np.stack([y, 2 * y], axis=1))
    assert len(pickle.dumps(panel)) < 3 * fitted
