"""Multi-step uncertainty: the linearized recursion against independent oracles, the
variance decomposition, differencing, mixtures, ensembles and backtests."""

import numpy as np
import pytest
from scipy import integrate, stats

from tagi_lstm import metric
from tagi_lstm.forecast import COMPONENTS, Forecaster, mixture_moments
from tagi_lstm.forecast.transform import Differencing


def _series(n=200, seed=0, trend=0.0, period=12):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 3 * np.sin(2 * np.pi * t / period) + trend * t + 0.3 * rng.standard_normal(n)


def _model(y, epochs=3, **kwargs):
    opts = {"lookback": 6, "hidden_size": 6, "noise": "fixed", "sigma_v": 0.3, "seed": 0,
                "dtype": "float64"}
    opts.update(kwargs)
    return Forecaster(**opts).fit(y, epochs=epochs, progress=False, refit=False)


def _mean_fn(model, member=0):
    """The forecast mean as a function of the window's series values."""
    member = model.members_[member]

    def f(window):
        return float(member.predict(np.asarray(window, dtype=np.float64)[None, :, None])[0][0])
    return f


def _hand_recursion(model, y, horizon, jacobian):
    """The delta-method recursion written out over explicit windows: forecasts and the
    full covariance of the fed-back values, in original units."""
    L = model.lookback
    (m, s), _ = model._scale
    member = model.members_[0]
    f = _mean_fn(model)
    values = list((y[-L:] - m) / (s + 1e-10))
    cov = np.zeros((L + horizon, L + horizon))  # the history is known exactly
    for h in range(horizon):
        window = np.array(values[h:h + L])
        jac = jacobian(f, window)
        var_param = float(member.predict(window[None, :, None])[1][0])
        rows = np.arange(h, h + L)
        cov[L + h, :L + h] = jac @ cov[rows, :L + h]
        cov[:L + h, L + h] = cov[L + h, :L + h]
        cov[L + h, L + h] = var_param + 0.3 ** 2 + jac @ cov[np.ix_(rows, rows)] @ jac
        values.append(f(window))
    return np.array(values[L:]) * (s + 1e-10) + m, np.sqrt(np.diag(cov)[L:]) * (s + 1e-10)


def _central_differences(f, window):
    return np.array([(f(window + e) - f(window - e)) / 2e-6 for e in np.eye(len(window)) * 1e-6])


