"""The LSTM / state-space hybrid: its filter against the Kalman equations, the state's
smoother against the batch posterior, forecasts, backtests, updates and persistence."""

import numpy as np
import pytest
from scipy import optimize, stats

from tagi_lstm import NotFittedError, metric
from tagi_lstm.config import COMBINE_WITHIN, HYBRID_SEASONAL_NOISES, HYBRID_TREND_NOISE
from tagi_lstm.forecast import (
    Backtest,
    Combination,
    Forecaster,
    HybridForecaster,
    mixture_moments,
)
from tagi_lstm.forecast.auto import backtest_crps, greedy_combination, hybrid_stages
from tagi_lstm.forecast.hybrid import FilterState, HybridMember, StateSpace


def _series(n=120, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = np.cumsum(rng.normal(0, 0.05, n))
    return 10 + level + np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.1, n)


def _member(lookback=4, seed=3):
    return HybridMember(lookback, 3, "float64", seed)


def test_filter_step_is_the_kalman_update():
    member = _member()
    rng = np.random.default_rng(1)
    state = FilterState(np.array([[0.3]]), np.array([[[0.2]]]), rng.normal(size=(1, 4)),
                        rng.uniform(0.01, 0.1, size=(1, 4)))
    q, sv2, y = 0.05, 0.09, 1.1
    mu_z, var_z = member.pattern(state.mu_z, state.var_z)
    mean, var, end, _, (xs, covs) = member.filter(np.array([y]), state, StateSpace(q), sv2,
                                                  learn=False)
    p = 0.2 + q
    s = p + var_z[0] + sv2
    e = y - 0.3 - mu_z[0]
    assert mean[0] == pytest.approx(0.3 + mu_z[0], rel=1e-12)
    assert var[0] == pytest.approx(s, rel=1e-12)
    assert end.x[0, 0] == pytest.approx(0.3 + p * e / s, rel=1e-12)
    assert end.cov[0, 0, 0] == pytest.approx(p - p * p / s, rel=1e-12)
    assert [xs[0, 0], covs[0, 0, 0]] == pytest.approx([end.x[0, 0], end.cov[0, 0, 0]],
                                                      rel=1e-12)
    # the window moved on by one, ending with z's posterior
    assert end.mu_z[0, :3].tolist() == state.mu_z[0, 1:].tolist()
    assert end.mu_z[0, 3] == pytest.approx(mu_z[0] + var_z[0] * e / s, rel=1e-12)
    assert end.var_z[0, 3] == pytest.approx(var_z[0] - var_z[0] ** 2 / s, rel=1e-12)


def test_missing_observation_keeps_the_priors():
    member = _member()
    state = FilterState.start([0.5], [[0.1]], 4)
    mean, var, end, _, _ = member.filter(np.array([np.nan]), state, StateSpace(0.05), 0.09,
                                         learn=True)
    mu_z, var_z = member.pattern(state.mu_z, state.var_z)
    assert end.x[0, 0] == 0.5 and end.cov[0, 0, 0] == pytest.approx(0.15)
    assert end.mu_z[0, -1] == pytest.approx(mu_z[0]) and end.var_z[0, -1] == pytest.approx(
        var_z[0])
    assert np.isfinite(mean).all() and np.isfinite(var).all()


def test_smoothed_start_matches_the_batch_posterior():
    """A random walk observed with noise: the smoother's first level equals the
    Gaussian posterior computed from the joint covariance of all the steps."""
    rng = np.random.default_rng(2)
    n, q, r, m0, p0 = 15, 0.04, 0.25, 0.2, 0.5
    y = rng.normal(size=n)
    m, p, levels = m0, p0, []
    for t in range(n):
        p += q
        gain = p / (p + r)
        m, p = m + gain * (y[t] - m), p - gain * p
        levels.append((m, p))
    levels = np.array(levels)
    mean, var = StateSpace(q).smoothed_start(levels[:, :1], levels[:, 1:, None])
    mean, var = mean[0], var[0, 0]
    # l_t = l_0 + w_1 + ... + w_t with l_0 ~ N(m0, p0 + q); y_t = l_t + v_t
    idx = np.arange(n)
    cov_l = p0 + q + q * np.minimum(idx[:, None], idx[None, :])
    cov_y = cov_l + r * np.eye(n)
    cross = cov_l[0]
    post_mean = m0 + cross @ np.linalg.solve(cov_y, y - m0)
    post_var = cov_l[0, 0] - cross @ np.linalg.solve(cov_y, cross)
    assert mean == pytest.approx(post_mean, rel=1e-10)
    assert var == pytest.approx(post_var, rel=1e-10)


