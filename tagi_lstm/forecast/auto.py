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
    COMBINE_WITHIN,
    FIRST_STEP_MIN_GAIN,
    HYBRID_MAX_SEASON,
    HYBRID_SEASONAL_NOISES,
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


def stages(season: int | None, n_fit: int, calendar: tuple = (), lags=None,
           transforms: tuple = ()) -> list:
    """``[(name, [settings, ...]), ...]``: the groups of settings tried, in order
    (``calendar``: the covariates to try beside none, when the data have dates;
    ``lags``: seasonal differencing lags, default ``[season]``; ``transforms``: the
    :class:`~tagi_lstm.forecast.transform.Power` kinds to try beside none, first,
    so that every later choice is made for the series as it will be modelled)."""
    room = int(0.8 * n_fit) - AUTO_MIN_WINDOWS
    lookbacks = _lookbacks(season, room - (season or 1) - 1)
    differencing = [{"difference": False, "seasonal_difference": False},
                    {"difference": True, "seasonal_difference": False}]
    lags = ([season] if season and season > 1 else []) if lags is None else lags
    for lag in lags:
        if room - lag - lookbacks[0] > 0:
            differencing += [{"difference": False, "seasonal_difference": True, "season": lag},
                             {"difference": True, "seasonal_difference": True, "season": lag}]
    groups = _transform_group("transform", transforms)
    groups += [("differencing", differencing),
               ("linear", [{"linear": False}, {"linear": True}])]
    if calendar:
        groups.append(("calendar", [{"calendar": ()}, {"calendar": tuple(calendar)}]))
    return groups + [
            ("lookback", [{"lookback": L} for L in lookbacks]),
            ("hidden_size", [{"hidden_size": h} for h in (8, 16, 32)]),
            ("noise", [{"noise": "heteroscedastic"}, {"noise": "scheduled"}]),
            ("refit", [{"refit": False}, {"refit": "retrain"}])]


def hybrid_stages(season: int | None, transforms: tuple = ()) -> list:
    """The groups of settings tried for :class:`~tagi_lstm.forecast.HybridForecaster`:
    the transforms of the series beside none (first, as in :func:`stages`), its
    state-space components (a local level alone, with a trend, with a seasonal
    component when ``2 <= season <=`` :data:`~tagi_lstm.config.HYBRID_MAX_SEASON`,
    with both; the seasonal one at each step variance of
    :data:`~tagi_lstm.config.HYBRID_SEASONAL_NOISES`), the level's noise, the
    observation noise, the lookback and how the held-out tail is learned from (the
    base lookback is one season, 16 steps without one)."""
    trend = {"trend_noise": HYBRID_TREND_NOISE}
    components = [{}, trend]
    if season and 2 <= season <= HYBRID_MAX_SEASON:
        for noise in HYBRID_SEASONAL_NOISES:
            seasonal = {"seasonal_noise": noise}
            components += [seasonal, {**trend, **seasonal}]
    lookbacks = [season, 2 * season] if season and season > 1 else [16, 32]
    return _transform_group("hybrid:transform", transforms) + [
        ("hybrid:components", components),
        ("hybrid:level_noise", [{"level_noise": q} for q in (1e-3, 1e-2, 3e-2)]),
        ("hybrid:sigma_v", [{"sigma_v": s} for s in HYBRID_SIGMA_V]),
        ("hybrid:lookback", [{"lookback": min(L, AUTO_MAX_LOOKBACK)} for L in lookbacks]),
        ("hybrid:refit", [{"refit": "retrain"}, {"refit": "online"}])]


def _transform_group(name: str, transforms: tuple) -> list:
    """The group that tries each of ``transforms`` beside none (none without any)."""
    return [(name, [{"transform": k} for k in (None, *transforms)])] if transforms else []


