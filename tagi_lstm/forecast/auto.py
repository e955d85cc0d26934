"""Automatic configuration: settings chosen on a backtest of the training data only.

:func:`search` splits the series it is given into a part to fit on and a
tail to score on, and walks through the settings one group at a time
(coordinate descent, so the cost grows with the sum, not the product, of the
choices): differencing (none, ordinary, seasonal, both), a linear
autoregression beside the LSTM or not, calendar covariates, lookback, width,
the noise model, and whether to retrain on the inner held-out part after
early stopping (``fit(refit=...)``). Each candidate is trained with early
stopping on its own inner held-out part, then scored by the mean CRPS of its recursive forecasts
of ``horizon`` steps from rolling origins over the tail; a group's best
setting is kept for the next group. Nothing after the end of the given
series is looked at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import metric
from ..config import (
    AUTO_MAX_LOOKBACK,
    AUTO_MAX_ORIGINS,
    AUTO_MIN_WINDOWS,
    COMBINE_SIGNIFICANCE,
    COMBINE_WITHIN,
    HYBRID_MAX_SEASON,
    HYBRID_SEASONAL_NOISE,
    HYBRID_SIGMA_V,
    HYBRID_TREND_NOISE,
)


def _lookbacks(season: int | None, n_windows_room: int) -> list:
    """Lookbacks worth trying: one and two seasons, or a few fixed spans without one."""
    options = [season, 2 * season] if season and season > 1 else [8, 16, 32]
    options = sorted({min(max(L, 4), AUTO_MAX_LOOKBACK) for L in options})
    return [L for L in options if L <= n_windows_room] or [min(options)]


def calendar_for(freq: str | None) -> tuple:
    """The calendar covariates that describe a frequency's cycles (none for yearly)."""
    if freq is None:
        return ()
    unit = freq.lstrip("0123456789").split("-")[0]
    if unit in ("h", "min", "s"):
        return ("hour", "dayofweek")
    if unit in ("D", "B"):
        return ("dayofweek", "dayofyear")
    if unit == "W":
        return ("dayofyear",)
    if unit in ("MS", "ME", "QS", "QE") or (unit.startswith("P") and unit.endswith("M")):
        return ("month",)
    return ()


def seasonal_lags(freq: str | None, season: int | None) -> list:
    """Seasonal differencing lags worth trying: the season, and a week of sub-daily
    steps (electricity, traffic: a Monday is more like last Monday than yesterday)."""
    if not season or season < 2:
        return []
    lags = [season]
    unit = (freq or "").lstrip("0123456789").split("-")[0]
    if unit in ("h", "min", "s"):
        lags.append(7 * season)
    return lags


def stages(season: int | None, n_fit: int, calendar: tuple = (), lags=None) -> list:
    """``[(name, [settings, ...]), ...]``: the groups of settings tried, in order
    (``calendar``: the covariates to try beside none, when the data have dates;
    ``lags``: seasonal differencing lags, default ``[season]``)."""
    room = int(0.8 * n_fit) - AUTO_MIN_WINDOWS
    lookbacks = _lookbacks(season, room - (season or 1) - 1)
    differencing = [{"difference": False, "seasonal_difference": False},
                    {"difference": True, "seasonal_difference": False}]
    lags = ([season] if season and season > 1 else []) if lags is None else lags
    for lag in lags:
        if room - lag - lookbacks[0] > 0:
            differencing += [{"difference": False, "seasonal_difference": True, "season": lag},
                             {"difference": True, "seasonal_difference": True, "season": lag}]
    groups = [("differencing", differencing),
              ("linear", [{"linear": False}, {"linear": True}])]
    if calendar:
        groups.append(("calendar", [{"calendar": ()}, {"calendar": tuple(calendar)}]))
    return groups + [
            ("lookback", [{"lookback": L} for L in lookbacks]),
            ("hidden_size", [{"hidden_size": h} for h in (8, 16, 32)]),
            ("noise", [{"noise": "heteroscedastic"}, {"noise": "scheduled"}]),
            ("refit", [{"refit": False}, {"refit": "retrain"}])]


