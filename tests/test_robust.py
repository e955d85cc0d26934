"""No NaN reaches a parameter or a state: outliers are bounded, overflowing inputs are a
clear error, non-finite deltas are not applied, and a forecaster recovers from spikes."""

import warnings

import numpy as np
import pytest

from tagi_lstm import OutputUpdater, Sequential, manual_seed
from tagi_lstm.forecast import Forecaster, HybridForecaster
from tagi_lstm.layers import LSTM, EvenExp, Linear


def _net(dtype="float32"):
    manual_seed(0)
    return Sequential(LSTM(1, 8, 5), Linear(40, 1)).to_dtype(dtype)


def _finite(net):
    return all(np.isfinite(a).all() for a in net._param_arrays().values())


@pytest.mark.parametrize("value", [1e20, 1e300, -1e12, np.finfo(np.float32).max])
def test_inputs_that_would_overflow_float32_are_named(value):
    net = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning first
        with pytest.raises(ValueError, match=r"mu_x holds a value of magnitude .* float32"):
            net(np.full((4, 5, 1), value))
    with pytest.raises(ValueError, match="var_x holds a value"):
        net(np.zeros((4, 5, 1)), np.full((4, 5, 1), 1e25))
    assert _finite(net)


def test_float64_takes_what_float32_cannot():
    net = _net("float64")
    for _ in range(5):
        net(np.full((4, 5, 1), 1e20))
        net.update(np.zeros(4), 0.1)
    assert _finite(net)


def test_large_but_allowed_inputs_keep_parameters_finite():
    net = _net()
    for _ in range(20):
        net(np.full((4, 5, 1), 4e9))
        net.update(np.zeros(4), 0.1)
    assert _finite(net)
    assert np.isfinite(net(np.zeros((2, 5, 1)))[0]).all()


def test_non_finite_deltas_are_rejected_and_counted():
    """A step whose deltas hold a NaN (as an overflow upstream would leave) is not
    applied to that layer; the other layers learn as usual."""
    net = _net()
    before = {k: v.copy() for k, v in net._param_arrays().items()}
    net(np.ones((2, 5, 1)))
    OutputUpdater().update(net.output_z_buffer, np.ones(2), 0.1, net.input_delta_z_buffer)
    net.backward()
    net.layers[1]._dmu_theta[0] = np.nan
    net.step()
    after = net._param_arrays()
    for key in after:
        same = np.array_equal(after[key], before[key])
        assert same == key.startswith("Linear"), key
    assert net.update_counters()["Linear.1"]["rejected"] == 1
    assert net.update_counters()["LSTM.0"]["rejected"] == 0
    assert _finite(net)


def test_outliers_are_bounded_at_max_innovation():
    net = _net("float64")
    mu, var = net(np.zeros((3, 5, 1)))
    s = var[:, 0] + 0.25
    y = mu[:, 0] + np.array([1.0, 100.0, -1e6]) * np.sqrt(s)
    bounded = OutputUpdater(max_innovation=5.0)
    bounded.update(net.output_z_buffer, y, 0.25, net.input_delta_z_buffer)
    dmu = net.input_delta_z_buffer.delta_mu[:, 0].copy()
    np.testing.assert_allclose(dmu, np.array([1.0, 5.0, -5.0]) / np.sqrt(s), rtol=1e-12)
    assert bounded.num_bounded == 2 and bounded.total_bounded == 2
    exact = OutputUpdater(max_innovation=None)  # pytagi's update
    exact.update(net.output_z_buffer, y, 0.25, net.input_delta_z_buffer)
    np.testing.assert_allclose(net.input_delta_z_buffer.delta_mu[:, 0], (y - mu[:, 0]) / s,
                               rtol=1e-12)
    assert exact.num_bounded == 0
    with pytest.raises(ValueError, match="max_innovation"):
        OutputUpdater(max_innovation=-1)


def test_learned_noise_survives_a_spike():
    manual_seed(0)
    net = Sequential(LSTM(1, 8, 5), Linear(40, 2), EvenExp())
    updater = OutputUpdater()
    rng = np.random.default_rng(0)
    for step in range(200):
        x = rng.normal(size=(4, 5, 1)).astype(np.float32)
        net(x)
        y = x[:, -1, 0] + (1e6 if step == 100 else 0.0)
        updater.update_heteros(net.output_z_buffer, y, net.input_delta_z_buffer)
        net.backward()
        net.step()
    mu, var = net(rng.normal(size=(8, 5, 1)).astype(np.float32))
    assert np.isfinite(mu).all() and np.isfinite(var).all() and (var > 0).all()
    assert updater.total_bounded >= 4


def _spiky(n=2600, seed=1):
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.5 * np.random.default_rng(seed).normal(size=n)
    spikes = {1200: 20, 1700: 150, 2200: 1000}  # in noise standard deviations
    z = y.copy()
    for at, size in spikes.items():
        z[at] += size * 0.5
    return y, z, spikes