def search(make, y, covariates, dates, *, horizon: int, season: int | None, base: dict,
           epochs: int, patience: int, validation: float, progress: bool,
           calendar: tuple = (), lags=None, transforms: tuple = (), groups=None,
           one_step: bool = True) -> tuple:
    """Choose settings by backtest CRPS on the last ``validation`` fraction of ``y``.

    Args:
        make: ``make(**settings)`` builds an unfitted forecaster.
        y, covariates, dates: the training data.
        horizon: steps each scored forecast covers.
        season: season length (seasonal differencing, lookbacks), or None.
        calendar: calendar covariates to try (with dates), see :func:`calendar_for`.
        lags: seasonal differencing lags to try (default ``[season]``), see
            :func:`seasonal_lags`.
        transforms: transforms of the series to try beside none (``"sqrt"``).
        groups: the groups to walk through instead of :func:`stages`'s
            (e.g. :func:`hybrid_stages`).
        one_step: also forecast every step of the tail one step ahead with each
            candidate (:attr:`Search.first_steps`, for
            :func:`first_step_combination`).
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
        groups = stages(season, n_fit, calendar if dates is not None else (), lags,
                        transforms)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(g) for _, g in groups), desc="auto", unit="candidate")
    tunable = sorted({k for _, options in groups for option in options for k in option}
                     - {"refit"})
    chosen, report, scores, backtests = {"refit": False, **base}, [], {}, {}
    tried, tried_first = [], []
    for name, options in groups:
        best = None
        for option in options:
            settings = {**chosen, **option}
            model = make(**{k: v for k, v in settings.items() if k != "refit"})
            # the settings as the model holds them: naming a default is no new candidate
            key = (settings["refit"], *(_held(model, k, settings) for k in tunable))
            if key not in scores:
                start = time.perf_counter()
                scores[key], backtests[key], first = _score(
                    model, settings["refit"], y, covariates, dates, cov_fit, dates_fit, n_fit,
                    origins, horizon, epochs, patience, one_step)
                report.append({"stage": name, "settings": settings, "crps": scores[key],
                               "seconds": time.perf_counter() - start})
                tried.append(backtests[key])
                tried_first.append(first)
            if best is None or scores[key] < best[0]:
                best = (scores[key], option, key)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(best=f"{min(scores.values()):.4g}")
        chosen.update(best[1])
    if bar is not None:
        bar.close()
    return Search(chosen, scores[best[2]], backtests[best[2]], report, tried, tried_first)


def _held(model, name: str, settings: dict):
    """Setting ``name`` as ``model`` holds it (as given where it holds no such attribute)."""
    value = getattr(model, name, settings.get(name))
    return tuple(value) if isinstance(value, list) else value


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
        backtests: each candidate's backtest, in ``report``'s order (``None``
            where it could not be computed).
        first_steps: each candidate's one-step forecasts of every step of the
            tail, as a backtest of horizon 1 (``None`` likewise, and for every
            candidate without ``one_step``).
    """

    settings: dict
    crps: float
    backtest: object
    report: list
    backtests: list
    first_steps: list


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


def _aligned(bts: list) -> list:
    """The backtests cut to the origins every one of them forecasts from."""
    from .result import Backtest

    common = bts[0].origins
    for bt in bts[1:]:
        common = np.intersect1d(common, bt.origins)
    out = []
    for bt in bts:
        rows = np.searchsorted(bt.origins, common)
        out.append(Backtest(common, bt.index[rows], bt.mean[rows], bt.std[rows],
                            bt.observed[rows]))
    return out


def _mixed(bts: list):
    """The equal-weight mixture of aligned backtests, as one backtest."""
    from .result import Backtest, mixture_moments

    mean, var = mixture_moments(np.stack([bt.mean for bt in bts]),
                                np.stack([bt.std for bt in bts]) ** 2)
    return Backtest(bts[0].origins, bts[0].index, mean, np.sqrt(var), bts[0].observed)


def greedy_combination(backtests: list, most: int) -> tuple:
    """Which candidates to combine: ``(indices into backtests, best first, the
    backtest CRPS of their mixture)``.

    Forward selection on the backtest (ensemble selection): start from the
    lowest-CRPS candidate, then add the candidate whose addition lowers the
    equal-weight mixture's mean CRPS per origin most (scored on the origins
    all chosen forecast from), while fewer than ``most`` are chosen and some
    addition lowers it. Only candidates whose own CRPS is within
    :data:`~tagi_lstm.config.COMBINE_WITHIN` of the best one's are added: equal
    weights suit forecasts of comparable accuracy. ``None`` entries
    (candidates that could not be scored) are skipped; when none could, the
    first is returned alone (fitting it says why).
    """
    scores = np.array([np.inf if bt is None else backtest_crps(bt) for bt in backtests])
    chosen = [int(np.argmin(scores))]
    while len(chosen) < most:
        best = None
        for j in np.flatnonzero(np.isfinite(scores)
                                & (scores <= COMBINE_WITHIN * scores[chosen[0]])):
            if j in chosen:
                continue
            aligned = _aligned([backtests[i] for i in chosen] + [backtests[j]])
            gain = _origin_crps(_mixed(aligned[:-1])) - _origin_crps(_mixed(aligned))
            gain = gain[np.isfinite(gain)]
            if gain.size and gain.mean() > 0 and (best is None or gain.mean() > best[0]):
                best = (gain.mean(), int(j))
        if best is None:
            break
        chosen.append(best[1])
    if len(chosen) == 1:
        return chosen, float(scores[chosen[0]])
    return chosen, backtest_crps(_mixed(_aligned([backtests[i] for i in chosen])))


