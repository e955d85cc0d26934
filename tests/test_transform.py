"""Variance-stabilising transforms: exact moments of the transformed-back Gaussian, a
forecaster on ``g(y)`` against the same forecaster fitted on ``g(y)`` by hand, errors,
persistence, and ``auto``'s search over them."""

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from tagi_lstm.forecast import Forecaster, HybridForecaster
from tagi_lstm.forecast.result import Mixture
from tagi_lstm.forecast.transform import Power


def _positive(n=160, seed=0):
    """A monthly count-like series whose noise grows with its level."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = (6 + 4 * np.sin(2 * np.pi * t / 12)) ** 2
    return level * (1 + 0.1 * rng.standard_normal(n))


@pytest.mark.parametrize("kind", ["sqrt", "log"])
@pytest.mark.parametrize("m, s", [(3.0, 0.2), (0.5, 1.0), (-1.0, 0.7)])
def test_moments_are_those_of_the_transformed_back_gaussian(kind, m, s):
    power = Power(kind)
    pdf = stats.norm(m, s).pdf
    lo, hi = m - 12 * s, m + 12 * s
    first = integrate.quad(lambda z: power.values(z) * pdf(z), lo, hi, epsabs=0,
                           epsrel=1e-12)[0]
    second = integrate.quad(lambda z: (power.values(z) - first) ** 2 * pdf(z), lo, hi,
                            epsabs=0, epsrel=1e-12)[0]
    mean, std = power.moments(np.array([m]), np.array([s]))
    np.testing.assert_allclose(mean, first, rtol=1e-9)
    np.testing.assert_allclose(std, np.sqrt(second), rtol=1e-9)


def test_apply_and_values_invert_each_other_and_keep_missing_values():
    y = np.array([0.0, 4.0, np.nan, 2.5])
    z = Power("sqrt").apply(y, "here")
    assert np.isnan(z[2])
    np.testing.assert_allclose(Power("sqrt").values(z), y)
    np.testing.assert_allclose(Power("log").values(Power("log").apply(y[1:], "here")), y[1:])
    assert Power(None).apply(y, "here") is y and not Power(None)


@pytest.mark.parametrize("kind, bad, need", [("sqrt", -0.5, "non-negative"),
                                             ("log", 0.0, "positive")])
def test_values_outside_the_domain_are_named(kind, bad, need):
    y = _positive()
    y[30] = bad
    with pytest.raises(ValueError, match=f"Forecaster.fit: transform='{kind}' needs {need} "
                                         f"values; the smallest is {bad:g}"):
        Forecaster(lookback=12, transform=kind).fit(y, progress=False)
    model = Forecaster(lookback=12, hidden_size=4, transform=kind).fit(
        _positive(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="Forecaster.forecast: transform"):
        model.forecast(3, y=y)
    with pytest.raises(ValueError, match="transform must be one of"):
        Forecaster(transform="boxcox")
    with pytest.raises(ValueError, match="HybridForecaster: transform must be one of"):
        HybridForecaster(transform="boxcox")
    with pytest.raises(ValueError, match=f"HybridForecaster.fit: transform='{kind}' needs "
                                         f"{need} values; the smallest is {bad:g}"):
        HybridForecaster(lookback=12, transform=kind).fit(y, progress=False)


@pytest.mark.parametrize("cls", [Forecaster, HybridForecaster])
@pytest.mark.parametrize("kind, g", [("sqrt", np.sqrt), ("log", np.log)])
def test_a_transformed_forecaster_is_the_forecaster_of_g_y_moved_back(cls, kind, g, tmp_path):
    y = _positive()
    y[40] = np.nan
    opts = {"lookback": 12, "hidden_size": 6, "seed": 2, "ensemble": 2}
    ours = cls(**opts, transform=kind).fit(y[:140], epochs=3, progress=False)
    hand = cls(**opts).fit(g(y[:140]), epochs=3, progress=False)
    power = Power(kind)

    def moved(fc):
        return power.moments(fc.mean, fc.std)

    for got, want in [(ours.forecast(8), hand.forecast(8)),
                      (ours.predict(y), hand.predict(g(y)))]:
        mean, std = moved(want)
        np.testing.assert_array_equal(got.mean, mean)
        np.testing.assert_array_equal(got.std, std)
        # the components still add up to the variance, in the same proportions (the
        # hybrid's one-step predictions carry none)
        assert (got.components is None) == (want.components is None)
        if got.components is None:
            continue
        total = sum(got.components.values())
        np.testing.assert_allclose(total, got.std ** 2, rtol=1e-12)
        for name, part in want.components.items():
            np.testing.assert_allclose(got.components[name] / got.std ** 2,
                                       part / want.std ** 2, rtol=1e-10, atol=1e-14)
    bt, bt_hand = ours.backtest(y, 6, start=140), hand.backtest(g(y), 6, start=140)
    np.testing.assert_array_equal(bt.mean, moved(bt_hand)[0])
    steps = bt.origins[:, None] + np.arange(6)
    np.testing.assert_array_equal(bt.observed, np.where(steps < len(y), y[np.minimum(
        steps, len(y) - 1)], np.nan))  # the observations themselves, not g^-1(g(y))
    if cls is Forecaster:  # the hybrid draws no sample paths
        paths = ours.forecast(4, method="samples", num_samples=20)
        np.testing.assert_allclose(paths.samples, power.values(
            hand.forecast(4, method="samples", num_samples=20).samples))
    news = ours.update(y[140:150])
    np.testing.assert_array_equal(news.mean, moved(hand.update(g(y[140:150])))[0])
    ours.save(tmp_path / "model.npz")
    again = cls.load(tmp_path / "model.npz")
    assert again.transform == kind
    np.testing.assert_array_equal(again.forecast(5).mean, ours.forecast(5).mean)


def test_a_global_panel_models_each_series_transformed():
    y = np.stack([_positive(seed=1), 3 * _positive(seed=2)], axis=1)
    opts = {"lookback": 12, "hidden_size": 4, "seed": 0, "mode": "global"}
    ours = Forecaster(**opts, transform="sqrt").fit(y, epochs=2, progress=False)
    hand = Forecaster(**opts).fit(np.sqrt(y), epochs=2, progress=False)
    got, want = ours.forecast(6), hand.forecast(6)
    mean, std = Power("sqrt").moments(want.mean, want.std)
    np.testing.assert_array_equal(got.mean, mean)
    np.testing.assert_array_equal(got.std, std)


def test_auto_tries_the_square_root_first_where_the_series_allows_it():
    y = _positive(n=150)
    model = Forecaster.auto(y, season=12, horizon=6, ensemble=1, epochs=2, patience=1,
                            hidden_size=4, hybrid=False, combine=1, progress=False)
    first = model.auto_[:2]
    assert [r["stage"] for r in first] == ["transform", "transform"]
    assert [r["settings"]["transform"] for r in first] == [None, "sqrt"]
    chosen = min(first, key=lambda r: r["crps"])["settings"]["transform"]
    assert all(r["settings"]["transform"] == chosen for r in model.auto_[2:])
    assert model.transform == model.auto_settings_["transform"] == chosen
    # a series with negative values, or a transform given, is not searched over
    for series, settings in [(y - 200.0, {}), (y, {"transform": "log"})]:
        fixed = Forecaster.auto(series, season=12, horizon=6, ensemble=1, epochs=1,
                                patience=1, hidden_size=4, hybrid=False, combine=1,
                                progress=False, **settings)
        assert "transform" not in {r["stage"] for r in fixed.auto_}
        assert fixed.transform == settings.get("transform")


def test_auto_tries_the_square_root_first_for_the_hybrid_too():
    y = _positive(n=150)
    model = Forecaster.auto(y, season=12, horizon=6, ensemble=1, epochs=2, patience=1,
                            combine=1, progress=False)
    rows = [r for r in model.auto_ if r["stage"].startswith("hybrid:")]
    assert [r["stage"] for r in rows[:2]] == ["hybrid:transform"] * 2
    assert [r["settings"]["transform"] for r in rows[:2]] == [None, "sqrt"]
    chosen = min(rows[:2], key=lambda r: r["crps"])["settings"]["transform"]
    assert all(r["settings"]["transform"] == chosen for r in rows[2:])
    # a transform given is the hybrid's too, and not searched over
    fixed = Forecaster.auto(y, season=12, horizon=6, ensemble=1, epochs=1, patience=1,
                            combine=1, progress=False, transform="sqrt")
    rows = [r for r in fixed.auto_ if r["stage"].startswith("hybrid:")]
    assert rows and "hybrid:transform" not in {r["stage"] for r in rows}
    assert fixed.transform == "sqrt"


def _exact_quantile(kind, m, s, q):
    """The q-quantile of g^-1(N(m, s^2)) by scipy: Z^2 / s^2 is non-central chi-square
    with one degree of freedom and non-centrality (m / s)^2; exp(Z) is log-normal."""
    if kind == "sqrt":
        return s ** 2 * stats.ncx2.ppf(q, 1, (m / s) ** 2)
    return np.exp(m + s * stats.norm.ppf(q))


@pytest.mark.parametrize("kind", ["sqrt", "log", None])
@pytest.mark.parametrize("m, s", [(3.0, 0.2), (0.5, 1.0), (-1.0, 0.7)])
def test_a_mixtures_quantiles_are_those_of_its_transformed_gaussian(kind, m, s):
    mix = Mixture(np.array([[m]]), np.array([[s]]), np.ones((1, 1)), (kind,))
    for q in (0.05, 0.25, 0.5, 0.9, 0.995):
        want = m + s * stats.norm.ppf(q) if kind is None else _exact_quantile(kind, m, s, q)
        np.testing.assert_allclose(mix.quantile(q), [want], rtol=1e-9)
        np.testing.assert_allclose(mix.cdf(mix.quantile(q)), [q], rtol=1e-12)
    assert mix.cdf(np.array([-1e-9]))[0] == (0.0 if kind else stats.norm.cdf(-1e-9, m, s))


def test_a_weighted_mixtures_quantile_solves_its_cdf():
    # two parts at one step: a square-root part at weight 0.25 and a Gaussian at 0.75;
    # at the second step the Gaussian alone (the other weighs nothing)
    mix = Mixture(np.array([[2.0, 2.0], [1.0, 1.0]]), np.array([[0.5, 0.5], [3.0, 3.0]]),
                  np.array([[0.25, 0.0], [0.75, 1.0]]), ("sqrt", None))

    def cdf(v):
        root = np.sqrt(max(v, 0.0))
        first = stats.norm.cdf(root, 2, 0.5) - stats.norm.cdf(-root, 2, 0.5) if v > 0 else 0
        return 0.25 * first + 0.75 * stats.norm.cdf(v, 1, 3)

    for q in (0.05, 0.5, 0.95):
        want = optimize.brentq(lambda v, q=q: cdf(v) - q, -30, 60, xtol=1e-13)
        got = mix.quantile(q)
        assert got[0] == pytest.approx(want, rel=1e-9)
        assert got[1] == pytest.approx(1 + 3 * stats.norm.ppf(q), rel=1e-9)
    np.testing.assert_array_equal(mix[1:].mean, [[2.0], [1.0]])


def _crps_by_quadrature(cdf, y, low, high):
    """``int (F(x) - 1{x >= y})^2 dx`` (F is 0 below ``low``, 1 above ``high``)."""
    y = float(y)
    left = integrate.quad(lambda x: cdf(x) ** 2, low, y, limit=400, epsabs=1e-13)[0] \
        if y > low else 0.0
    right = integrate.quad(lambda x: (1 - cdf(x)) ** 2, y, high, limit=400,
                           epsabs=1e-13)[0] if y < high else 0.0
    return left + right


@pytest.mark.parametrize("kind", ["sqrt", "log", None])
@pytest.mark.parametrize("m, s", [(3.0, 0.2), (0.4, 0.8), (-1.0, 0.7)])
def test_a_mixtures_crps_is_the_integral_of_its_squared_cdf_gap(kind, m, s):
    """CRPS(F, y) = int (F(x) - 1{x >= y})^2 dx, by adaptive quadrature on the exact cdf,
    at observations in the bulk, in either tail and outside the support."""
    mix = Mixture(np.array([[m]]), np.array([[s]]), np.ones((1, 1)), (kind,))
    low, high = (mix.quantile(1e-12)[0], mix.quantile(1 - 1e-12)[0])
    for y in (mix.quantile(0.5)[0], mix.quantile(0.01)[0], mix.quantile(0.999)[0] + 1.0,
              -0.5):
        cdf = lambda x: float(mix.cdf(np.array([x]))[0])  # noqa: E731
        want = _crps_by_quadrature(cdf, y, min(low, 0.0) if kind else low, high)
        assert mix.crps(np.array([y]))[0] == pytest.approx(want, rel=1e-8, abs=1e-12)
    if kind is None:  # the closed form of a Gaussian
        from tagi_lstm import metric

        y = np.array([m - 2 * s, m + 0.3 * s, m + 5 * s])
        np.testing.assert_allclose(mix[np.zeros(3, int)].crps(y),
                                   [metric.crps(np.array([m]), y[i:i + 1], np.array([s]))
                                    for i in range(3)], rtol=1e-12)
    assert np.isnan(mix.crps(np.array([np.nan]))[0])


def test_mixtures_crps_against_scoringrules():
    """A mixture of two Gaussians, one narrow, against scoringrules' ``crps_mixnorm``;
    log-normals against ``crps_lognormal``."""
    sr = pytest.importorskip("scoringrules")
    m, s = np.array([3.0, 0.4, -1.0, 0.0]), np.array([0.2, 0.5, 0.8, 0.3])
    for y in (0.01, 1.0, 20.0):
        got = Mixture.gaussian(m, s, "log").crps(np.full(4, y))
        np.testing.assert_allclose(got, sr.crps_lognormal(np.full(4, y), m, s,
                                                          backend="numpy"), rtol=1e-10)
    mix = Mixture(np.array([[0.0], [3.0]]), np.array([[1.0], [0.05]]),
                  np.array([[0.3], [0.7]]), (None, None))
    for y in (-2.0, 1.0, 3.02):
        want = sr.crps_mixnorm(np.array([y]), np.array([[0.0, 3.0]]),
                               np.array([[1.0, 0.05]]), np.array([[0.3, 0.7]]),
                               backend="numpy")
        assert mix.crps(np.array([y]))[0] == pytest.approx(float(want[0]), rel=1e-10)


def test_a_weighted_mixtures_crps_against_quadrature():
    """A square-root part beside a Gaussian, weighted 1:3, against quadrature on the
    mixture's cdf."""
    both = Mixture(np.array([[2.0], [1.0]]), np.array([[0.5], [3.0]]),
                   np.array([[0.25], [0.75]]), ("sqrt", None))
    cdf = lambda x: float(both.cdf(np.array([x]))[0])  # noqa: E731
    for y in (-4.0, 0.5, 4.0, 15.0):
        want = _crps_by_quadrature(cdf, y, -40.0, 60.0)
        assert both.crps(np.array([y]))[0] == pytest.approx(want, rel=1e-8)


