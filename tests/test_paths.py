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


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 2e-4)])
def test_worker_threads_give_the_same_results(monkeypatch, dtype, rtol):
    """Rows split across 3 workers (batch of 7: uneven chunks) change nothing."""
    from tagi_lstm.backend import _workers

    def run(threads):
        _workers.set_count(threads)
        try:
            use_code_path(monkeypatch, "blas")
            tagi_lstm.manual_seed(3)
            net = Sequential(LSTM(3, 6, 5), LSTM(6, 6, 5), Linear(30, 2)).to_dtype(dtype)
            net.input_state_update = True
            rng = np.random.default_rng(3)
            out = []
            for _ in range(4):
                mu, var = net(rng.normal(size=(7, 5, 3)))
                net.update(rng.normal(size=14), 0.3)
                out += [mu, var, net.input_delta[0].copy()]
            return out + [p for layer in net.parameters() for p in layer]
        finally:
            _workers.set_count(1)

    for a, b in zip(run(3), run(1)):
        assert np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30) <= rtol