def first_step_combination(first_steps: list, later: list, most: int) -> tuple:
    """Which candidates to combine for the first forecast step: ``(indices, their
    one-step CRPS)``.

    :func:`greedy_combination` on every candidate's one-step backtest
    (``first_steps``: each a backtest of horizon 1, from every step of the
    tail, :attr:`Search.first_steps`), kept only where it forecasts those steps
    better than ``later`` (the candidates chosen for the whole horizon) by more
    than :data:`~tagi_lstm.config.FIRST_STEP_MIN_GAIN` standard errors of the
    mean gain per step; otherwise ``later`` itself. A short tail makes a noisy
    score: without that margin the choice follows the noise.
    """
    rows, crps = greedy_combination(first_steps, most)
    if sorted(rows) != sorted(later):
        aligned = _aligned([first_steps[i] for i in rows] + [first_steps[i] for i in later])
        gain = (_origin_crps(_mixed(aligned[len(rows):]))
                - _origin_crps(_mixed(aligned[:len(rows)])))
        gain = gain[np.isfinite(gain)]
        if gain.size > 1 and gain.mean() > FIRST_STEP_MIN_GAIN * gain.std(ddof=1) / np.sqrt(
                gain.size):
            return rows, crps
    return list(later), backtest_crps(_mixed(_aligned([first_steps[i] for i in later])))


def _origin_crps(bt) -> np.ndarray:
    """``(O,)`` mean CRPS of each origin's observed steps (NaN where none is)."""
    out = np.full(len(bt.origins), np.nan)
    for i in range(len(bt.origins)):
        seen = ~np.isnan(bt.observed[i])
        if seen.any() and np.isfinite(bt.mean[i, seen]).all() and (bt.std[i, seen] > 0).all():
            out[i] = metric.crps(bt.mean[i, seen], bt.observed[i, seen], bt.std[i, seen])
    return out


def _score(model, refit, y, covariates, dates, cov_fit, dates_fit, n_fit, origins, horizon,
           epochs, patience, one_step) -> tuple:
    """``(mean CRPS, backtest, one-step backtest)`` of a candidate over the tail: its
    ``horizon``-step forecasts from ``origins``, and with ``one_step`` its one-step
    forecasts of every step of the tail (else None; ``(inf, None, None)`` if it
    cannot be fitted)."""
    try:
        model.fit(y[:n_fit], cov_fit, dates_fit, epochs=epochs, patience=patience,
                  refit=refit, progress=False)
        bt = model.backtest(y, horizon, covariates, dates,
                            origins=origins[origins > model.min_history])
        first = None
        if one_step:
            steps = np.arange(max(n_fit, model.min_history + 1), len(y))
            first = model.backtest(y, 1, covariates, dates, origins=steps)
    except ValueError:
        return float(np.inf), None, None
    return backtest_crps(bt), bt, first