def _structural(ss, n, x0, P0, r):
    """The batch form of ``x_t = F x_{t-1} + w_t``, ``y_t = h x_t + v_t`` from
    ``x_{-1} ~ N(x0, P0)``: the mean and covariance of ``y_0..y_{n-1}``, and the
    prior moments of ``x_0`` with its covariance with them."""
    F, Q, h = ss.F, ss.Q, ss.h
    # x_t = F^{t+1} x_{-1} + sum_{j<=t} F^{t-j} w_j
    powers = [np.linalg.matrix_power(F, t) for t in range(n + 1)]
    cov_x = {}
    for s in range(n):
        for t in range(n):
            c = powers[s + 1] @ P0 @ powers[t + 1].T
            c = c + sum(powers[s - j] @ Q @ powers[t - j].T for j in range(min(s, t) + 1))
            cov_x[s, t] = c
    cov_y = np.array([[h @ cov_x[s, t] @ h for t in range(n)] for s in range(n)])
    cov_y += r * np.eye(n)
    cross = np.stack([cov_x[0, t] @ h for t in range(n)], axis=1)  # (k, n)
    mean_y = np.array([h @ powers[t + 1] @ x0 for t in range(n)])
    return mean_y, cov_y, F @ x0, cov_x[0, 0], cross


@pytest.mark.parametrize("trend, seasonal", [(False, False), (True, False), (False, True),
                                             (True, True)])
def test_state_space_smoother_start_is_the_batch_posterior(trend, seasonal):
    """Level, trend and a season of 4 observed with noise (no LSTM: the Kalman
    filter by hand, then :meth:`StateSpace.smoothed_start`): the first state given
    every step equals the Gaussian posterior from the joint covariance (the start
    is that state taken back through ``F^{-1}``)."""
    ss = StateSpace(0.02, 0.003 if trend else None, 0.01 if seasonal else None, 4)
    rng = np.random.default_rng(5)
    n, r, k = 14, 0.2, ss.size
    x0, P0 = rng.normal(size=k), np.diag(rng.uniform(0.2, 0.6, k))
    y = rng.normal(size=n)
    x, P, xs, covs = x0, P0, [], []
    for t in range(n):
        x, P = ss.F @ x, ss.F @ P @ ss.F.T + ss.Q
        s = ss.h @ P @ ss.h + r
        gain = P @ ss.h / s
        x, P = x + gain * (y[t] - ss.h @ x), P - np.outer(gain, gain) * s
        xs.append(x)
        covs.append(P)
    mean, cov = ss.smoothed_start(np.array(xs), np.array(covs))
    mean_y, cov_y, prior_mean, prior_cov, cross = _structural(ss, n, x0, P0, r)
    post_mean = prior_mean + cross @ np.linalg.solve(cov_y, y - mean_y)
    post_cov = prior_cov - cross @ np.linalg.solve(cov_y, cross.T)
    np.testing.assert_allclose(ss.F @ mean, post_mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ss.F @ cov @ ss.F.T, post_cov, rtol=1e-9, atol=1e-12)


def test_seasonal_effects_sum_to_zero_and_the_trend_carries_the_level():
    ss = StateSpace(0.01, 1e-4, 1e-4, 5)
    assert ss.size == 1 + 1 + 4
    x = np.array([2.0, 0.5, 0.3, -0.1, 0.4, -0.2])  # level, trend, s_t .. s_{t-3}
    nxt = ss.F @ x
    assert nxt[0] == pytest.approx(2.5) and nxt[1] == 0.5
    # the new effect completes the last five to zero; the others shift by one
    assert nxt[2] + x[2:].sum() == pytest.approx(0.0)
    assert nxt[3:].tolist() == x[2:5].tolist()
    assert ss.h.tolist() == [1, 0, 1, 0, 0, 0]
    np.testing.assert_allclose(ss.F_inv @ ss.F, np.eye(6), atol=1e-12)


