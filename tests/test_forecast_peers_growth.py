"""The peer benchmark's growth figures: errors and widths of later steps against the
one-step forecasts of the same target steps (``benchmarks/forecast_peers.py``)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from forecast_peers import Z90, Result, same_target_growth, score

from tagi_lstm import metric


def _truth(y, origins, horizon):
    return np.stack([y[o:o + horizon] for o in origins])


def test_growth_pairs_each_later_forecast_with_the_one_step_forecast_of_its_target():
    rng = np.random.default_rng(0)
    y = rng.normal(size=30)
    origins = np.array([10, 11, 12, 13])
    truth = _truth(y, origins, 4)
    mean, std = rng.normal(size=(4, 4)), rng.uniform(0.5, 2.0, size=(4, 4))
    out = same_target_growth(Result(mean=mean, std=std), truth, origins)
    err, width = truth - mean, 2 * Z90 * std
    # by hand: (row, step) of the later forecast -> row of the origin at its target step
    for label, pairs in (("h=2", [((0, 2), 1), ((1, 2), 2), ((2, 2), 3)]),
                         ("h=3-4", [((0, 3), 2), ((0, 4), 3), ((1, 3), 3)])):
        later = np.array([err[i, h - 1] for (i, h), _ in pairs])
        first = np.array([err[j, 0] for _, j in pairs])
        assert out[f"pairs|{label}"] == len(pairs)
        assert out[f"error_growth|{label}"] == pytest.approx(
            np.sqrt(np.mean(later ** 2) / np.mean(first ** 2)), rel=1e-12)
        assert out[f"width_growth|{label}"] == pytest.approx(
            np.mean([width[i, h - 1] for (i, h), _ in pairs])
            / np.mean([width[j, 0] for _, j in pairs]), rel=1e-12)


def test_a_forecast_that_ignores_the_horizon_does_not_grow_on_the_same_targets():
    """Later target steps that are harder raise a later bucket's RMSE; on the same
    targets a constant forecast errs exactly as at one step."""
    y = np.concatenate([np.zeros(20), np.linspace(0.0, 5.0, 20)])
    origins = np.arange(20, 31)
    truth = _truth(y, origins, 10)
    result = Result(mean=np.full(truth.shape, -1.0), std=np.ones(truth.shape))
    out = same_target_growth(result, truth, origins)
    rmse = np.sqrt(np.mean((truth - result.mean) ** 2, axis=0))
    assert rmse[-1] > 1.5 * rmse[0]
    assert out["error_growth|h=6-10"] == pytest.approx(1.0, rel=1e-12)
    assert out["width_growth|h=6-10"] == pytest.approx(1.0, rel=1e-12)


def test_a_stride_that_skips_every_target_leaves_no_pair():
    origins = np.array([10, 12, 14])
    truth = _truth(np.arange(30.0), origins, 3)
    out = same_target_growth(Result(mean=np.zeros((3, 3)), std=np.ones((3, 3))), truth,
                             origins)
    assert out["pairs|h=2"] == 0 and np.isnan(out["error_growth|h=2"])
    assert out["pairs|h=3"] == 2 and np.isfinite(out["error_growth|h=3"])


def test_a_methods_own_distribution_is_scored_instead_of_its_gaussian():
    """Ours passes its distribution (a transformed series' is skewed): widths come from
    its quantiles, and its CRPS is the distribution's, checked by scoringrules."""
    from tagi_lstm.forecast import Mixture

    origins = np.arange(10, 16)
    truth = _truth(np.arange(30.0), origins, 4)
    mean, std = np.zeros((6, 4)), np.ones((6, 4))
    own = Mixture.gaussian(mean, np.tile([1.0, 2.0, 3.0, 3.0], (6, 1)))  # widths grow
    out = same_target_growth(Result(mean=mean, std=std, distribution=own), truth, origins)
    assert out["width_growth|h=2"] == pytest.approx(2.0)
    assert out["width_growth|h=3-4"] == pytest.approx(3.0)
    gaussian = same_target_growth(Result(mean=mean, std=std), truth, origins)
    assert gaussian["width_growth|h=3-4"] == pytest.approx(1.0)
    pytest.importorskip("scoringrules")
    skewed = Mixture.gaussian(np.full((6, 4), 3.0), np.full((6, 4), 0.5), "sqrt")
    scored = score(Result(mean=mean, std=std, distribution=skewed), truth)
    np.testing.assert_allclose(scored["crps"], skewed.crps(truth).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scored["crps_check"], scored["crps"], rtol=1e-4)
    assert scored["crps"][0] != pytest.approx(metric.crps(mean[:, 0], truth[:, 0],
                                                          std[:, 0]), rel=1e-3)