def test_linearized_recursion_equals_the_delta_method_by_finite_differences():
    """Oracle: Jacobians by central differences of the mean network. TAGI's backward is the
    chain rule at the means when the weight variances vanish (with trained variances its
    variance terms move the Jacobian by ~0.1 %), so the weights are made nearly exact."""
    y = _series()
    model = _model(y, linear=True)
    for net in model.members_[0].networks.values():
        for layer in net.layers:
            for name, n in (("var_w", layer.num_weights), ("var_b", layer.num_biases)):
                if n:
                    setattr(layer, name, np.full(n, 1e-12))
    fc = model.forecast(8)
    mean, std = _hand_recursion(model, y, 8, _central_differences)
    np.testing.assert_allclose(fc.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(fc.std, std, rtol=1e-7)


@pytest.mark.parametrize("linear", [False, True])
def test_linearized_recursion_with_trained_variances(linear):
    """The same recursion by hand with the network's own Jacobian: exact bookkeeping of
    the weight variance, the noise and every covariance of the fed-back values."""
    y = _series()
    model = _model(y, linear=linear)
    member = model.members_[0]
    fc = model.forecast(8)
    mean, std = _hand_recursion(
        model, y, 8, lambda f, w: member.predict_jacobian(w[None, :, None])[3][0])
    np.testing.assert_allclose(fc.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(fc.std, std, rtol=1e-10)
    # the Jacobian's backward passes learn nothing: no delta is left to apply
    member.predict_jacobian(np.zeros((2, model.lookback, 1)))
    assert not any(layer._pending_deltas for layer in member.net.layers)
    with pytest.raises(RuntimeError, match="Sequential.step: needs a backward"):
        member.net.step()


def test_linearized_agrees_with_sample_paths():
    """To first order the delta method is the sample paths' spread. Measured on this model
    (40k paths, sampling error of a std 0.35 %): stds within 2.0 %; the paths' mean drifts
    from the recursion of means by up to 0.17 sd as the recursion's curvature adds up,
    while the first step, with nothing fed back yet, agrees within sampling error."""
    y = _series()
    model = _model(y, epochs=5)
    lin = model.forecast(10)
    mc = model.forecast(10, method="samples", num_samples=40_000)
    np.testing.assert_allclose(mc.std, lin.std, rtol=0.03)
    assert abs(mc.mean[0] - lin.mean[0]) < 4 * lin.std[0] / np.sqrt(40_000)
    np.testing.assert_allclose(mc.mean, lin.mean, atol=0.25 * lin.std.min())
    assert mc.samples.shape == (10, 40_000)


def test_diagonal_drops_covariances_and_understates_the_spread():
    y = _series()
    model = _model(y, epochs=5)
    lin, diag = model.forecast(10), model.forecast(10, method="diagonal")
    mc = model.forecast(10, method="samples", num_samples=20_000)
    assert lin.std[0] == pytest.approx(diag.std[0], rel=1e-10)
    # the sampled spread is the reference; the linearized one is nearer to it at every step
    assert np.all(np.abs(lin.std - mc.std)[1:] <= np.abs(diag.std - mc.std)[1:] + 1e-9)


@pytest.mark.parametrize("opts", [
    {}, {"method": "diagonal"}, {"ensemble": 3}, {"difference": True},
    {"seasonal_difference": True, "season": 12, "difference": True, "ensemble": 2},
    {"noise": "heteroscedastic", "linear": True}])
def test_variance_components_add_up(opts):
    y = _series(trend=0.05)
    model = _model(y, **opts)
    fc = model.forecast(15)
    assert set(fc.components) == set(COMPONENTS)
    total = sum(fc.components.values())
    np.testing.assert_allclose(total, fc.std ** 2, rtol=1e-9)
    assert np.all(fc.components["parameters"] >= 0) and np.all(fc.components["noise"] > 0)
    np.testing.assert_allclose(fc.noise_std ** 2, fc.components["noise"])
    one = model.predict(y)
    np.testing.assert_allclose(sum(one.components.values()), one.std ** 2, rtol=1e-9)
    assert np.all(one.components["fed_back"] == 0)


def test_mixture_moments_are_exact():
    means, variances = np.array([-1.0, 0.5, 3.0]), np.array([0.5, 2.0, 0.1])
    mean, var = mixture_moments(means, variances)

    def density(x):
        return np.mean([stats.norm.pdf(x, m, np.sqrt(v)) for m, v in zip(means, variances)])
    first = integrate.quad(lambda x: x * density(x), -30, 30, limit=200)[0]
    second = integrate.quad(lambda x: x ** 2 * density(x), -30, 30, limit=200)[0]
    assert mean == pytest.approx(first, abs=1e-9)
    assert var == pytest.approx(second - first ** 2, abs=1e-8)
    # two equal members: the mixture is that member
    m2, v2 = mixture_moments(np.array([[2.0], [2.0]]), np.array([[0.3], [0.3]]))
    assert m2[0] == 2.0 and v2[0] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="same shape"):
        mixture_moments(np.zeros(3), np.zeros(2))


def test_one_members_mixture_is_that_member_exactly():
    """mixture_with_parts takes one member as it is: bitwise what the general mixture of
    one gives (its own mean and variance, the parts unchanged, no ensemble spread)."""
    from tagi_lstm.forecast.result import mixture_with_parts

    rng = np.random.default_rng(3)
    m, v = rng.normal(size=9), rng.uniform(0.1, 2.0, size=9)
    parts = [{"parameters": 0.25 * v, "noise": 0.75 * v}]
    mean, var, components = mixture_with_parts([m], [v], parts)
    general = mixture_moments(np.stack([m]), np.stack([v]))
    np.testing.assert_array_equal(mean, general[0])
    np.testing.assert_array_equal(var, general[1])
    np.testing.assert_array_equal(components["noise"], 0.75 * v)
    assert np.all(components["ensemble"] == 0)
    with pytest.raises(ValueError, match=">= 0"):
        mixture_with_parts([m], [-v], parts)


def test_ensemble_forecast_is_the_mixture_of_its_members():
    y = _series()
    model = _model(y, ensemble=3)
    assert model.best_epochs_ and len(model.nets) == 3
    members = model.members_
    fc = model.forecast(6)
    singles = []
    for member in members:
        model.members_ = [member]
        singles.append(model.forecast(6))
    model.members_ = members
    mean, var = mixture_moments(np.stack([f.mean for f in singles]),
                                np.stack([f.std ** 2 for f in singles]))
    np.testing.assert_allclose(fc.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(fc.std ** 2, var, rtol=1e-12)
    assert np.all(fc.components["ensemble"] > 0)
    # members differ: seeds seed, seed + 1, ...
    assert not np.allclose(singles[0].mean, singles[1].mean)


@pytest.mark.parametrize("order,seasonal", [(1, 0), (0, 1), (1, 1)])
def test_differencing_round_trip_and_its_matrix(order, seasonal):
    rng = np.random.default_rng(1)
    y = rng.standard_normal(50).cumsum()
    diff = Differencing(order, seasonal, 4)
    z = diff.apply(y)
    assert len(z) == 50 - diff.lost
    T, H = 35, 9
    z_future = z[T - diff.lost:T - diff.lost + H]
    np.testing.assert_allclose(diff.undo(z_future, y[:T]), y[T:T + H], atol=1e-12)
    A = diff.matrix(H)
    np.testing.assert_allclose(A @ z_future + diff.undo(np.zeros(H), y[:T]), y[T:T + H],
                               atol=1e-12)
    # the matrix written out: ones where a level collects a difference
    i, j = np.indices((H, H))
    expected = {(1, 0): (j <= i), (0, 1): (j <= i) & ((i - j) % 4 == 0),
                (1, 1): (j <= i) * ((i - j) // 4 + 1)}[(order, seasonal)]
    np.testing.assert_array_equal(A, expected.astype(float))


def test_differenced_forecast_integrates_the_forecast_differences():
    y = _series(trend=0.2)
    model = _model(y, difference=True)
    fc = model.forecast(7)
    (m, s), _ = model._scale
    f = _mean_fn(model)
    values = list((np.diff(y)[-6:] - m) / (s + 1e-10))
    for _ in range(7):
        values.append(f(np.array(values[-6:])))
    diffs = np.array(values[6:]) * (s + 1e-10) + m
    np.testing.assert_allclose(fc.mean, y[-1] + np.cumsum(diffs), rtol=1e-10)


def test_backtest_equals_forecasts_from_each_origin_and_hand_scores():
    y = _series(n=260)
    model = _model(y[:200])
    bt = model.backtest(y, 5, stride=7)
    origins = np.arange(200, 256, 7)
    np.testing.assert_array_equal(bt.origins, origins)
    for i, o in enumerate(origins):
        fc = model.forecast(5, y=y[:o])
        np.testing.assert_allclose(bt.mean[i], fc.mean, rtol=1e-9)
        np.testing.assert_allclose(bt.std[i], fc.std, rtol=1e-9)
        np.testing.assert_array_equal(bt.observed[i], y[o:o + 5])
        np.testing.assert_array_equal(bt.index[i], np.arange(o, o + 5))
    scores = bt.scores()
    for h in range(5):
        mean, obs, std = bt.mean[:, h], bt.observed[:, h], bt.std[:, h]
        assert scores["crps"][h] == pytest.approx(metric.crps(mean, obs, std))
        assert scores["rmse"][h] == pytest.approx(np.sqrt(np.mean((mean - obs) ** 2)))
        inside = np.abs(obs - mean) <= stats.norm.ppf(0.95) * std
        assert scores["coverage_90"][h] == pytest.approx(inside.mean())
        assert scores["width_90"][h] == pytest.approx(np.mean(2 * stats.norm.ppf(0.95) * std))
    pooled = bt.scores(steps=[[1, 2], [3, 4, 5]])
    assert pooled["step"] == [[1, 2], [3, 4, 5]]
    assert pooled["crps"][0] == pytest.approx(metric.crps(bt.mean[:, :2], bt.observed[:, :2],
                                                          bt.std[:, :2]))
    with pytest.raises(ValueError, match="steps must lie in 1..5"):
        bt.scores(steps=[6])


def test_online_backtest_learns_as_it_goes_and_restores_the_model():
    y = _series(n=260)
    model = _model(y[:200])
    before = model.net.state_dict()
    frozen = model.backtest(y, 4, stride=10)
    online = model.backtest(y, 4, stride=10, online=True)
    # nothing to learn before the first origin; afterwards the forecasts differ
    np.testing.assert_allclose(online.mean[0], frozen.mean[0], rtol=1e-12)
    assert not np.allclose(online.mean[1:], frozen.mean[1:])
    for key, params in model.net.state_dict().items():
        for a, b in zip(params, before[key]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="online learning starts after the 200 steps"):
        model.backtest(y, 4, start=150, online=True)


def test_backtest_rejects_bad_origins():
    y = _series(n=230)
    model = _model(y[:200])
    with pytest.raises(ValueError, match="no origins"):
        model.backtest(y, 40)
    with pytest.raises(ValueError, match="origins must increase"):
        model.backtest(y, 3, origins=[3, 210])
    with pytest.raises(ValueError, match="give horizon="):
        model.backtest(y)


def _params(model):
    return np.concatenate([np.ravel(a) for m in model.members_
                           for state in m.state_dict().values()
                           for params in state.values() for a in params])


def test_refit_learns_the_validation_tail():
    y = _series(n=240, trend=0.02)
    kept = Forecaster(6, 6, seed=0).fit(y, epochs=4, progress=False, refit=False)
    retrained = Forecaster(6, 6, seed=0).fit(y, epochs=4, progress=False)
    assert retrained.best_epoch_ == kept.best_epoch_
    assert retrained.history_ == kept.history_
    # standardisation from all of y, not the training part only
    assert retrained._scale[0][0] == pytest.approx(np.mean(y))
    assert kept._scale[0][0] == pytest.approx(np.mean(y[:192]))
    # trained afresh for best_epoch + 1 epochs on every window: as a model fitted on
    # all of y without validation for that many epochs
    direct = Forecaster(6, 6, seed=0).fit(y, validation=0, epochs=kept.best_epoch_ + 1,
                                          progress=False)
    np.testing.assert_array_equal(_params(retrained), _params(direct))
    # online: the early-stopped state, then one update per held-out window in order
    online = Forecaster(6, 6, seed=0).fit(y, epochs=4, progress=False, refit="online")
    assert online._scale == kept._scale
    x, t, positions = kept._windows(y, kept._all_covariates(None, None, len(y)))
    kept._learn_windows(x[positions >= 192], t[positions >= 192])
    np.testing.assert_array_equal(_params(online), _params(kept))
    with pytest.raises(ValueError, match="refit must be one of"):
        Forecaster(6, 6).fit(y, epochs=1, progress=False, refit="yes")


def test_forecast_dates_follow_the_calendar():
    pd = pytest.importorskip("pandas")
    y = _series(n=120)
    for freq, expected in [("MS", ["2010-01-01", "2010-02-01", "2010-03-01"]),
                           ("ME", ["2010-01-31", "2010-02-28", "2010-03-31"])]:
        dates = pd.date_range(end=pd.Timestamp(expected[0]) - pd.offsets.Day(1)
                              if freq == "MS" else "2009-12-31", periods=120, freq=freq)
        model = Forecaster(6, 6, seed=0, calendar=("month",)).fit(
            y, dates=dates.values, epochs=1, progress=False)
        assert model.freq_ == freq
        np.testing.assert_array_equal(model.forecast(3).index,
                                      np.array(expected, dtype="datetime64[s]"))
    shuffled = pd.date_range("2000-01-01", periods=120, freq="MS").values[::-1]
    with pytest.raises(ValueError, match="increasing"):
        Forecaster(6, 6).fit(y, dates=shuffled, epochs=1, progress=False)


def test_linear_part_learns_its_share_of_the_kalman_update():
    """y = z_lstm + z_lin + v: the linear part's update equals that of a linear network
    alone observing y - m_lstm with noise variance sigma_v^2 + s_lstm."""
    from tagi_lstm.forecast.member import Member
    from tagi_lstm.layers import Linear
    from tagi_lstm.sequential import Sequential

    rng = np.random.default_rng(3)
    member = Member(1, 5, 4, 1, "fixed", 0.3, "float64", "cpu", seed=0, linear=True)
    x, t = rng.standard_normal((1, 5, 1)), np.array([0.7])
    alone = Sequential(Linear(5, 1)).to_dtype("float64")
    alone.load_state_dict(member.linear.state_dict())
    m_lstm, v_lstm = member.net(x)
    alone(x.reshape(1, -1))
    alone.update(t - m_lstm[:, 0], 0.3 ** 2 + v_lstm[:, 0])
    member.learn(x, t)
    for a, b in zip(member.linear.state_dict()["Linear.0"], alone.state_dict()["Linear.0"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_auto_chooses_on_a_backtest_and_fits_the_choice():
    pd = pytest.importorskip("pandas")
    y = _series(n=240, trend=0.03)
    dates = pd.date_range("2000-01-01", periods=240, freq="MS").values
    model = Forecaster.auto(y, dates=dates, ensemble=2, epochs=3, patience=2, progress=False,
                            calibrate=True, combine=1)
    assert model.season == 12  # from the monthly dates
    stages = [r["stage"] for r in model.auto_]
    assert stages[0] == "differencing" and "calendar" in stages and stages[-1] == "refit"
    best = min(model.auto_, key=lambda r: r["crps"])
    for key, value in model.auto_settings_.items():
        if key != "refit":
            assert getattr(model, key) == (tuple(value) if key == "calendar" else value)
    # the last candidate scored is at least as good as the best of the first group
    first_group = min(r["crps"] for r in model.auto_ if r["stage"] == "differencing")
    assert best["crps"] <= first_group
    assert len(model.nets) == 2 and model.calibration_ is not None
    assert len(model.calibration_) == 12
    fixed = Forecaster.auto(y, dates=dates, ensemble=1, epochs=2, patience=1, progress=False,
                            calibrate=False, calendar=(), hidden_size=4)
    for m in getattr(fixed, "models", [fixed]):  # one forecaster, or a combination
        assert m.calendar == () and m.hidden_size == 4 and m.calibration_ is None


def test_calibration_factors_from_a_backtest():
    from tagi_lstm.config import CALIBRATION_PRIOR_WEIGHT as PRIOR_WEIGHT
    from tagi_lstm.forecast.calibration import variance_factors
    from tagi_lstm.forecast.result import Backtest

    rng = np.random.default_rng(0)
    observed = rng.standard_normal((400, 3)) * np.array([1.0, 2.0, 0.5])
    bt = Backtest(np.arange(400), np.zeros((400, 3)), np.zeros((400, 3)), np.ones((400, 3)),
                  observed)
    factors = variance_factors(bt, window=0)
    expected = (np.sum(np.minimum(observed ** 2, 25), axis=0) + PRIOR_WEIGHT) / (400 + PRIOR_WEIGHT)
    np.testing.assert_allclose(factors, expected)
    assert factors[1] == pytest.approx(4.0, rel=0.15) and factors[2] == pytest.approx(0.25,
                                                                                      rel=0.15)
    # fitted on a held-out backtest, the factors scale the forecast variances
    y = _series(n=240)
    model = Forecaster(6, 6, seed=0).fit(y, epochs=2, progress=False, calibrate=5)
    plain = Forecaster(6, 6, seed=0).fit(y, epochs=2, progress=False)
    fc, ref = model.forecast(7), plain.forecast(7)
    k = np.append(model.calibration_, [model.calibration_[-1]] * 2)
    np.testing.assert_allclose(fc.std ** 2, ref.std ** 2 * k, rtol=1e-9)
    np.testing.assert_allclose(fc.components["calibration"], ref.std ** 2 * (k - 1), rtol=1e-9)


def test_plot_backtest_draws_coverage_and_width():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    y = _series(n=240)
    bt = _model(y[:200]).backtest(y, 6, stride=5)
    cov_ax, width_ax = bt.plot()
    assert cov_ax.get_ylabel() == "observed coverage"
    np.testing.assert_allclose(cov_ax.lines[0].get_ydata(), bt.scores()["coverage_50"])
    np.testing.assert_allclose(width_ax.lines[1].get_ydata(), bt.scores()["width_90"])
    frame = bt.to_pandas() if pytest.importorskip("pandas") else None
    assert list(frame.index) == [str(h) for h in range(1, 7)]


def test_variance_sources_add_up_to_the_forecast_variance():
    y = _series(n=230)
    model = _model(y[:200])
    origins = np.array([200, 210, 220])
    src = model.variance_sources(y, 6, origins)
    (_, s), _ = model._scale
    total = (src["parameters"] + src["noise"] + src["fed_back"]) * (s + 1e-10) ** 2
    bt = model.backtest(y, 6, origins=origins)
    np.testing.assert_allclose(total, bt.std ** 2, rtol=1e-9)
    for key in ("fed_back", "fed_back_diagonal", "fed_back_tagi"):
        np.testing.assert_array_equal(src[key][:, 0], 0.0)  # nothing fed back at step 1
    # at step 2 one forecast is fed back: no window covariance to drop
    np.testing.assert_allclose(src["fed_back_diagonal"][:, 1], src["fed_back"][:, 1],
                               rtol=1e-12)