def test_seasonal_hybrid_learns_a_season_and_round_trips(tmp_path):
    y = _series(120)
    model = HybridForecaster(lookback=12, hidden_size=4, seasonal_noise=1e-4,
                             trend_noise=1e-4, season=12, ensemble=2, seed=0)
    model.fit(y[:108], epochs=4, progress=False)
    assert model.state_.x.shape == (2, 1 + 1 + 11) and model.state_.cov.shape == (2, 13, 13)
    fc = model.forecast(12)
    np.testing.assert_allclose(sum(fc.components.values()), fc.std ** 2, rtol=1e-9)
    assert (np.diff(fc.components["level"]) > 0).all()
    # the filter found the season: its forecast errors are well inside the sine's amplitude
    assert np.sqrt(np.mean((fc.mean - y[108:]) ** 2)) < 0.5
    model.save(tmp_path / "s.npz")
    back = HybridForecaster.load(tmp_path / "s.npz")
    assert (back.trend_noise, back.seasonal_noise) == (1e-4, 1e-4)
    np.testing.assert_array_equal(back.forecast(12).mean, fc.mean)


def test_a_file_of_the_scalar_level_hybrid_still_loads(fitted, tmp_path):
    """Files written before the state-space components held a scalar level."""
    import json

    model, _ = fitted
    path = tmp_path / "new.npz"
    model.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    state = json.loads(str(arrays["__hybrid__"]))
    filt = state["state"]
    filt["level"] = [x[0] for x in filt.pop("x")]
    filt["level_var"] = [c[0][0] for c in filt.pop("cov")]
    for info in state["members"]:
        info["start"] = [info["start"][0][0], info["start"][1][0][0]]
    for key in ("trend_noise", "seasonal_noise", "transform"):
        del state["config"][key]
    arrays["__hybrid__"] = np.array(json.dumps(state))
    np.savez(tmp_path / "old.npz", **arrays)
    back = HybridForecaster.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(back.forecast(6).mean, model.forecast(6).mean)


@pytest.fixture(scope="module")
def fitted():
    y = _series()
    model = HybridForecaster(lookback=12, hidden_size=4, level_noise=0.01, sigma_v=0.2,
                             season=12, ensemble=2, seed=0)
    return model.fit(y[:100], epochs=4, progress=False), y


def test_forecast_parts_add_up_and_the_level_widens(fitted):
    model, _ = fitted
    fc = model.forecast(12)
    total = sum(fc.components.values())
    np.testing.assert_allclose(total, fc.std ** 2, rtol=1e-9)
    _, s = model._scale
    np.testing.assert_allclose(np.diff(fc.components["level"]),
                               model.level_noise * s ** 2, rtol=1e-9)
    assert (fc.components["parameters"] > 0).all() and (fc.components["ensemble"] >= 0).all()
    np.testing.assert_array_equal(fc.index, np.arange(100, 112))


def test_backtest_rows_are_forecasts_from_each_history(fitted):
    model, y = fitted
    bt = model.backtest(y, 6, origins=np.array([40, 73, 100, 114]))
    for row, o in enumerate(bt.origins):
        fc = model.forecast(6, y=y[:o])
        np.testing.assert_allclose(bt.mean[row], fc.mean, rtol=1e-6)
        np.testing.assert_allclose(bt.std[row], fc.std, rtol=1e-5)
    np.testing.assert_array_equal(bt.observed[-1], y[114:120])
    assert (np.diff(bt.components["level"], axis=1) > 0).all()


def test_stored_state_is_the_end_of_the_series(fitted):
    """Without ``refit="online"`` nothing is learned from the tail, so forecasting from
    the stored state equals re-filtering the training series."""
    y = _series()
    model = HybridForecaster(lookback=6, hidden_size=3, ensemble=1, seed=1)
    model.fit(y[:90], epochs=3, refit=False, progress=False)
    a, b = model.forecast(5), model.forecast(5, y=y[:90])
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
    np.testing.assert_allclose(a.std, b.std, rtol=1e-12)