def hybrid_stages(season: int | None) -> list:
    """The groups of settings tried for :class:`~tagi_lstm.forecast.HybridForecaster`:
    its state-space components (a local level alone, with a trend, with a seasonal
    component when ``2 <= season <=`` :data:`~tagi_lstm.config.HYBRID_MAX_SEASON`,
    with both), the level's noise, the observation noise, the lookback and how the
    held-out tail is learned from (the base lookback is one season, 16 steps
    without one)."""
    trend = {"trend_noise": HYBRID_TREND_NOISE}
    components = [{}, trend]
    if season and 2 <= season <= HYBRID_MAX_SEASON:
        seasonal = {"seasonal_noise": HYBRID_SEASONAL_NOISE}
        components += [seasonal, {**trend, **seasonal}]
    lookbacks = [season, 2 * season] if season and season > 1 else [16, 32]
    return [("hybrid:components", components),
            ("hybrid:level_noise", [{"level_noise": q} for q in (1e-3, 1e-2, 3e-2)]),
            ("hybrid:sigma_v", [{"sigma_v": s} for s in HYBRID_SIGMA_V]),
            ("hybrid:lookback", [{"lookback": min(L, AUTO_MAX_LOOKBACK)} for L in lookbacks]),
            ("hybrid:refit", [{"refit": "retrain"}, {"refit": "online"}])]


def search(make, y, covariates, dates, *, horizon: int, season: int | None, base: dict,
           epochs: int, patience: int, validation: float, progress: bool,
           calendar: tuple = (), lags=None, groups=None) -> tuple:
    """Choose settings by backtest CRPS on the last ``validation`` fraction of ``y``.

    Args:
        make: ``make(**settings)`` builds an unfitted forecaster.
        y, covariates, dates: the training data.
        horizon: steps each scored forecast covers.
        season: season length (seasonal differencing, lookbacks), or None.
        calendar: calendar covariates to try (with dates), see :func:`calendar_for`.
        lags: seasonal differencing lags to try (default ``[season]``), see
            :func:`seasonal_lags`.
        groups: the groups to walk through instead of :func:`stages`'s
            (e.g. :func:`hybrid_stages`).
        base: settings every candidate starts from (a group's choice
            replaces its keys).
        epochs, patience: each candidate's training budget.
        validation: fraction of ``y`` scored on.
        progress: show a tqdm bar over candidates.

    Returns:
        :class:`Search`: the chosen settings, their backtest CRPS and backtest,
        and one dict per candidate tried.
    """
    n = len(y)
    n_fit = n - max(round(validation * n), horizon + 1)
    origins = np.arange(n_fit, n - horizon + 1)
    origins = origins[::max(1, int(np.ceil(len(origins) / AUTO_MAX_ORIGINS)))]
    cov_fit = None if covariates is None else covariates[:n_fit]
    dates_fit = None if dates is None else dates[:n_fit]
    if groups is None:
        groups = stages(season, n_fit, calendar if dates is not None else (), lags)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(g) for _, g in groups), desc="auto", unit="candidate")
    chosen, report, scores, backtests = {"refit": False, **base}, [], {}, {}
    for name, options in groups:
        best = None
        for option in options:
            settings = {**chosen, **option}
            key = tuple(sorted(settings.items()))
            if key not in scores:
                start = time.perf_counter()
                model = make(**{k: v for k, v in settings.items() if k != "refit"})
                scores[key], backtests[key] = _score(model, settings["refit"], y, covariates,
                                                     dates, cov_fit, dates_fit, n_fit, origins,
                                                     horizon, epochs, patience)
                report.append({"stage": name, "settings": settings, "crps": scores[key],
                               "seconds": time.perf_counter() - start})
            if best is None or scores[key] < best[0]:
                best = (scores[key], option)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(best=f"{min(scores.values()):.4g}")
        chosen.update(best[1])
    if bar is not None:
        bar.close()
    key = tuple(sorted(chosen.items()))
    return Search(chosen, scores[key], backtests[key], report)


