"""The whole-window kernels and the per-step BLAS path compute the same thing."""

import numpy as np
import pytest

import tagi_lstm
from tagi_lstm.layers import lstm as lstm_module
from tagi_lstm.nn import LSTM, Linear, Sequential


def _train(monkeypatch, limit, dtype, steps=5):
    monkeypatch.setattr(lstm_module, "WINDOW_MAX_WORK", limit)
    tagi_lstm.manual_seed(11)
    net = Sequential(LSTM(3, 6, 7, stateful=True), LSTM(6, 5, 7), Linear(35, 2)).to_dtype(dtype)
    net.input_state_update = True
    rng = np.random.default_rng(11)
    outputs = []
    for _ in range(steps):
        x = rng.normal(size=(4, 7, 3))
        mu, var = net(x, rng.uniform(0, 0.1, size=x.shape))
        net.update(rng.normal(size=8), 0.3)
        outputs += [mu, var, net.input_delta[0].copy(), net.input_delta[1].copy()]
    return outputs + [p for layer in net.parameters() for p in layer] + \
        list(net.get_lstm_states()[0])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 2e-4)])
def test_window_and_step_paths_agree_over_training(monkeypatch, dtype, rtol):
    window = _train(monkeypatch, 10 ** 12, dtype)
    steps = _train(monkeypatch, -1, dtype)
    for a, b in zip(window, steps):
        scale = np.max(np.abs(b)) + 1e-30
        assert np.max(np.abs(a - b)) / scale <= rtol
