"""Windows, gaps, splits and calendar covariates (tagi_lstm.data)."""

import numpy as np
import pytest

from tagi_lstm.data import chronological_split, fill_missing, rolling_windows, time_features


def test_windows_shorter_than_lookback_plus_horizon_is_a_clear_error():
    with pytest.raises(ValueError, match="has 6 steps but one window needs .* = 7"):
        rolling_windows(np.arange(6.0), 5, 2)
    x, y = rolling_windows(np.arange(7.0), 5, 2)
    assert x.shape == (1, 5, 1) and y.tolist() == [[5.0, 6.0]]


def test_windows_stride_multiple_series_and_covariates():
    data = np.stack([np.arange(10.0), 100 + np.arange(10.0)], axis=1)
    cov = 1000 + np.arange(10.0)
    x, y = rolling_windows(data, 3, 2, stride=3, output_col=(1,), covariates=cov)
    assert x.shape == (2, 3, 3) and y.shape == (2, 2)
    # window starting at step 3: inputs of steps 3..5, covariates of steps 4..6
    np.testing.assert_array_equal(x[1, :, 0], [3, 4, 5])
    np.testing.assert_array_equal(x[1, :, 2], [1004, 1005, 1006])
    np.testing.assert_array_equal(y[1], [106, 107])
    with pytest.raises(ValueError, match="covariates must have one row per step"):
        rolling_windows(data, 3, covariates=cov[:-1])


def test_windows_read_targets_from_a_separate_series():
    raw = np.array([0.0, 1.0, np.nan, 3.0, 4.0])
    x, y = rolling_windows(fill_missing(raw), 2, targets=raw)
    assert np.isnan(y[0, 0]) and not np.isnan(x).any()


def test_fill_missing_is_causal_and_can_refuse():
    raw = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan])
    np.testing.assert_array_equal(fill_missing(raw), [1, 1, 1, 1, 4, 4])
    with pytest.raises(ValueError, match="4 missing .* first at step 0"):
        fill_missing(raw, "raise")
    with pytest.raises(ValueError, match="no observed value"):
        fill_missing(np.full(3, np.nan))


def test_chronological_split_keeps_order_and_sizes():
    train, val, test = chronological_split(np.arange(100), validation=0.1, test=0.2)
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    assert train[-1] + 1 == val[0] and val[-1] + 1 == test[0]
    with pytest.raises(ValueError, match="no steps left"):
        chronological_split(np.arange(3), validation=0.5, test=0.5)


def test_time_features_phases():
    dates = np.array(["2024-01-01T06:00", "2024-01-03T18:00", "2024-07-01T00:00"],
                     dtype="datetime64[s]")
    f = time_features(dates, ("hour", "dayofweek"))
    angle_hour = np.arctan2(f[:, 0], f[:, 1]) % (2 * np.pi) * 24 / (2 * np.pi)
    angle_dow = np.arctan2(f[:, 2], f[:, 3]) % (2 * np.pi) * 7 / (2 * np.pi)
    np.testing.assert_allclose(angle_hour, [6, 18, 0], atol=1e-9)
    np.testing.assert_allclose(angle_dow, [0, 2, 0], atol=1e-9)  # Monday, Wednesday, Monday
    with pytest.raises(ValueError, match="features must be among"):
        time_features(dates, ("week",))