@pytest.mark.parametrize("kind, g", [("sqrt", np.sqrt), ("log", np.log)])
def test_a_transformed_forecasters_intervals_are_the_exact_quantiles_of_its_forecast(kind, g):
    """The interval of ``y`` is ``g^-1`` of the Gaussian forecast of ``g(y)``: its exact
    quantiles, never below zero, not the Gaussian of the moments of ``y``."""
    y = _positive()
    opts = {"lookback": 12, "hidden_size": 6, "seed": 2, "ensemble": 2}
    ours = Forecaster(**opts, transform=kind).fit(y[:140], epochs=3, progress=False)
    hand = Forecaster(**opts).fit(g(y[:140]), epochs=3, progress=False)
    got, want = ours.forecast(8), hand.forecast(8)
    for level in (0.5, 0.9, 0.999):
        lower, upper = got.interval(level)
        np.testing.assert_allclose(lower, _exact_quantile(kind, want.mean, want.std,
                                                          0.5 - level / 2), rtol=1e-7)
        np.testing.assert_allclose(upper, _exact_quantile(kind, want.mean, want.std,
                                                          0.5 + level / 2), rtol=1e-7)
        assert (lower >= 0).all()
    np.testing.assert_allclose(got.quantile(0.5), _exact_quantile(kind, want.mean, want.std,
                                                                  0.5), rtol=1e-7)
    np.testing.assert_array_equal(got[2:5].interval(0.9)[1], got.interval(0.9)[1][2:5])
    # a backtest's coverage and width are those of the same intervals
    bt = ours.backtest(y, 6, start=140)
    bt_hand = hand.backtest(g(y), 6, start=140)
    lower, upper = bt.interval(0.9)
    np.testing.assert_allclose(lower, _exact_quantile(kind, bt_hand.mean, bt_hand.std, 0.05),
                               rtol=1e-7)
    table = bt.scores(steps=[list(range(1, 7))])
    seen = ~np.isnan(bt.observed)
    inside = (lower <= bt.observed) & (bt.observed <= upper)
    assert table["coverage_90"][0] == np.mean(inside[seen])
    assert table["width_90"][0] == pytest.approx(np.mean((upper - lower)[seen]), rel=1e-12)
    # and its CRPS that of the transformed Gaussians, not of the Gaussian of the moments
    exact = Mixture.gaussian(bt_hand.mean, bt_hand.std, kind).crps(bt.observed)
    assert table["crps"][0] == pytest.approx(np.mean(exact[seen]), rel=1e-12)
    from tagi_lstm import metric

    assert table["crps"][0] != pytest.approx(
        metric.crps(bt.mean[seen], bt.observed[seen], bt.std[seen]), rel=1e-6)
    # a forecast's scores: the same CRPS and coverage as its distribution gives
    observed = y[140:148]
    scored = got.scores(observed)
    assert scored["crps"] == pytest.approx(
        np.mean(Mixture.gaussian(want.mean, want.std, kind).crps(observed)), rel=1e-9)
    lower, upper = got.interval(0.9)
    assert scored["coverage_90"] == np.mean((lower <= observed) & (observed <= upper))
