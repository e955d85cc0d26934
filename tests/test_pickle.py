"""pickle and copy.deepcopy of networks, layers and forecasters round-trip exactly: the
copy predicts the same and, trained on the same data, stays equal to the original."""

import copy
import pickle

import numpy as np
import pytest

from tagi_lstm import Sequential
from tagi_lstm.forecast import Forecaster, HybridForecaster
from tagi_lstm.nn import (
    LSTM,
    BidirectionalLSTM,
    EvenExp,
    Linear,
    ProjectedLSTM,
    ReLU,
    Sigmoid,
    Tanh,
    TorchLSTM,
)
from tagi_lstm.random import manual_seed

COPIES = {"pickle": lambda obj: pickle.loads(pickle.dumps(obj)), "deepcopy": copy.deepcopy}

NETWORKS = {
    "lstm": lambda: Sequential(LSTM(2, 4, 3), Linear(12, 1)),
    "bidirectional": lambda: Sequential(BidirectionalLSTM(2, 4, 3), Linear(24, 1)),
    "projected": lambda: Sequential(ProjectedLSTM(2, 4, 3, proj_size=2), Linear(6, 1)),
    "activations": lambda: Sequential(Linear(6, 5), ReLU(), Linear(5, 5), Sigmoid(),
                                      Linear(5, 5), Tanh(), Linear(5, 2), EvenExp()),
}


def _batch(rng, net_name):
    shape = (4, 6) if net_name == "activations" else (4, 3, 2)
    return rng.normal(size=shape).astype(np.float32)


def _train(net, x, name):
    net.train()
    mu, _ = net(x)
    net.update(np.zeros(mu.size), 0.5)


def _assert_learn_alike(net, twin, x, x2, name):
    """Trained on ``x2``, the copy stays equal to the original, and predicts ``x`` alike."""
    for model in (net, twin):
        _train(model, x2, name)
    for key, value in net._param_arrays().items():
        np.testing.assert_array_equal(value, twin._param_arrays()[key])
    net.eval()
    twin.eval()
    np.testing.assert_array_equal(net(x)[0], twin(x)[0])
    np.testing.assert_array_equal(net(x)[1], twin(x)[1])


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("name", NETWORKS)
def test_networks_and_their_layers_round_trip(name, how):
    manual_seed(0)
    net = NETWORKS[name]()
    rng = np.random.default_rng(1)
    x = _batch(rng, name)
    _train(net, x, name)
    twin = COPIES[how](net)
    assert twin.device == net.device and twin.dtype == net.dtype
    for a, b in zip(net.layers, twin.layers):
        assert type(a) is type(b) and a is not b
        layer_twin = COPIES[how](a)
        for key, value in vars(a).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, vars(layer_twin)[key])
    _assert_learn_alike(net, twin, x, _batch(rng, name), name)


@pytest.mark.parametrize("how", COPIES)
def test_torch_style_lstm_round_trips(how):
    manual_seed(0)
    lstm = TorchLSTM(2, 3, num_layers=2, batch_first=True)
    x = np.random.default_rng(2).normal(size=(2, 5, 2)).astype(np.float32)
    twin = COPIES[how](lstm)
    np.testing.assert_array_equal(lstm(x)[0], twin(x)[0])


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("kind", [Forecaster, HybridForecaster])
def test_forecasters_round_trip_and_learn_alike(kind, how):
    y = 5 + np.sin(np.arange(150) / 3)
    model = kind(lookback=6, hidden_size=4, ensemble=2).fit(y[:120], epochs=2, progress=False)
    twin = COPIES[how](model)
    np.testing.assert_array_equal(model.forecast(5).mean, twin.forecast(5).mean)
    a, b = model.update(y[120:130]), twin.update(y[120:130])
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(model.forecast(5).std, twin.forecast(5).std)


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("name", NETWORKS)
def test_a_released_network_travels_as_its_parameters(name, how):
    """Between batches (buffers released, as a fitted forecaster keeps its networks) a
    layer pickles as its parameters and settings, without its work buffers or the views
    into its parameter vector; the copy then predicts and learns as the original."""
    manual_seed(0)
    net = NETWORKS[name]()
    rng = np.random.default_rng(1)
    x = _batch(rng, name)
    _train(net, x, name)
    net.release_buffers()
    for layer in net.layers:
        params = layer._mu_theta.nbytes + layer._var_theta.nbytes
        assert len(pickle.dumps(layer)) <= params + 8192, type(layer).__name__
    twin = COPIES[how](net)
    _assert_learn_alike(net, twin, x, _batch(rng, name), name)