def test_update_forecasts_before_learning(fitted, tmp_path):
    model, y = fitted
    model.save(tmp_path / "m.npz")
    clone = HybridForecaster.load(tmp_path / "m.npz")
    one_step = model.forecast(1)
    out = clone.update(y[100:110])
    assert out.mean[0] == pytest.approx(one_step.mean[0], rel=1e-9)
    assert out.std[0] == pytest.approx(one_step.std[0], rel=1e-9)
    assert len(clone._y) == 110 and len(out) == 10
    np.testing.assert_array_equal(out.index, np.arange(100, 110))
    before = model.members_[0].net.state_dict()
    after = clone.members_[0].net.state_dict()
    assert not all(np.array_equal(a, b) for a, b in zip(_leaves(before), _leaves(after)))
    # the stored state moved on: the next forecast starts after step 110
    np.testing.assert_array_equal(clone.forecast(2).index, [110, 111])


def _leaves(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _leaves(v)
    else:
        yield np.asarray(tree)


def test_save_and_load_round_trip(fitted, tmp_path):
    model, y = fitted
    path = tmp_path / "hybrid.npz"
    model.save(path)
    for loader in (HybridForecaster.load, Forecaster.load):
        back = loader(path)
        assert isinstance(back, HybridForecaster)
        a, b = model.forecast(8), back.forecast(8)
        np.testing.assert_array_equal(a.mean, b.mean)
        np.testing.assert_array_equal(a.std, b.std)
        np.testing.assert_array_equal(model.backtest(y, 4, origins=[50, 60]).mean,
                                      back.backtest(y, 4, origins=[50, 60]).mean)


def test_dates_follow_the_calendar():
    y = _series(60)
    dates = np.arange("2000-01", "2005-01", dtype="datetime64[M]").astype("datetime64[s]")
    model = HybridForecaster(lookback=12, hidden_size=3, seed=0).fit(
        y, dates=dates, epochs=2, progress=False)
    fc = model.forecast(3)
    assert [str(d)[:10] for d in fc.index] == ["2005-01-01", "2005-02-01", "2005-03-01"]


@pytest.mark.parametrize("kwargs, match", [
    ({"level_noise": 0}, "level_noise"),
    ({"sigma_v": -1}, "sigma_v"),
    ({"lookback": 0}, "lookback"),
    ({"ensemble": 1.5}, "ensemble"),
    ({"dtype": "int32"}, "dtype"),
    ({"trend_noise": 0}, "trend_noise"),
    ({"seasonal_noise": 1e-4}, "season >= 2"),
    ({"seasonal_noise": 1e-4, "season": 1}, "season >= 2"),
])
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        HybridForecaster(**kwargs)


def test_bad_calls_are_named(fitted):
    model, y = fitted
    with pytest.raises(ValueError, match="no covariates"):
        HybridForecaster().fit(y, covariates=np.ones((len(y), 1)), progress=False)
    with pytest.raises(ValueError, match="refit"):
        HybridForecaster().fit(y, refit="twice", progress=False)
    with pytest.raises(NotFittedError, match="fit"):
        HybridForecaster().forecast(3)
    with pytest.raises(ValueError, match="origins"):
        model.backtest(y, 4, origins=[0, 10])
    with pytest.raises(ValueError, match="dates_new"):
        model.update(y[:3], dates_new=np.arange(3).astype("datetime64[D]"))


def _backtest(origins, truth, error, std):
    return Backtest(np.asarray(origins), np.zeros(truth.shape), truth + error,
                    np.full(truth.shape, std), truth)


def test_greedy_combination_adds_what_lowers_the_mixtures_crps():
    """Forward selection on a backtest: the best candidate first, then whichever lowers
    the equal-weight mixture's CRPS most, never a candidate far worse than the best, a
    copy of one chosen (no gain) or one that could not be scored."""
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(400, 4))
    origins = np.arange(100, 500)
    a = _backtest(origins, truth, rng.normal(0, 1.0, truth.shape), 1.0)
    b = _backtest(origins, truth, rng.normal(0, 1.0, truth.shape), 1.0)
    # scored on fewer origins (a longer lookback): compared where all forecast
    c = _backtest(origins[10:], truth[10:], rng.normal(0, 1.0, truth[10:].shape), 1.0)
    far = _backtest(origins, truth, rng.normal(0, 3.0, truth.shape), 3.0)
    scores = [backtest_crps(bt) for bt in (a, b, c, far)]
    best = int(np.argmin(scores[:3]))
    assert max(scores[:3]) <= COMBINE_WITHIN * min(scores[:3]) < scores[3]

    chosen, crps = greedy_combination([a, b, c, far, None], most=3)
    assert chosen[0] == best and sorted(chosen) == [0, 1, 2]
    assert greedy_combination([a, b, c, far, None], most=2)[0] == chosen[:2]
    assert greedy_combination([a, b, c], most=1) == ([best], scores[best])

    def mixture_crps(k, shared):  # the first k chosen, on the origins `shared`
        rows = [(bt.mean[np.isin(bt.origins, shared)], bt.std[np.isin(bt.origins, shared)])
                for bt in ((a, b, c)[i] for i in chosen[:k])]
        mean, var = mixture_moments(np.stack([m for m, _ in rows]),
                                    np.stack([s ** 2 for _, s in rows]))
        return metric.crps(mean, truth[np.isin(origins, shared)], np.sqrt(var))

    assert crps == pytest.approx(mixture_crps(3, origins[10:]), rel=1e-12)
    # each addition lowered the mixture's CRPS on the origins the chosen share
    assert mixture_crps(3, origins[10:]) < mixture_crps(2, origins[10:])
    pair_shared = origins[10:] if 2 in chosen[:2] else origins
    assert mixture_crps(2, pair_shared) < mixture_crps(1, pair_shared)
    twin = _backtest(origins, truth, a.mean - truth, 1.0)
    assert greedy_combination([a, twin], most=2)[0] == [0]
    assert greedy_combination([None, None], most=2) == ([0], np.inf)


