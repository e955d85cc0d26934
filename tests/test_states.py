"""LSTM states: carry across calls, reset, get/set round trip, posterior update."""

import numpy as np
import pytest
from conftest import set_variances

import tagi_lstm
from tagi_lstm.nn import LSTM, Linear, Sequential


def _pair(seq_len, stateful, layers=2):
    """A stack with seq_len steps; parameters copied from a fixed-seed stack."""
    tagi_lstm.manual_seed(7)
    stack = [LSTM(2, 3, seq_len, stateful=stateful)]
    if layers == 2:
        stack.append(LSTM(3, 4, seq_len, stateful=stateful))
    return Sequential(*stack).double()


def test_stateful_windows_recur_like_one_long_window(code_path):
    """Two stateful calls of 4 steps equal one call of 8 steps, means and variances."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 2))
    x_var = rng.uniform(0, 0.1, size=(3, 8, 2))
    long_net = _pair(8, stateful=False).eval()
    split_net = _pair(4, stateful=True).eval()
    mu_long, var_long = long_net(x, x_var)
    mu_a, var_a = split_net(x[:, :4], x_var[:, :4])
    mu_b, var_b = split_net(x[:, 4:], x_var[:, 4:])
    np.testing.assert_allclose(np.concatenate([mu_a, mu_b], 1), mu_long, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.concatenate([var_a, var_b], 1), var_long, rtol=0, atol=1e-13)


def test_without_stateful_every_call_starts_from_zero():
    net = _pair(4, stateful=False)
    x = np.random.default_rng(1).normal(size=(2, 4, 2))
    first = net(x)
    second = net(x)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_reset_returns_to_initial_states():
    net = _pair(4, stateful=True)
    x = np.random.default_rng(2).normal(size=(2, 4, 2))
    fresh = net(x)
    carried = net(x)
    assert not np.allclose(fresh[0], carried[0])
    net.reset_lstm_states()
    again = net(x)
    np.testing.assert_array_equal(fresh[0], again[0])
    np.testing.assert_array_equal(fresh[1], again[1])


def test_get_set_round_trip_reproduces_the_carry(code_path):
    net = _pair(4, stateful=True)
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(2, 2, 4, 2))
    net(x1)
    saved = net.get_lstm_states()
    assert set(saved) == {0, 1}
    assert all(a.shape == (2, layer.output_size)
               for a, layer in ((a, net.layers[i]) for i, s in saved.items() for a in s))
    carried = net(x2)
    net.reset_lstm_states()
    net.set_lstm_states(saved)
    restored = net(x2)
    np.testing.assert_array_equal(carried[0], restored[0])
    np.testing.assert_array_equal(carried[1], restored[1])


def test_set_states_apply_once_without_stateful_and_accept_flat_arrays():
    net = _pair(4, stateful=False, layers=1)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 4, 2))
    plain = net(x)
    h = rng.normal(size=6)
    net.set_lstm_states({0: (h, np.full(6, 0.1), -h, np.full(6, 0.2))})
    given = net(x)
    assert not np.allclose(plain[0], given[0])
    np.testing.assert_array_equal(net(x)[0], plain[0])
    net.set_lstm_states({0: (h.reshape(2, 3), np.full((2, 3), 0.1), -h.reshape(2, 3),
                             np.full((2, 3), 0.2))})
    np.testing.assert_array_equal(net(x)[0], given[0])


def test_random_initial_states_are_drawn_every_call():
    tagi_lstm.manual_seed(5)
    net = Sequential(LSTM(2, 3, 4, init_state="random")).double()
    x = np.zeros((2, 4, 2))
    a, b = net(x), net(x)
    assert not np.allclose(a[0], b[0])
    tagi_lstm.manual_seed(5)
    net2 = Sequential(LSTM(2, 3, 4, init_state="random")).double()
    np.testing.assert_array_equal(net2(x)[0], a[0])


def test_last_states_get_their_posterior_after_backward(code_path):
    """With the LSTM as output layer the last state's update is the Kalman update."""
    net = Sequential(LSTM(2, 3, 4)).double()
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 4, 2))
    mu, var = net(x)
    prior = net.get_lstm_states()[0]
    y = rng.normal(size=mu.shape)
    var_obs = 0.3
    net.update(y, var_obs)
    post = net.get_lstm_states()[0]
    m, v = mu.reshape(2, 4, 3)[:, -1], var.reshape(2, 4, 3)[:, -1]
    y_last = y.reshape(2, 4, 3)[:, -1]
    np.testing.assert_allclose(prior[0], m, atol=1e-15)
    np.testing.assert_allclose(post[0], m + v * (y_last - m) / (v + var_obs), atol=1e-14)
    np.testing.assert_allclose(post[1], v - v * v / (v + var_obs), atol=1e-14)
    # the cell state moves along with h through cov(c, h) = m_o J_tanh(c) var_c
    assert not np.allclose(post[2], prior[2])
    assert np.all(post[3] <= prior[3])


def test_stateful_training_carries_the_posterior(code_path):
    net = _pair(4, stateful=True)
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=(2, 2, 4, 2))
    mu, _ = net(x1)
    net.update(rng.normal(size=mu.shape), 0.5)
    posterior = net.get_lstm_states()
    out = net(x2)
    net.reset_lstm_states()
    net.set_lstm_states(posterior)
    np.testing.assert_array_equal(net(x2)[0], out[0])


def test_stateful_batch_size_change_is_a_clear_error():
    net = _pair(4, stateful=True)
    net(np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match=r"layer 0 LSTM\(2,3\).*3 rows but the batch has 2"):
        net(np.zeros((2, 4, 2)))
    net.reset_lstm_states()
    net(np.zeros((2, 4, 2)))


def test_states_survive_variance_updates_in_a_training_loop():
    tagi_lstm.manual_seed(8)
    net = Sequential(LSTM(1, 4, 5, stateful=True), Linear(20, 1))
    rng = np.random.default_rng(8)
    set_variances(net, 0.05)
    for _ in range(30):
        mu, _ = net(rng.normal(size=(4, 5, 1)))
        net.update(rng.normal(size=4), 0.2)
    states = net.get_lstm_states()[0]
    assert np.all(np.isfinite(states[0])) and np.all(states[1] >= 0) and np.all(states[3] >= 0)
