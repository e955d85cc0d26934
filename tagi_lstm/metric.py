"""Point and probabilistic scores for Gaussian forecasts.

Every function takes arrays of equal size (they are flattened, never
broadcast) and ignores observations that are NaN (missing).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from ._validation import check_array, check_positive_int


def _prepare(where, prediction, observation, std=None):
    pred = check_array(prediction, name="prediction", where=where).reshape(-1)
    obs = check_array(observation, name="observation", where=where, size=pred.size,
                      allow_nan=True).reshape(-1)
    keep = ~np.isnan(obs)
    if not keep.any():
        raise ValueError(f"{where}: no observed (non-NaN) values to score")
    if std is None:
        return pred[keep].astype(np.float64), obs[keep].astype(np.float64)
    sd = check_array(std, name="std", where=where, size=pred.size, positive=True).reshape(-1)
    return (pred[keep].astype(np.float64), obs[keep].astype(np.float64),
            sd[keep].astype(np.float64))


def mse(prediction, observation) -> float:
    """Mean squared error."""
    pred, obs = _prepare("metric.mse", prediction, observation)
    return float(np.mean((pred - obs) ** 2))


def rmse(prediction, observation) -> float:
    """Root mean squared error."""
    pred, obs = _prepare("metric.rmse", prediction, observation)
    return float(np.sqrt(np.mean((pred - obs) ** 2)))


def mae(prediction, observation) -> float:
    """Mean absolute error."""
    pred, obs = _prepare("metric.mae", prediction, observation)
    return float(np.mean(np.abs(pred - obs)))


def log_likelihood(prediction, observation, std) -> float:
    """Mean Gaussian log-likelihood of the observations, ``N(prediction, std**2)``."""
    pred, obs, sd = _prepare("metric.log_likelihood", prediction, observation, std)
    # log(sd), not log(sd**2): the square of a tiny std underflows to 0
    return float(np.mean(-np.log(sd) - 0.5 * np.log(2 * np.pi) - 0.5 * ((obs - pred) / sd) ** 2))


def crps(prediction, observation, std) -> float:
    r"""Mean continuous ranked probability score of Gaussian forecasts (lower is better).

    Closed form for ``N(m, s^2)`` and observation ``y``, ``z = (y - m) / s``:
    ``s [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]``.
    """
    pred, obs, sd = _prepare("metric.crps", prediction, observation, std)
    z = (obs - pred) / sd
    pdf = np.exp(-0.5 * z ** 2) / np.sqrt(2 * np.pi)
    return float(np.mean(sd * (z * (2 * ndtr(z) - 1) + 2 * pdf - 1 / np.sqrt(np.pi))))


def interval_coverage(prediction, observation, std, level: float = 0.9) -> float:
    """Fraction of observations inside the central ``level`` interval of ``N(m, s^2)``."""
    if not 0 < level < 1:
        raise ValueError(f"metric.interval_coverage: level must be in (0, 1); got {level}")
    pred, obs, sd = _prepare("metric.interval_coverage", prediction, observation, std)
    half = ndtri(0.5 + level / 2) * sd
    return float(np.mean(np.abs(obs - pred) <= half))


def calibration(prediction, observation, std, levels=None):
    """Reliability of Gaussian intervals: observed coverage at each nominal level.

    For well-calibrated forecasts the central ``level`` interval holds a
    ``level`` fraction of the observations, so ``(levels, coverage)`` lies on
    the diagonal (plot it with :func:`tagi_lstm.plotting.plot_reliability`).

    Args:
        prediction, observation, std: as for :func:`crps`.
        levels: nominal levels in (0, 1); default ``0.05, 0.10, ..., 0.95``.

    Returns:
        ``(levels, coverage)``, two float64 arrays of the same length.
    """
    levels = np.round(np.arange(0.05, 1.0, 0.05), 2) if levels is None else \
        np.asarray(levels, dtype=np.float64).reshape(-1)
    if levels.size == 0 or levels.min() <= 0 or levels.max() >= 1:
        raise ValueError(f"metric.calibration: levels must lie in (0, 1); got {levels}")
    pred, obs, sd = _prepare("metric.calibration", prediction, observation, std)
    z = np.abs(obs - pred) / sd
    coverage = np.array([np.mean(z <= ndtri(0.5 + lv / 2)) for lv in levels])
    return levels, coverage


def scores(prediction, observation, std, levels=(0.5, 0.9)) -> dict:
    """Every score at once: ``rmse``, ``mae``, ``log_likelihood``, ``crps`` and
    ``coverage_50``, ``coverage_90`` ... for the interval ``levels``."""
    out = {"rmse": rmse(prediction, observation), "mae": mae(prediction, observation),
           "log_likelihood": log_likelihood(prediction, observation, std),
           "crps": crps(prediction, observation, std)}
    for level in levels:
        out[f"coverage_{100 * level:g}"] = interval_coverage(prediction, observation, std, level)
    return out


def crps_ensemble(samples, observation) -> float:
    r"""Mean continuous ranked probability score of sample (ensemble) forecasts.

    Each observation ``y`` is scored against the empirical distribution of its
    ``M`` samples ``x_1 ... x_M`` by the exact energy form
    ``E|X - y| - 1/2 E|X - X'|`` (the ``"nrg"`` estimator of scoringrules,
    both expectations over the empirical distribution). With the samples
    sorted, ``1/2 E|X - X'| = sum_i (2 i - M - 1) x_(i) / M^2``, so a row
    costs ``O(M log M)`` instead of ``O(M^2)``.

    Args:
        samples: ``(n, M)``, one row of ``M`` samples per observation (a
            ``(M,)`` vector when there is a single observation).
        observation: ``(n,)`` observations; NaN ones are ignored.

    Returns:
        The mean CRPS over the observed values (lower is better).
    """
    where = "metric.crps_ensemble"
    obs = check_array(observation, name="observation", where=where, allow_nan=True).reshape(-1)
    ens = check_array(samples, name="samples", where=where)
    if ens.ndim == 1 and obs.size == 1:
        ens = ens[None, :]
    if ens.ndim != 2 or ens.shape[0] != obs.size or ens.shape[1] == 0:
        raise ValueError(f"{where}: samples must have shape (n, M), one row of M >= 1 "
                         f"samples per observation (n = {obs.size}); got shape {ens.shape}")
    keep = ~np.isnan(obs)
    if not keep.any():
        raise ValueError(f"{where}: no observed (non-NaN) values to score")
    x = np.sort(ens[keep].astype(np.float64), axis=1)
    y = obs[keep].astype(np.float64)[:, None]
    m = x.shape[1]
    spread = x @ (2.0 * np.arange(1, m + 1) - m - 1) / m ** 2  # 1/2 E|X - X'| per row
    return float(np.mean(np.mean(np.abs(x - y), axis=1) - spread))


# --------------------------------------------------------------------------
# Scores over many series (the forecasting-competition conventions)
# --------------------------------------------------------------------------
def nd(prediction, observation) -> float:
    r"""Normalised deviation (the normalised p50 loss): ``sum|y - m| / sum|y|``, summed
    over every step and series (arrays of any shape, e.g. ``(horizon, n_series)``)."""
    pred, obs = _prepare("metric.nd", prediction, observation)
    return float(np.sum(np.abs(obs - pred)) / _scale_of(obs, "metric.nd"))


def quantile_loss(prediction, observation, std, level: float = 0.9) -> float:
    r"""Normalised quantile loss of Gaussian forecasts at ``level`` (p90 for 0.9).

    With the forecast quantile ``q = m + z_level s`` and ``rho = level``:
    ``2 sum (y - q) (rho 1{y > q} - (1 - rho) 1{y <= q}) / sum|y|``, summed over every
    step and series, as the TAGI-LSTM paper and DeepAR report it.
    """
    where = "metric.quantile_loss"
    if not 0 < level < 1:
        raise ValueError(f"{where}: level must be in (0, 1); got {level}")
    pred, obs, sd = _prepare(where, prediction, observation, std)
    diff = obs - (pred + ndtri(level) * sd)
    loss = np.where(diff > 0, level * diff, (level - 1.0) * diff)
    return float(2.0 * np.sum(loss) / _scale_of(obs, where))


def smape(prediction, observation) -> float:
    r"""Symmetric mean absolute percentage error, in percent (the M4 definition):
    ``200 mean(|y - m| / (|y| + |m|))``; a step where both are 0 counts as 0."""
    pred, obs = _prepare("metric.smape", prediction, observation)
    denom = np.abs(obs) + np.abs(pred)
    ratio = np.divide(np.abs(obs - pred), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(200.0 * np.mean(ratio))


def mase(prediction, observation, insample, season: int = 1) -> float:
    r"""Mean absolute scaled error, averaged over series.

    Per series: ``mean|y - m|`` over its observed test steps divided by the mean
    absolute seasonal difference ``|x_t - x_{t-season}|`` of its training part
    ``insample``.

    Args:
        prediction, observation: ``(horizon,)`` or ``(horizon, n_series)``.
        insample: ``(time,)`` or ``(time, n_series)``, the training values (NaN, e.g.
            padding at the top of shorter series, skipped).
        season: the seasonal period (1: the naive one-step difference).
    """
    where = "metric.mase"
    season = check_positive_int(season, name="season", where=where)
    pred = check_array(prediction, name="prediction", where=where)
    obs = check_array(observation, name="observation", where=where, allow_nan=True,
                      shape=pred.shape)
    train = check_array(insample, name="insample", where=where, allow_nan=True)
    if pred.ndim not in (1, 2) or train.ndim != pred.ndim or \
            (pred.ndim == 2 and train.shape[1] != pred.shape[1]):
        raise ValueError(f"{where}: prediction (horizon[, n_series]) and insample "
                         f"(time[, n_series]) must have one column per series; got "
                         f"{pred.shape} and {train.shape}")
    pred, obs, train = (np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1)
                        for a in (pred, obs, train))
    scaled = []
    for j in range(pred.shape[1]):
        seen = ~np.isnan(obs[:, j])
        steps = np.abs(train[season:, j] - train[:-season, j])
        steps = steps[~np.isnan(steps)]
        if not seen.any():
            continue
        if steps.size == 0 or not steps.mean() > 0:
            raise ValueError(f"{where}: series {j} has no non-zero seasonal difference in "
                             f"insample (season {season}): its scale is undefined")
        scaled.append(np.mean(np.abs(obs[seen, j] - pred[seen, j])) / steps.mean())
    if not scaled:
        raise ValueError(f"{where}: no observed (non-NaN) values to score")
    return float(np.mean(scaled))


def _scale_of(obs, where: str) -> float:
    total = float(np.sum(np.abs(obs)))
    if not total > 0:
        raise ValueError(f"{where}: the observations sum to 0 in absolute value: the score "
                         f"is undefined")
    return total
