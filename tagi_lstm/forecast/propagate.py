r"""Recursive multi-step forecasts: each forecast is read back as the next input.

A network that forecasts one step from a window of ``L`` values forecasts
``H`` steps by feeding each forecast back. The forecast of step ``h`` is then
uncertain for three reasons: the weights are uncertain (the network's own
variance ``V_h`` at the mean inputs), the observation is noisy (``N_h``),
and the window holds earlier forecasts that are uncertain themselves. Three
ways to carry that last part are offered:

``"linearized"`` (the default)
    Keeps the full covariance ``\Sigma`` of all forecasts so far. With
    ``J_h`` the Jacobian of the network's mean output with respect to the
    window's values (from TAGI's backward pass, which is the chain rule at
    the means), the forecast of step ``h`` has variance
    ``V_h + N_h + J_h \Sigma_{PP} J_h^\top`` and covariance
    ``J_h \Sigma_{P,:}`` with the earlier forecasts (``P``: the forecasts
    inside the window). This is the delta method for the recursion; it
    agrees with Monte Carlo sample paths to first order.
``"diagonal"``
    Feeds each forecast's variance in as an input variance and lets TAGI's
    forward pass carry it. TAGI treats inputs and hidden units as
    independent, so it drops the covariances between the forecasts in one
    window and between the paths one input takes through the network; on
    real series this leaves multi-step intervals far too narrow (the
    documentation's forecasting-uncertainty page measures by how much).
``"samples"``
    Draws sample paths: each path's forecast is sampled from its Gaussian
    (``V_h + N_h``) and read back as a known input. Weight uncertainty is
    drawn independently at each step (the correlation one set of weights
    creates along a path is not kept).

All three work on a batch of origins at once: ``z_hist`` holds the last
``L`` (standardised, transformed) values before each origin and
``cov_track`` the known covariates the windows read (see :func:`track`).
"""

from __future__ import annotations

import numpy as np

METHODS = ("linearized", "diagonal", "samples")


def _window(series, cov_track, h: int, lookback: int):
    """Inputs of step ``h``: the window's values beside their covariates."""
    x = series[:, h:h + lookback, None]
    if cov_track is None:
        return x
    return np.concatenate([x, cov_track[:, h:h + lookback]], axis=2)


def linearized(member, z_hist, cov_track, horizon: int, diagnose: bool = False) -> dict:
    """Forecasts with the full covariance of the fed-back values (delta method).

    Args:
        member: a network wrapper with ``predict_jacobian(x)`` returning the
            mean, model variance, noise variance and ``(O, L)`` Jacobian.
        z_hist: ``(O, L)`` values before each origin.
        cov_track: ``(O, L + H - 1, k)`` covariates or ``None``.
        horizon: steps ``H``.
        diagnose: also evaluate, at every step and from the same window
            covariance, what a diagonal propagation keeps of the fed-back
            part (see :func:`sources`).

    Returns:
        A dict of arrays: ``mean``, the parts ``parameters``, ``noise`` and
        ``fed_back`` of each step's variance, ``(O, H)``, and ``cov``,
        ``(O, H, H)``; with ``diagnose`` also ``fed_back_diagonal`` and
        ``fed_back_tagi``, ``(O, H)``.
    """
    n, lookback = z_hist.shape
    series = np.concatenate([z_hist, np.zeros((n, horizon))], axis=1)
    cov = np.zeros((n, horizon, horizon))
    names = ("mean", "parameters", "noise", "fed_back") + (
        ("fed_back_diagonal", "fed_back_tagi") if diagnose else ())
    out = {name: np.zeros((n, horizon)) for name in names}
    for h in range(horizon):
        x = _window(series, cov_track, h, lookback)
        m, vp, nz, jac = member.predict_jacobian(x)
        first = max(0, h - lookback)  # the oldest forecast still inside the window
        j_fed = jac[:, lookback - (h - first):]
        cross = np.einsum("oi,oij->oj", j_fed, cov[:, first:h, :h])
        fed = np.einsum("oj,oj->o", cross[:, first:h], j_fed)
        if diagnose:
            var_diag = np.diagonal(cov[:, first:h, first:h], axis1=1, axis2=2)
            var_x = np.zeros_like(x)
            var_x[:, lookback - (h - first):, 0] = var_diag
            out["fed_back_tagi"][:, h] = member.predict(x, var_x)[1] - vp
            out["fed_back_diagonal"][:, h] = np.einsum("oj,oj->o", j_fed ** 2, var_diag)
        cov[:, h, :h] = cov[:, :h, h] = cross
        cov[:, h, h] = vp + nz + fed
        out["mean"][:, h], out["parameters"][:, h] = m, vp
        out["noise"][:, h], out["fed_back"][:, h] = nz, fed
        series[:, lookback + h] = m
    out["cov"] = cov
    return out


