"""The loop kernels for small layers and the BLAS path compute the same thing."""

import numpy as np
import pytest
from conftest import use_code_path

import tagi_lstm
from tagi_lstm.nn import LSTM, Linear, ReLU, Sequential


def _train(monkeypatch, path, dtype, steps=5):
    use_code_path(monkeypatch, path)
    tagi_lstm.manual_seed(11)
    net = Sequential(LSTM(3, 6, 7, stateful=True), LSTM(6, 5, 7), Linear(35, 4), ReLU(),
                     Linear(4, 2)).to_dtype(dtype)
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
def test_loop_and_blas_paths_agree_over_training(monkeypatch, dtype, rtol):
    loops = _train(monkeypatch, "loops", dtype)
    blas = _train(monkeypatch, "blas", dtype)
    for a, b in zip(loops, blas):
        scale = np.max(np.abs(b)) + 1e-30
        assert np.max(np.abs(a - b)) / scale <= rtol