def panel_search(make, series: list, *, horizon: int, season: int | None, epochs: int,
                 patience: int, validation, progress: bool, static=None,
                 transforms: tuple = (), depths: tuple = (), combine: int = 1) -> tuple:
    """Settings of global panel forecasters, chosen on the series' own ends.

    Every candidate (lookback of :func:`_lookbacks`, with and without seasonal
    differencing when there is a season) is
    fitted by ``make(**settings)`` to the panel without each series' last
    ``horizon`` steps and forecasts them; the score is the mean CRPS over
    series and steps with each series scaled by the mean absolute change
    between its steps (as MASE scales errors), so that large series do not
    decide alone. Then the best of them is tried with each of ``transforms``
    (one fit each), and the best so far with each number of LSTM layers in
    ``depths``. A series too short for a candidate's window once its last
    steps are held out is left out of that candidate's fit, and the
    candidates are compared on the series every one of them forecast; a
    candidate that some series is too short for even with those steps cannot
    be fitted. Last, up to ``combine`` candidates are chosen by
    :func:`greedy_combination` on those forecasts (each series an origin), as
    :meth:`Forecaster.auto <tagi_lstm.forecast.Forecaster.auto>` combines the
    candidates of one series.

    Args:
        make: ``make(**settings)`` builds an unfitted global forecaster.
        series: the panel's :class:`~tagi_lstm.forecast.panel.SeriesData`.
        horizon, season, epochs, patience, validation, progress: as for
            :func:`search`.
        static: static covariates for every candidate's ``fit`` (see
            :meth:`Forecaster.fit <tagi_lstm.forecast.Forecaster.fit>`).
        transforms: transforms of the series to try beside none (``"sqrt"``).
        depths: numbers of stacked LSTM layers to try beside the default one.
        combine: the most candidates combined (1: the best alone).

    Returns:
        ``(chosen, report)``: the settings of the candidates to combine, the
        lowest-scoring first, and one dict per candidate (``settings``, ``crps``,
        ``seconds``; ``crps`` is inf where the candidate could not be fitted,
        with the reason in ``error``), then, where several are chosen, one for
        their mixture (``stage`` ``"panel combination"``).
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
    grid = [{"lookback": L, "seasonal_difference": sd}
            for L in _lookbacks(season, shortest - horizon)
            for sd in ((False, True) if season and season > 1 else (False,))]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(grid) + len(transforms) + len(depths), desc="auto (panel)",
                   unit="candidate")

    def tried(settings):
        """``(report row, series fitted, scaled forecast means and std or None)``."""
        start = time.perf_counter()
        row = {"stage": "panel", "settings": settings, "crps": float(np.inf)}
        model = make(**settings)
        # one window needs min_history + 1 steps
        fitted = np.array([len(y) > model.min_history for y in inner.values()])
        mean = std = None
        try:
            if shortest <= model.min_history or not fitted.any():
                raise ValueError(f"a series of {shortest} steps is too short for one window "
                                 f"({model.min_history + 1} steps)")
            ids = [s.id for s, keep in zip(series, fitted) if keep]
            fc = model.fit({i: inner[i] for i in ids},
                           dates=None if dates is None else {i: dates[i] for i in ids},
                           validation=validation, epochs=epochs, patience=patience,
                           progress=False, static=static).forecast(horizon)
            mean, std = np.full(held.shape, np.nan), np.full(held.shape, np.nan)
            mean[:, fitted], std[:, fitted] = fc.mean / scale[fitted], fc.std / scale[fitted]
        except ValueError as exc:  # a series too short for these settings
            row["error"] = str(exc).splitlines()[0]
        if not fitted.all():
            row["left_out"] = int((~fitted).sum())
        row["seconds"] = time.perf_counter() - start
        if bar is not None:
            bar.update(1)
        return row, fitted, mean, std

    def common(results):
        """The series every fitted candidate forecast."""
        return np.logical_and.reduce([f for _, f, m, _ in results if m is not None]
                                     or [np.zeros(len(series), bool)])

    def best_of(results):
        """Every row scored on the series all fitted candidates forecast; the best row."""
        seen = ~np.isnan(held) & common(results)
        for row, _, mean, std in results:
            if mean is not None and seen.any():
                row["crps"] = metric.crps(mean[seen], (held / scale)[seen], std[seen])
        return min((r for r, *_ in results), key=lambda r: r["crps"])

    results = [tried(settings) for settings in grid]
    best = best_of(results)
    for key, options in (("transform", transforms), ("num_layers", depths)):
        if np.isfinite(best["crps"]) and options:
            results += [tried({**best["settings"], key: value}) for value in options]
            best = best_of(results)
    if bar is not None:
        bar.close()
    if not np.isfinite(best["crps"]):
        raise ValueError(f"Forecaster.auto: no candidate could be fitted to the panel "
                         f"({best.get('error')})")
    report = [r for r, *_ in results]
    if combine < 2:
        return [best["settings"]], report
    from .result import Backtest

    rows = np.flatnonzero(common(results))  # each series an origin of `horizon` steps
    tails = [None if mean is None else
             Backtest(rows, np.tile(np.arange(horizon), (len(rows), 1)), mean[:, rows].T,
                      std[:, rows].T, (held / scale)[:, rows].T)
             for _, _, mean, std in results]
    chosen, crps = greedy_combination(tails, combine)
    if len(chosen) > 1:
        report.append({"stage": "panel combination",
                       "settings": [report[i]["settings"] for i in chosen], "crps": crps})
    return [report[i]["settings"] for i in chosen], report
