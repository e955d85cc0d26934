"""metric.crps_ensemble: the sorted energy form against brute force and the Gaussian closed form."""

import numpy as np
import pytest

from tagi_lstm import metric


def _brute_force(samples, observation):
    """``E|X - y| - 1/2 E|X - X'|`` over the empirical distribution, O(M^2) per row."""
    rows = []
    for x, y in zip(samples, observation):
        if np.isnan(y):
            continue
        rows.append(np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :])))
    return float(np.mean(rows))


@pytest.mark.parametrize("m", [1, 2, 7, 200])
def test_matches_brute_force(m):
    rng = np.random.default_rng(m)
    samples = rng.gamma(2.0, 3.0, size=(25, m))  # skewed, so no symmetry hides an error
    observation = rng.normal(6.0, 4.0, size=25)
    assert metric.crps_ensemble(samples, observation) == pytest.approx(
        _brute_force(samples, observation), rel=1e-12, abs=1e-12)


def test_single_sample_is_absolute_error():
    assert metric.crps_ensemble([[2.0], [5.0]], [3.0, 1.0]) == pytest.approx(2.5)


def test_ties_and_a_single_observation_as_a_vector():
    samples = np.array([1.0, 1.0, 3.0, 3.0, 3.0])
    assert metric.crps_ensemble(samples, 2.0) == pytest.approx(
        _brute_force(samples[None], [2.0]), rel=1e-12)


def test_large_sample_approaches_the_gaussian_closed_form():
    # Monte Carlo tolerance: with M = 50,000 samples the estimate's standard deviation is
    # about 0.0025 sigma per observation (measured over 200 repetitions); we allow 0.0125
    # sigma, five of those, for each observation on its own.
    rng = np.random.default_rng(7)
    mean, sigma, m = 1.0, 2.0, 50_000
    for y in (-3.0, 0.3, 1.0, 2.5, 9.0):
        samples = mean + sigma * rng.standard_normal((1, m))
        exact = metric.crps([mean], [y], [sigma])
        assert abs(metric.crps_ensemble(samples, [y]) - exact) < 0.0125 * sigma


def test_nan_observations_are_ignored():
    rng = np.random.default_rng(3)
    samples = rng.standard_normal((6, 50))
    observation = np.array([0.1, np.nan, -0.4, 1.2, np.nan, 0.0])
    keep = ~np.isnan(observation)
    assert metric.crps_ensemble(samples, observation) == pytest.approx(
        metric.crps_ensemble(samples[keep], observation[keep]), rel=1e-14)


def test_matches_scoringrules_energy_estimator():
    sr = pytest.importorskip("scoringrules")
    rng = np.random.default_rng(11)
    samples = rng.standard_t(3, size=(40, 120))
    observation = rng.standard_normal(40)
    expected = float(np.mean(sr.crps_ensemble(observation, samples, estimator="nrg")))
    assert metric.crps_ensemble(samples, observation) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("samples, observation, message", [
    (np.ones((3, 4)), np.ones(2), "shape"),         # one row per observation
    (np.ones((4, 3)).T.ravel(), np.ones(3), "shape"),  # 1-D samples for several observations
    (np.ones((2, 0)), np.ones(2), "shape"),         # no samples
    (np.full((2, 3), np.nan), np.ones(2), "samples"),  # samples must be finite
    (np.ones((2, 3)), np.full(2, np.nan), "no observed"),
])
def test_rejects_bad_input(samples, observation, message):
    with pytest.raises(ValueError, match=message):
        metric.crps_ensemble(samples, observation)