def test_the_hybrid_search_tries_each_seasonal_noise_with_and_without_a_trend():
    groups = dict(hybrid_stages(4, transforms=("sqrt",)))
    assert next(iter(groups)) == "hybrid:transform"
    assert groups["hybrid:transform"] == [{"transform": None}, {"transform": "sqrt"}]
    components = groups["hybrid:components"]
    assert components[:2] == [{}, {"trend_noise": HYBRID_TREND_NOISE}]
    assert sorted(c.get("seasonal_noise") for c in components[2:]) == sorted(
        2 * list(HYBRID_SEASONAL_NOISES))
    assert len({tuple(sorted(c.items())) for c in components}) == len(components)
    # too long a season for the filter's state, and no transform: neither is tried
    groups = dict(hybrid_stages(52))
    assert "hybrid:transform" not in groups
    assert all("seasonal_noise" not in c for c in groups["hybrid:components"])


def test_auto_returns_what_scored_lowest():
    """Each family's search, then forward selection among every candidate tried: the
    returned object is the best candidate alone or the combination chosen."""
    y = _series(150, seed=4)
    model = Forecaster.auto(y, horizon=6, season=12, ensemble=1, epochs=3, patience=2,
                            progress=False)
    stages = {row["stage"] for row in model.auto_}
    assert any(s.startswith("hybrid:") for s in stages) and "differencing" in stages
    tried = [r for r in model.auto_ if r["stage"] not in ("combination", "first step")]
    # a setting named at its default is no new candidate: each configuration fitted once
    held = [(r["settings"]["refit"], *(getattr(Forecaster(**{"season": 12, **{
        k: v for k, v in r["settings"].items() if k != "refit"}}), k) for k in
        ("transform", "difference", "seasonal_difference", "linear", "lookback",
         "hidden_size", "noise")))
        for r in tried if not r["stage"].startswith("hybrid:")]
    assert len(held) == len(set(held)) >= 8
    combined = [r for r in model.auto_ if r["stage"] == "combination"]
    first = [r for r in model.auto_ if r["stage"] == "first step"]
    if combined or first:
        assert type(model) is Combination
        def kept(rows):  # settings as a set (the combination sorts its models' indices)
            return {frozenset(model.auto_settings_[i].items()) for i in rows}

        later = combined[0]["settings"] if combined else [
            min(tried, key=lambda r: r["crps"])["settings"]]
        assert kept(model.later_steps) == {frozenset(s.items()) for s in later}
        if first:
            assert kept(model.first_step) == {frozenset(s.items())
                                              for s in first[0]["settings"]}
        assert 2 <= len(model.models) <= 6
    else:
        best = min(tried, key=lambda r: r["crps"])
        assert model.auto_settings_ == best["settings"]
        assert type(model) is (HybridForecaster if best["stage"].startswith("hybrid:")
                               else Forecaster)
    fc = model.forecast(6)
    np.testing.assert_allclose(sum(fc.components.values()), fc.std ** 2, rtol=1e-9)
    single = Forecaster.auto(y, horizon=6, season=12, ensemble=1, epochs=3, patience=2,
                             combine=1, progress=False)
    assert single.auto_settings_ == min(tried, key=lambda r: r["crps"])["settings"]
    no_hybrid = Forecaster.auto(y, horizon=6, season=12, ensemble=1, epochs=3, patience=2,
                                hybrid=False, combine=1, progress=False)
    assert type(no_hybrid) is Forecaster
    assert not any(r["stage"].startswith(("hybrid:", "combination")) for r in no_hybrid.auto_)