@pytest.mark.parametrize("kind", [Forecaster, HybridForecaster])
def test_long_run_with_spikes_stays_finite_and_recovers(kind):
    """Thousands of online updates through 20, 150 and 1000 sigma spikes: every forecast
    finite with a positive variance, and the error back to its level before the spike
    within 500 steps of each."""
    y, z, spikes = _spiky()
    model = kind(lookback=24, hidden_size=8, seed=0).fit(y[:1000], epochs=3, progress=False)
    out = model.update(z[1000:])
    assert np.isfinite(out.mean).all() and np.isfinite(out.std).all() and (out.std > 0).all()
    err = np.abs(out.mean - y[1000:])  # against the clean series
    before = np.median(err[:200])
    for at in spikes:
        i = at - 1000
        settled = np.median(err[i + 100:i + 400])
        assert settled <= 1.5 * before, (at, settled, before)
    fc = model.forecast(48)
    assert np.isfinite(fc.mean).all() and (fc.std > 0).all()
    # every spike was bounded, and counted
    assert sum(c["bounded"] for c in model.update_counters()) >= len(spikes)


@pytest.mark.parametrize("with_dates", [False, True])
def test_streaming_update_reads_only_the_last_window(with_dates):
    """One call with ten steps equals ten calls with one: the same forecasts, indices and
    weights, with differencing, covariates and calendar terms in play; the first new
    step's forecast equals predict() over the whole series."""
    rng = np.random.default_rng(3)
    n = 160
    y = 5 + np.sin(np.arange(n) * 2 * np.pi / 12) + 0.1 * rng.normal(size=n)
    cov = rng.normal(size=(n, 1))
    dates = (np.datetime64("2000-01") + np.arange(n).astype("timedelta64[M]")) \
        if with_dates else None
    kw = {"calendar": ("month",)} if with_dates else {}
    def make():
        model = Forecaster(lookback=6, hidden_size=4, difference=True,
                           seasonal_difference=True, season=12, seed=0, **kw)
        return model.fit(y[:140], cov[:140], None if dates is None else dates[:140],
                         epochs=2, progress=False)

    a, b = make(), make()
    expected = a.predict(y[:141], cov[:141], None if dates is None else dates[:141])
    d = (lambda i, j: None) if dates is None else (lambda i, j: dates[i:j])
    whole = a.update(y[140:150], cov[140:150], d(140, 150))
    parts = [b.update(y[k:k + 1], cov[k:k + 1], d(k, k + 1)) for k in range(140, 150)]
    np.testing.assert_allclose(whole.mean, np.concatenate([p.mean for p in parts]), rtol=1e-6)
    np.testing.assert_array_equal(whole.index, np.concatenate([p.index for p in parts]))
    assert whole.mean[0] == pytest.approx(expected.mean[-1], rel=1e-6)
    np.testing.assert_array_equal(whole.index[:1], expected.index[-1:])
    if dates is None:
        np.testing.assert_array_equal(whole.index, np.arange(140, 150))
    assert len(a._y) == len(b._y) == 150
    np.testing.assert_allclose(a.forecast(4, future_covariates=cov[150:154]).mean,
                               b.forecast(4, future_covariates=cov[150:154]).mean, rtol=1e-6)


def test_log_likelihood_of_a_tiny_std_is_finite():
    from tagi_lstm import metric

    value = metric.log_likelihood(np.zeros(2), np.zeros(2), np.full(2, 1e-200))
    assert value == pytest.approx(-np.log(1e-200) - 0.5 * np.log(2 * np.pi), rel=1e-12)
    assert metric.log_likelihood([0.0], [1.0], [1.0]) == pytest.approx(
        -0.5 * np.log(2 * np.pi) - 0.5, rel=1e-12)


@pytest.mark.parametrize("kind", [Forecaster, HybridForecaster])
def test_max_history_bounds_memory_and_changes_nothing_else(kind, tmp_path):
    """Streaming with max_history keeps a bounded tail of the series and forecasts,
    learns, indexes and saves exactly as keeping everything does."""
    y = 5 + np.sin(np.arange(400) * 2 * np.pi / 24) + 0.1 * np.random.default_rng(2).normal(
        size=400)
    full = kind(lookback=24, hidden_size=4, seed=0).fit(y[:200], epochs=2, progress=False)
    short = kind(lookback=24, hidden_size=4, seed=0, max_history=30).fit(
        y[:200], epochs=2, progress=False)
    assert len(short._y) == max(30, short.min_history) and short.n_seen_ == 200
    for k in range(200, 400, 50):
        a, b = full.update(y[k:k + 50]), short.update(y[k:k + 50])
        np.testing.assert_allclose(a.mean, b.mean, rtol=1e-6)
        np.testing.assert_array_equal(a.index, b.index)
    assert len(short._y) == max(30, short.min_history) and short.n_seen_ == len(full._y) == 400
    fa, fb = full.forecast(5), short.forecast(5)
    np.testing.assert_allclose(fa.mean, fb.mean, rtol=1e-6)
    np.testing.assert_array_equal(fa.index, np.arange(400, 405))
    np.testing.assert_array_equal(fb.index, fa.index)
    short.save(tmp_path / "s.npz")
    back = Forecaster.load(tmp_path / "s.npz")
    assert back.n_seen_ == 400 and back.max_history == 30
    np.testing.assert_array_equal(back.forecast(5).index, fa.index)
