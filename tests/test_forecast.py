"""The Forecaster workflow: fit, predict, recursive forecast, online update, persistence."""

import numpy as np
import pytest

from tagi_lstm import metric
from tagi_lstm.forecast import Forecast, Forecaster, seasonal_naive


def _series(n=240, seed=0, trend=0.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 24) + trend * t + 0.1 * rng.standard_normal(n)


def _fitted(**kwargs):
    opts = dict(lookback=8, hidden_size=8, batch_size=8, seed=0)
    opts.update(kwargs)
    model = Forecaster(**opts)
    model.fit(_series(), epochs=3, patience=3, progress=False)
    return model


def test_recursive_forecast_feeds_back_the_predicted_variance():
    model = _fitted(noise="fixed", sigma_v=0.2)
    y = _series()
    horizon = 6
    fc = model.forecast(horizon, method="diagonal")
    (m, s), _ = model._scale
    mu_in = list((y[-8:] - m) / (s + 1e-10))

    def recurse(feed_variance):
        mu_x, var_x, out = list(mu_in), [0.0] * 8, []
        for _ in range(horizon):
            mean, var = model.net(np.array(mu_x[-8:])[None, :, None],
                                  np.array(var_x[-8:])[None, :, None])
            total = float(var[0, 0]) + 0.2 ** 2
            out.append(total)
            mu_x.append(float(mean[0, 0]))
            var_x.append(total if feed_variance else 0.0)
        return np.sqrt(np.array(out)) * (s + 1e-10)

    np.testing.assert_allclose(fc.std, recurse(True), rtol=1e-5)
    without = recurse(False)
    assert fc.std[0] == pytest.approx(without[0], rel=1e-6)
    assert np.all(fc.std[1:] > without[1:])


def test_differenced_forecast_intervals_widen_with_the_horizon():
    model = Forecaster(8, 8, noise="fixed", sigma_v=0.3, difference=True, seed=0)
    model.fit(_series(trend=0.05), epochs=2, progress=False)
    fc = model.forecast(12)
    assert np.all(np.diff(fc.std) > 0)
    assert np.all(np.diff(fc.index) == 1) and fc.index[0] == 240


def test_nan_targets_are_skipped_and_nan_inputs_follow_the_fill_rule():
    y = _series()
    y[[30, 31, 100]] = np.nan
    model = Forecaster(8, 8, seed=0)
    model.fit(y, epochs=2, progress=False)
    before = model.net.state_dict()
    model.update([np.nan])  # a missing observation teaches nothing
    after = model.net.state_dict()
    for key in before:
        for a, b in zip(before[key], after[key]):
            np.testing.assert_array_equal(a, b)
    model.update([0.5])
    changed = model.net.state_dict()
    assert any(not np.array_equal(a, b) for key in before
               for a, b in zip(before[key], changed[key]))
    with pytest.raises(ValueError, match="missing \\(NaN\\)"):
        Forecaster(8, 8, fill="raise").fit(y, epochs=1, progress=False)


def test_short_series_is_a_clear_error():
    with pytest.raises(ValueError, match="one window needs lookback \\+ 1"):
        Forecaster(8, 8).fit(np.arange(8.0), validation=0, epochs=1, progress=False)


def test_early_stopping_keeps_the_best_epoch():
    model = Forecaster(8, 8, seed=0)
    model.fit(_series(), epochs=6, patience=2, progress=False, refit=False)
    lls = [h["val_log_likelihood"] for h in model.history_]
    assert model.best_epoch_ == int(np.argmax(lls))
    assert len(lls) <= 6
    # the restored parameters reproduce the best validation score
    y = _series()
    pred = model.predict(y)
    n_val = 48
    obs = y[-n_val:]
    score = metric.log_likelihood(pred.mean[-n_val:], obs, pred.std[-n_val:])
    assert score == pytest.approx(max(lls), rel=1e-6)


def test_online_update_forecasts_before_learning():
    model = _fitted()
    y_new = np.sin(2 * np.pi * np.arange(240, 244) / 24)
    expected_first = model.forecast(1).mean[0]
    online = model.update(y_new)
    assert len(online) == 4 and list(online.index) == [240, 241, 242, 243]
    assert online.mean[0] == pytest.approx(expected_first, rel=1e-6)
    assert len(model._y) == 244


def test_save_load_forecast_identical(tmp_path):
    model = Forecaster(8, 8, seed=0, calendar=("dayofweek",))
    dates = np.datetime64("2024-01-01") + np.arange(240).astype("timedelta64[D]")
    model.fit(_series(), dates=dates, epochs=2, progress=False)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = Forecaster.load(path)
    a, b = model.forecast(10), loaded.forecast(10)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    np.testing.assert_array_equal(a.index, b.index)
    assert b.index[0] == np.datetime64("2024-08-28")
    np.testing.assert_array_equal(model.predict(_series(), dates=dates).mean,
                                  loaded.predict(_series(), dates=dates).mean)


def test_covariates_are_required_for_the_future():
    rng = np.random.default_rng(0)
    cov = rng.standard_normal((240, 2))
    model = Forecaster(8, 8, seed=0)
    model.fit(_series(), covariates=cov, epochs=1, progress=False)
    with pytest.raises(ValueError, match="future_covariates of shape \\(5, 2\\)"):
        model.forecast(5)
    assert len(model.forecast(5, future_covariates=rng.standard_normal((5, 2)))) == 5
    with pytest.raises(ValueError, match="fitted with 2 covariate"):
        model.predict(_series())


def test_forecast_intervals_and_pandas():
    fc = Forecast(np.zeros(3), np.ones(3), np.arange(3), np.ones(3))
    lower, upper = fc.interval(0.9)
    np.testing.assert_allclose(upper, 1.6448536269514722)
    pd = pytest.importorskip("pandas")
    frame = fc.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["mean", "std", "lower_50", "upper_50", "lower_90",
                                   "upper_90"]


def test_seasonal_naive():
    y = np.arange(20.0)
    naive = seasonal_naive(y, 5, 10)
    np.testing.assert_array_equal(naive.mean, np.arange(5.0, 15.0))
    assert naive.std[0] == pytest.approx(0.0, abs=1e-12)


def test_co2_acceptance():
    """The example's promises: calibrated one-step intervals, better than seasonal naive,
    multi-step intervals that widen."""
    pytest.importorskip("statsmodels")
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    try:
        import co2_forecast
    finally:
        sys.path.pop(0)
    res = co2_forecast.run(progress=False)
    checks = co2_forecast.acceptance(res)
    assert all(checks.values()), checks


def test_pandas_series_brings_its_dates():
    pd = pytest.importorskip("pandas")
    index = pd.date_range("2024-01-01", periods=240, freq="h")
    model = Forecaster(8, 8, seed=0, calendar=("hour",))
    model.fit(pd.Series(_series(), index=index), epochs=1, progress=False)
    frame = model.forecast(3).to_pandas()
    assert list(frame.index) == list(pd.date_range("2024-01-11", periods=3, freq="h"))