def test_combination_is_the_mixture_of_its_forecasters(tmp_path):
    y = _series(140, seed=5)
    a = Forecaster(lookback=12, hidden_size=4, season=12, seed=0).fit(y[:110], epochs=2,
                                                                      progress=False)
    b = HybridForecaster(lookback=12, hidden_size=4, season=12, seed=0).fit(
        y[:110], epochs=2, progress=False)
    combo = Combination([a, b])
    fa, fb, fc = a.forecast(6), b.forecast(6), combo.forecast(6)
    np.testing.assert_allclose(fc.mean, (fa.mean + fb.mean) / 2, rtol=1e-12)
    np.testing.assert_allclose(fc.std ** 2, (fa.std ** 2 + fb.std ** 2) / 2
                               + ((fa.mean - fb.mean) / 2) ** 2, rtol=1e-12)
    np.testing.assert_allclose(sum(fc.components.values()), fc.std ** 2, rtol=1e-9)
    assert fc.components["level"] == pytest.approx(fb.components["level"] / 2)
    bt = combo.backtest(y, 6, origins=[60, 100, 110])
    np.testing.assert_allclose(bt.mean[-1], fc.mean, rtol=1e-6)
    combo.save(tmp_path / "combo.npz")
    back = Forecaster.load(tmp_path / "combo.npz")
    assert type(back) is Combination
    assert [type(m) for m in back.models] == [Forecaster, HybridForecaster]
    np.testing.assert_array_equal(back.forecast(6).mean, fc.mean)
    out = combo.update(y[110:120])
    assert len(out) == 10 and all(len(m._y) == 120 for m in combo.models)
    with pytest.raises(ValueError, match="two or more"):
        Combination([a])
    with pytest.raises(ValueError, match="different lengths"):
        Combination([a, HybridForecaster(lookback=4, seed=0).fit(y[:100], epochs=1,
                                                                 progress=False)])


def test_first_step_combination_takes_what_forecasts_the_first_step_best():
    """A candidate sharp one step ahead and poor later, another the other way round:
    the whole horizon takes the second, the first step the first (its score is its own
    one-step CRPS); where the horizon's choice already forecasts one step best, or
    where the gain is within two standard errors, the horizon's choice stays."""
    from tagi_lstm.forecast.auto import first_step_combination

    rng = np.random.default_rng(1)
    truth = rng.normal(size=(300, 6))
    origins = np.arange(300)
    sharp_first = np.where(np.arange(6) == 0, 0.3, 3.0)
    a = _backtest(origins, truth, rng.normal(size=truth.shape) * sharp_first, 1.0)
    a.std[:] = sharp_first
    b = _backtest(origins, truth, rng.normal(size=truth.shape), 1.0)
    assert greedy_combination([a, b], most=3)[0] == [1]
    one_step = [Backtest(bt.origins, bt.index[:, :1], bt.mean[:, :1], bt.std[:, :1],
                         bt.observed[:, :1]) for bt in (a, b)]
    first, crps = first_step_combination(one_step, [1], most=3)
    assert first == [0]
    assert crps == pytest.approx(metric.crps(a.mean[:, 0], truth[:, 0], a.std[:, 0]),
                                 rel=1e-12)
    assert first_step_combination([one_step[1], None], [0], most=3) == (
        [0], pytest.approx(metric.crps(b.mean[:, 0], truth[:, 0], b.std[:, 0]), rel=1e-12))
    # on 8 steps a gain within two standard errors is noise: not taken
    zero = np.zeros((8, 1))
    noisy = _backtest(origins[:8], zero, np.array([0, 2.5, 0, 0, 0, 0, 0, 0.0])[:, None],
                      1.0)
    plain = _backtest(origins[:8], zero, np.full((8, 1), 0.8), 1.0)
    gain = np.array([metric.crps(plain.mean[i], 0.0, 1.0) - metric.crps(noisy.mean[i], 0.0, 1.0)
                     for i in range(8)])
    assert 0 < gain.mean() < 2 * gain.std(ddof=1) / np.sqrt(8)
    assert greedy_combination([noisy, plain], most=1)[0] == [0]  # the lower CRPS ...
    assert first_step_combination([noisy, plain], [1], most=1)[0] == [1]  # ... by noise