def diagonal(member, z_hist, cov_track, horizon: int) -> dict:
    """Forecasts whose fed-back variances TAGI's forward pass carries (no covariances).

    Same arguments and result as :func:`linearized` without ``diagnose`` (no
    ``fed_back`` part); ``cov`` is diagonal.
    """
    n, lookback = z_hist.shape
    series = np.concatenate([z_hist, np.zeros((n, horizon))], axis=1)
    var_series = np.zeros_like(series)
    mean, var = np.zeros((n, horizon)), np.zeros((n, horizon))
    v_par, v_noise = np.zeros((n, horizon)), np.zeros((n, horizon))
    for h in range(horizon):
        x = _window(series, cov_track, h, lookback)
        var_x = np.zeros_like(x)
        var_x[:, :, 0] = var_series[:, h:h + lookback]
        m, v, nz = member.predict(x, var_x)
        v_par[:, h] = member.predict(x)[1]
        mean[:, h], var[:, h], v_noise[:, h] = m, v + nz, nz
        series[:, lookback + h], var_series[:, lookback + h] = m, v + nz
    cov = np.zeros((n, horizon, horizon))
    cov[:, np.arange(horizon), np.arange(horizon)] = var
    return {"mean": mean, "cov": cov, "parameters": v_par, "noise": v_noise}


def sampled(member, z_hist, cov_track, horizon: int, num_samples: int, rng):
    """Sample paths, each forecast drawn and read back as a known input.

    Returns:
        ``(O, S, H)`` paths and ``(O, H)`` the mean noise variance of each step.
    """
    n, lookback = z_hist.shape
    rows = n * num_samples
    series = np.concatenate([np.repeat(z_hist, num_samples, axis=0),
                             np.zeros((rows, horizon))], axis=1)
    track = None if cov_track is None else np.repeat(cov_track, num_samples, axis=0)
    noise = np.zeros((n, horizon))
    for h in range(horizon):
        m, vp, nz = member.predict(_window(series, track, h, lookback))
        series[:, lookback + h] = m + np.sqrt(vp + nz) * rng.standard_normal(rows)
        noise[:, h] = nz.reshape(n, num_samples).mean(axis=1)
    return series[:, lookback:].reshape(n, num_samples, horizon), noise


def sources(member, z_hist, cov_track, horizon: int) -> dict:
    """Where each step's variance comes from, and what a diagonal propagation keeps of it.

    Runs :func:`linearized` and, at every step, also evaluates the fed-back
    part two cheaper ways from the same window covariance ``\\Sigma``:
    ``J diag(\\Sigma) J^T`` (covariances between the window's forecasts
    dropped) and TAGI's forward pass given the diagonal of ``\\Sigma`` as
    input variances (covariances dropped *and* the paths one input takes
    through the network treated as independent).

    Returns:
        ``(O, H)`` arrays in the modelled series' standardised units:
        ``"parameters"``, ``"noise"``, ``"fed_back"`` (full covariance),
        ``"fed_back_diagonal"`` and ``"fed_back_tagi"``.
    """
    out = linearized(member, z_hist, cov_track, horizon, diagnose=True)
    return {name: out[name] for name in ("parameters", "noise", "fed_back",
                                         "fed_back_diagonal", "fed_back_tagi")}
