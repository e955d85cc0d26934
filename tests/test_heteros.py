"""EvenExp moments and the heteroscedastic (AGVI) observation update."""

import numpy as np
import pytest

import tagi_lstm
from tagi_lstm.nn import EvenExp, Linear, OutputUpdater, Sequential
from tagi_lstm.states import DeltaStates, HiddenStates


def test_even_exp_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu = np.array([[0.3, -0.4, 1.2, 0.5]])
    var = np.array([[0.2, 0.3, 0.05, 0.6]])
    layer = EvenExp()
    layer._set_backend(layer._bk, np.float64)
    mu_a, var_a = (a.copy() for a in layer.forward(mu, var))
    z = mu + np.sqrt(var) * rng.standard_normal((400_000, 4))
    a = z.copy()
    a[:, 1::2] = np.exp(z[:, 1::2])
    n = len(z)
    # the mean outputs pass through exactly
    np.testing.assert_array_equal(mu_a[:, 0::2], mu[:, 0::2])
    np.testing.assert_array_equal(var_a[:, 0::2], var[:, 0::2])
    # exp outputs: within 4 Monte Carlo standard errors
    se_mean = a.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(mu_a[0] - a.mean(axis=0)) < 4 * se_mean)
    var_mc = a.var(axis=0)
    se_var = np.sqrt((((a - a.mean(axis=0)) ** 2 - var_mc) ** 2).mean(axis=0) / n)
    assert np.all(np.abs(var_a[0, 1::2] - var_mc[1::2]) < 4 * se_var[1::2])
    # the backward Jacobian is cov(z, a) / var(z)
    cov_mc = ((z - z.mean(0)) * (a - a.mean(0))).mean(0) / var[0]
    jcb = layer._jcb[0]
    assert np.all(np.abs(jcb[1::2] - cov_mc[1::2]) < 0.02 * jcb[1::2])
    dmu, dvar = layer.backward(np.ones((1, 4)), np.ones((1, 4)))
    np.testing.assert_allclose(dmu[0, 1::2], mu_a[0, 1::2])
    np.testing.assert_allclose(dvar[0, 1::2], mu_a[0, 1::2] ** 2)


def test_even_exp_rejects_odd_width():
    net = Sequential(Linear(2, 3), EvenExp())
    with pytest.raises(ValueError, match="even number"):
        net(np.zeros((1, 2)))


def _updater_deltas(m_z, s_z, m_w, s_w, y):
    out = HiddenStates()
    out._set(np.array([[m_z, m_w]]), np.array([[s_z, s_w]]))
    deltas = DeltaStates()
    OutputUpdater("cpu").update_heteros(out, np.array([y]), deltas)
    return deltas.delta_mu[0], deltas.delta_var[0]


def test_update_heteros_against_conditioning_and_monte_carlo():
    rng = np.random.default_rng(1)
    m_z, s_z, m_w, s_w, y = 0.2, 0.5, 0.8, 0.1, 1.4
    dmu, dvar = _updater_deltas(m_z, s_z, m_w, s_w, y)

    # z and v given y by generic Gaussian conditioning on the joint (z, v, y)
    cov = np.array([[s_z, 0.0, s_z], [0.0, m_w, m_w], [s_z, m_w, s_z + m_w]])
    mean = np.array([m_z, 0.0, m_z])
    gain = cov[:2, 2] / cov[2, 2]
    post_mean = mean[:2] + gain * (y - mean[2])
    post_cov = cov[:2, :2] - np.outer(gain, cov[2, :2])
    assert dmu[0] == pytest.approx((post_mean[0] - m_z) / s_z, rel=1e-12)
    assert dvar[0] == pytest.approx((post_cov[0, 0] - s_z) / s_z ** 2, rel=1e-12)

    # W = v**2: prior with w ~ Gamma(mean m_w, var s_w), posterior from v | y
    n = 2_000_000
    w = rng.gamma(m_w ** 2 / s_w, s_w / m_w, n)
    w2_prior = (np.sqrt(w) * rng.standard_normal(n)) ** 2
    v_post = post_mean[1] + np.sqrt(post_cov[1, 1]) * rng.standard_normal(n)
    w2_post = v_post ** 2
    var_prior, mean_post, var_post = w2_prior.var(), w2_post.mean(), w2_post.var()
    assert dmu[1] == pytest.approx((mean_post - m_w) / var_prior, rel=0.02)
    assert dvar[1] == pytest.approx((var_post - var_prior) / var_prior ** 2, rel=0.02)


def test_update_heteros_skips_missing():
    dmu, dvar = _updater_deltas(0.2, 0.5, 0.8, 0.1, np.nan)
    assert np.all(dmu == 0) and np.all(dvar == 0)


def test_heteroscedastic_network_learns_the_noise():
    """log sigma^2 = x is exactly representable by Linear(1, 2) + EvenExp.

    One observation per update: larger batches sum their deltas, so the first
    updates hit the cap and the floor and the estimate starts biased.
    """
    rng = np.random.default_rng(2)
    tagi_lstm.manual_seed(2)
    net = Sequential(Linear(1, 2), EvenExp())
    updater = OutputUpdater(net.device)
    x = rng.uniform(-1.5, 1.5, 20_000)
    y = 0.5 * x + np.exp(0.5 * x) * rng.standard_normal(x.size)
    for start in range(x.size):
        net(x[start:start + 1, None])
        updater.update_heteros(net.output_z_buffer, y[start:start + 1],
                               net.input_delta_z_buffer)
        net.backward()
        net.step()
    mu, _ = net(np.array([[-1.0], [0.0], [1.0]]))
    np.testing.assert_allclose(mu[:, 0], [-0.5, 0.0, 0.5], atol=0.1)
    np.testing.assert_allclose(mu[:, 1], np.exp([-1.0, 0.0, 1.0]), rtol=0.1)