def test_auto_forecasts_the_first_step_with_the_first_step_choice(monkeypatch):
    """Where the first step's selection picks another candidate, ``auto`` fits it too
    and the combination forecasts the first step with it alone, the later steps with
    the horizon's choice."""
    import tagi_lstm.forecast.auto as auto

    picked = {}

    def first_step_of_candidate_1(first_steps, later, most):
        picked["later"] = list(later)
        return [1], 0.0  # the second candidate the search tried

    monkeypatch.setattr(auto, "first_step_combination", first_step_of_candidate_1)
    y = _series(150, seed=4)
    model = Forecaster.auto(y, horizon=6, season=12, ensemble=1, epochs=3, patience=2,
                            progress=False)
    assert type(model) is Combination and 1 not in picked["later"]
    tried = [r for r in model.auto_ if r["stage"] not in ("combination", "first step")]
    assert [model.auto_settings_[i] for i in model.first_step] == [tried[1]["settings"]]
    assert len(model.later_steps) == len(picked["later"]) == len(model.models) - 1
    fc, alone = model.forecast(6), model.models[model.first_step[0]].forecast(6)
    assert (fc.mean[0], fc.std[0]) == (alone.mean[0], alone.std[0])
    assert model.auto_[-1]["stage"] == "first step"


def test_a_combination_can_forecast_its_first_step_with_other_models(tmp_path):
    y = _series(140, seed=6)
    fit = {"epochs": 2, "progress": False}
    models = [Forecaster(lookback=12, hidden_size=4, season=12, seed=0).fit(y[:110], **fit),
              HybridForecaster(lookback=12, hidden_size=4, season=12, seed=0).fit(y[:110],
                                                                                  **fit),
              Forecaster(lookback=6, hidden_size=4, season=12, seed=1).fit(y[:110], **fit)]
    split = Combination(models, first_step=[2], later_steps=[0, 1])
    whole, alone = Combination(models[:2]).forecast(6), models[2].forecast(6)
    fc = split.forecast(6)
    np.testing.assert_array_equal(fc.mean[1:], whole.mean[1:])
    np.testing.assert_array_equal(fc.std[1:], whole.std[1:])
    assert (fc.mean[0], fc.std[0]) == (alone.mean[0], alone.std[0])
    np.testing.assert_allclose(sum(fc.components.values()), fc.std ** 2, rtol=1e-9)
    assert fc.components["level"][0] == 0 and fc.components["level"][1] > 0
    # intervals: the third model's own at the first step, the exact quantiles of the
    # equal mixture of the first two's Gaussians after it
    pair = [m.forecast(6) for m in models[:2]]
    for level in (0.5, 0.9):
        lower, upper = fc.interval(level)
        np.testing.assert_allclose([lower[0], upper[0]],
                                   [b[0] for b in alone.interval(level)], rtol=1e-12)
        for h in range(1, 6):
            def cdf(v, h=h):
                return np.mean([stats.norm.cdf(v, f.mean[h], f.std[h]) for f in pair])
            span = (min(f.mean[h] - 10 * f.std[h] for f in pair),
                    max(f.mean[h] + 10 * f.std[h] for f in pair))
            for bound, q in ((lower[h], 0.5 - level / 2), (upper[h], 0.5 + level / 2)):
                want = optimize.brentq(lambda v, q=q: cdf(v) - q, *span, xtol=1e-12)
                assert bound == pytest.approx(want, rel=1e-9)
    np.testing.assert_allclose(split.backtest(y, 6, origins=[110]).interval(0.9),
                               [[b] for b in fc.interval(0.9)], rtol=1e-6)
    bt = split.backtest(y, 6, origins=[60, 110])
    np.testing.assert_allclose(bt.mean[-1], fc.mean, rtol=1e-6)
    split.save(tmp_path / "split.npz")
    back = Combination.load(tmp_path / "split.npz")
    assert (back.first_step, back.later_steps) == ([2], [0, 1])
    np.testing.assert_array_equal(back.forecast(6).mean, fc.mean)
    steps = back.update(y[110:113])
    for i, m in enumerate(models):  # the third model alone gives the one-step forecasts
        out = m.update(y[110:113])
        if i == 2:
            np.testing.assert_allclose(steps.mean, out.mean, rtol=1e-12)
            np.testing.assert_allclose(steps.std, out.std, rtol=1e-12)
    with pytest.raises(ValueError, match="neither first_step nor later_steps"):
        Combination(models, first_step=[0], later_steps=[1])
    with pytest.raises(ValueError, match="distinct indices of the 3 models"):
        Combination(models, first_step=[3])
    with pytest.raises(ValueError, match="distinct indices"):
        Combination(models, later_steps=[0, 0, 1, 2])