@dataclass
class Search:
    """What :func:`search` found.

    Attributes:
        settings: the chosen constructor arguments plus ``"refit"``.
        crps: their backtest's mean CRPS over the tail.
        backtest: their :class:`~tagi_lstm.forecast.Backtest` over the tail
            (``None`` if it could not be computed).
        report: one dict per candidate tried (``stage``, ``settings``,
            ``crps``, ``seconds``).
    """

    settings: dict
    crps: float
    backtest: object
    report: list


def backtest_crps(bt) -> float:
    """Mean CRPS of a backtest's observed steps (inf when there are none, or when a
    forecast is not finite: a diverged candidate loses)."""
    seen = ~np.isnan(bt.observed)
    if not seen.any():
        return float(np.inf)
    mean, std = bt.mean[seen], bt.std[seen]
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        return float(np.inf)
    return metric.crps(mean, bt.observed[seen], std)


def compare_pair(bt_a, bt_b):
    """Two candidates' backtests and their equal-weight mixture
    (:func:`~tagi_lstm.forecast.mixture_moments`) scored on the origins both
    forecast from: ``(crps_a, crps_b, crps_mixture, gain_se)``, ``gain_se`` the
    standard error of the mixture's gain over the better candidate, from the
    per-origin differences (``None`` if they share no origin, or one is
    missing)."""
    from .result import Backtest, mixture_moments

    if bt_a is None or bt_b is None:
        return None
    common, ia, ib = np.intersect1d(bt_a.origins, bt_b.origins, return_indices=True)
    if common.size == 0:
        return None
    a = Backtest(common, bt_a.index[ia], bt_a.mean[ia], bt_a.std[ia], bt_a.observed[ia])
    b = Backtest(common, bt_b.index[ib], bt_b.mean[ib], bt_b.std[ib], bt_b.observed[ib])
    mean, var = mixture_moments(np.stack([a.mean, b.mean]), np.stack([a.std, b.std]) ** 2)
    mix = Backtest(common, a.index, mean, np.sqrt(var), a.observed)
    scores = tuple(backtest_crps(bt) for bt in (a, b, mix))
    better = a if scores[0] <= scores[1] else b
    gain = _origin_crps(better) - _origin_crps(mix)
    gain = gain[np.isfinite(gain)]
    se = float(np.std(gain, ddof=1) / np.sqrt(gain.size)) if gain.size > 1 else np.inf
    return (*scores, se)


def combination_choice(crps_a, crps_b, crps_mix, gain_se) -> int:
    """0 (first candidate), 1 (second) or 2 (their mixture), from :func:`compare_pair`.

    The mixture is taken only when the two are comparable (within
    :data:`~tagi_lstm.config.COMBINE_WITHIN` of each other: equal weights suit
    forecasts of similar accuracy) and its gain over the better one exceeds
    :data:`~tagi_lstm.config.COMBINE_SIGNIFICANCE` standard errors of the
    per-origin gains (a small gain on a short tail is noise); else the better one.
    """
    better = 0 if crps_a <= crps_b else 1
    comparable = max(crps_a, crps_b) <= COMBINE_WITHIN * min(crps_a, crps_b)
    clear = min(crps_a, crps_b) - crps_mix > COMBINE_SIGNIFICANCE * gain_se
    return 2 if comparable and clear else better


