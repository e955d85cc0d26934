"""state_dict / load_state_dict / save / load round trips."""

import numpy as np
import pytest

import tagi_lstm
from tagi_lstm.nn import LSTM, Linear, ReLU, Sequential


def _net(seed):
    tagi_lstm.manual_seed(seed)
    return Sequential(LSTM(1, 6, 5), LSTM(6, 4, 5), ReLU(), Linear(20, 2))


def _trained(seed=0):
    net = _net(seed)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        net(rng.normal(size=(4, 5, 1)))
        net.update(rng.normal(size=8), 0.3)
    return net


def test_state_dict_keys_and_round_trip_are_exact():
    net = _trained()
    sd = net.state_dict()
    assert list(sd) == ["LSTM.0", "LSTM.1", "Linear.3"]
    other = _net(99)
    other.load_state_dict(sd)
    for (a, b) in zip(net.parameters(), other.parameters()):
        for pa, pb in zip(a, b):
            np.testing.assert_array_equal(pa, pb)
    x = np.random.default_rng(1).normal(size=(3, 5, 1))
    for pa, pb in zip(net(x), other(x)):
        np.testing.assert_array_equal(pa, pb)


def test_state_dict_is_a_copy():
    net = _net(0)
    sd = net.state_dict()
    sd["LSTM.0"][0][:] = 123.0
    assert not np.any(net.layers[0].mu_w == 123.0)


def test_pytagi_style_lists_load():
    net = _trained()
    other = _net(5)
    other.load_state_dict({k: tuple(a.tolist() for a in v) for k, v in net.state_dict().items()})
    np.testing.assert_array_equal(other.layers[3].mu_w, net.layers[3].mu_w)


def test_save_load_round_trip_is_exact(tmp_path):
    net = _trained().double()
    path = tmp_path / "net.npz"
    net.save(path)
    other = _net(3).double()
    other.load(path)
    x = np.random.default_rng(2).normal(size=(2, 5, 1))
    for pa, pb in zip(net(x), other(x)):
        np.testing.assert_array_equal(pa, pb)


def test_load_rejects_another_architecture(tmp_path):
    path = tmp_path / "net.npz"
    _net(0).save(path)
    tagi_lstm.manual_seed(0)
    different = Sequential(LSTM(1, 6, 5), Linear(30, 2))
    with pytest.raises(ValueError, match="holds .*LSTM\\(6,4\\)"):
        different.load(path)
    tagi_lstm.manual_seed(0)
    other_seq = Sequential(LSTM(1, 6, 4), LSTM(6, 4, 4), ReLU(), Linear(16, 2))
    with pytest.raises(ValueError, match="seq_len=5"):
        other_seq.load(path)


def test_load_state_dict_reports_missing_and_unexpected_keys():
    net = _net(0)
    sd = net.state_dict()
    sd["Linear.9"] = sd.pop("Linear.3")
    with pytest.raises(ValueError, match=r"missing \['Linear.3'\], unexpected \['Linear.9'\]"):
        net.load_state_dict(sd)


def test_load_state_dict_checks_sizes():
    net = _net(0)
    sd = net.state_dict()
    mu_w, var_w, mu_b, var_b = sd["Linear.3"]
    sd["Linear.3"] = (mu_w[:-1], var_w, mu_b, var_b)
    with pytest.raises(ValueError,
                       match=r"layer 3 Linear\(20,2\): mu_w must have 40 values; got 39"):
        net.load_state_dict(sd)