@pytest.mark.parametrize("model", [
    Forecaster(), Forecaster(52, 8, transform="sqrt", calendar=("month",), season=52,
                             seasonal_difference=True, dtype="float64"),
    HybridForecaster(), HybridForecaster(lookback=12, seasonal_noise=1e-4, season=12,
                                         ensemble=5)])
def test_repr_is_the_constructor_call_with_what_differs_from_the_defaults(model):
    text = repr(model)
    rebuilt = eval(text, {"Forecaster": Forecaster, "HybridForecaster": HybridForecaster})
    assert rebuilt._config() == model._config()
    assert text.count("=") == sum(
        getattr(model, k) != getattr(type(model)(), k)
        for k in ("lookback", "hidden_size", "transform", "calendar", "season",
                  "seasonal_difference", "seasonal_noise", "ensemble", "dtype")
        if hasattr(model, k))


def test_a_combinations_repr_names_its_models_and_which_step_each_forecasts():
    y = _series(80, seed=7)
    models = [kind(lookback=6, hidden_size=4, seed=0).fit(y, epochs=1, progress=False)
              for kind in (Forecaster, HybridForecaster)]
    assert repr(Combination(models)) == (
        "Combination([Forecaster(lookback=6, hidden_size=4), "
        "HybridForecaster(lookback=6, hidden_size=4)])")
    assert repr(Combination(models, first_step=[1], later_steps=[0])).endswith(
        "HybridForecaster(lookback=6, hidden_size=4)], first_step=[1], later_steps=[0])")


@pytest.mark.parametrize("kind", [Forecaster, HybridForecaster])
@pytest.mark.parametrize("call", [
    lambda m: m.forecast(3), lambda m: m.predict(np.ones(40)), lambda m: m.update(np.ones(3)),
    lambda m: m.backtest(np.ones(40), 3), lambda m: m.save("never.npz")])
def test_use_before_fit_is_not_fitted_error(kind, call):
    model = kind()
    for caught in (NotFittedError, ValueError, AttributeError):
        with pytest.raises(caught, match="not fitted"):
            call(model)


def test_a_diverged_candidate_is_never_chosen():
    """The search keeps a group's lowest score; a candidate whose backtest is NaN
    scores inf, even when it is tried first."""
    from tagi_lstm.forecast.auto import search
    from tagi_lstm.forecast.result import Backtest

    class Stub:
        min_history = 1

        def __init__(self, level_noise):
            self.level_noise = level_noise

        def fit(self, *args, **kwargs):
            return self

        def backtest(self, y, horizon, covariates, dates, origins):
            steps = origins[:, None] + np.arange(horizon)
            mean = np.full(steps.shape, np.nan if self.level_noise == 1 else 0.0)
            return Backtest(origins, steps, mean, np.ones(steps.shape), y[steps])

    y = np.sin(np.arange(100.0))
    found = search(
        lambda **s: Stub(s["level_noise"]), y, None, None, horizon=3, season=None,
        base={}, epochs=1, patience=1, validation=0.2, progress=False,
        groups=[("noise", [{"level_noise": 1}, {"level_noise": 2}])])
    assert found.settings["level_noise"] == 2 and np.isfinite(found.crps)
    assert found.report[0]["crps"] == np.inf
    np.testing.assert_array_equal(found.backtest.mean, 0.0)