def _origin_crps(bt) -> np.ndarray:
    """``(O,)`` mean CRPS of each origin's observed steps (NaN where none is)."""
    out = np.full(len(bt.origins), np.nan)
    for i in range(len(bt.origins)):
        seen = ~np.isnan(bt.observed[i])
        if seen.any() and np.isfinite(bt.mean[i, seen]).all() and (bt.std[i, seen] > 0).all():
            out[i] = metric.crps(bt.mean[i, seen], bt.observed[i, seen], bt.std[i, seen])
    return out


def _score(model, refit, y, covariates, dates, cov_fit, dates_fit, n_fit, origins, horizon,
           epochs, patience) -> tuple:
    """``(mean CRPS, backtest)`` of a candidate over the tail (``(inf, None)`` if it
    cannot be fitted)."""
    usable = origins[origins > model.min_history]
    try:
        model.fit(y[:n_fit], cov_fit, dates_fit, epochs=epochs, patience=patience,
                  refit=refit, progress=False)
        bt = model.backtest(y, horizon, covariates, dates, origins=usable)
    except ValueError:
        return float(np.inf), None
    return backtest_crps(bt), bt


def panel_search(make, series: list, *, horizon: int, season: int | None, epochs: int,
                 patience: int, validation, progress: bool, static=None) -> tuple:
    """Settings of a global panel forecaster, chosen on the series' own ends.

    Every candidate (lookback of :func:`_lookbacks`, with and without seasonal
    differencing when there is a season) is fitted by ``make(**settings)`` to
    the panel without each series' last ``horizon`` steps and forecasts them;
    the score is the mean CRPS over series and steps with each series scaled
    by the mean absolute change between its steps (as MASE scales errors), so
    that large series do not decide alone.

    Args:
        make: ``make(**settings)`` builds an unfitted global forecaster.
        series: the panel's :class:`~tagi_lstm.forecast.panel.SeriesData`.
        horizon, season, epochs, patience, validation, progress: as for
            :func:`search`.
        static: static covariates for every candidate's ``fit`` (see
            :meth:`Forecaster.fit <tagi_lstm.forecast.Forecaster.fit>`).

    Returns:
        ``(settings, report)``: the lowest-scoring settings and one dict per
        candidate (``settings``, ``crps``, ``seconds``; ``crps`` is inf where
        the candidate could not be fitted, with the reason in ``error``).
    """
    shortest = min(len(s.y) for s in series)
    if shortest <= horizon + 1:
        raise ValueError(f"Forecaster.auto: the shortest series has {shortest} steps; "
                         f"choosing settings holds out its last {horizon}")
    inner = {s.id: s.y[:-horizon] for s in series}
    dates = None if series[0].dates is None else {s.id: s.dates[:-horizon] for s in series}
    held = np.stack([s.y[-horizon:] for s in series], axis=1)
    scale = np.array([np.nanmean(np.abs(np.diff(y))) for y in inner.values()])
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    candidates = [{"lookback": L, "seasonal_difference": sd}
                  for L in _lookbacks(season, shortest - horizon)
                  for sd in ((False, True) if season and season > 1 else (False,))]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(candidates), desc="auto (panel)", unit="candidate")
    report = []
    for settings in candidates:
        start = time.perf_counter()
        row = {"stage": "panel", "settings": settings}
        try:
            fc = make(**settings).fit(inner, dates=dates, validation=validation,
                                      epochs=epochs, patience=patience, progress=False,
                                      static=static).forecast(horizon)
            seen = ~np.isnan(held)
            row["crps"] = metric.crps((fc.mean / scale)[seen], (held / scale)[seen],
                                      (fc.std / scale)[seen])
        except ValueError as exc:  # a series too short for these settings
            row["crps"], row["error"] = float(np.inf), str(exc).splitlines()[0]
        row["seconds"] = time.perf_counter() - start
        report.append(row)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    best = min(report, key=lambda r: r["crps"])
    if not np.isfinite(best["crps"]):
        raise ValueError(f"Forecaster.auto: no candidate could be fitted to the panel "
                         f"({best.get('error')})")
    return best["settings"], report
