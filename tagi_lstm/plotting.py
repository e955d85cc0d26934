"""Plots of Gaussian forecasts (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

import numpy as np

from . import metric
from ._validation import check_positive_int

#: Band shades: wider intervals lighter.
_BAND_ALPHA = {0.5: 0.35, 0.8: 0.25, 0.9: 0.18, 0.95: 0.12}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install matplotlib "
                          "(or tagi_lstm[examples])") from exc
    return plt


def plot_forecast(forecast, *, history=None, history_index=None, truth=None,
                  boundary=None, boundary_label="train / test", levels=(0.5, 0.9),
                  label="forecast", color="C3", ax=None, title=None):
    """Draw a forecast's mean and its central interval bands.

    Args:
        forecast: a :class:`~tagi_lstm.forecast.Forecast`.
        history: ``(n,)`` observed values before (or during) the forecast,
            drawn in grey, with ``history_index`` as their x values.
        truth: ``(len(forecast),)`` the observed values of the forecast
            steps, drawn in black.
        boundary: x value of the train/test boundary (a dotted line).
        boundary_label: legend text of that line.
        levels: interval levels drawn as bands.
        label, color: legend text and colour of the mean.
        ax: matplotlib axes to draw in (default: a new figure).
        title: axes title.

    Returns:
        The matplotlib axes.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4))
    x = forecast.index
    if history is not None:
        ax.plot(history_index, history, color="0.55", lw=0.8, label="observed (history)")
    if truth is not None:
        ax.plot(x, truth, "k", lw=0.8, label="observed")
    for level in sorted(levels, reverse=True):
        lower, upper = forecast.interval(level)
        ax.fill_between(x, lower, upper, color=color, alpha=_BAND_ALPHA.get(level, 0.2), lw=0,
                        label=f"{100 * level:g}% interval")
    ax.plot(x, forecast.mean, color=color, lw=1.2, label=f"{label} mean")
    if boundary is not None:
        ax.axvline(boundary, color="0.3", ls=":", lw=1, label=boundary_label)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_reliability(prediction, observation, std, *, levels=None, ax=None, label=None):
    """Reliability diagram: observed against nominal coverage of central intervals.

    Points on the diagonal are calibrated; below it the intervals are too
    narrow (over-confident), above it too wide.

    Args:
        prediction, observation, std: as for :func:`tagi_lstm.metric.calibration`.
        levels: nominal levels (default ``0.05 ... 0.95``).
        ax: matplotlib axes (default: a new figure).
        label: legend text.

    Returns:
        The matplotlib axes.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    nominal, observed = metric.calibration(prediction, observation, std, levels)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    ax.plot(nominal, observed, "o-", ms=3, label=label)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("observed coverage")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    if label:
        ax.legend(loc="upper left", fontsize=8)
    return ax



def plot_backtest(backtest, *, levels=(0.5, 0.9), axes=None, label=None):
    """Coverage and width of a backtest's intervals against the horizon.

    Left: the observed coverage of each central interval per horizon step,
    beside its nominal level (dashed); calibrated intervals follow their
    dashed line. Right: the mean interval width per step, which should grow
    where the errors do (the RMSE per step is drawn for comparison).

    Args:
        backtest: a :class:`~tagi_lstm.forecast.Backtest`.
        levels: interval levels to draw.
        axes: two matplotlib axes (default: a new figure).
        label: legend text of this backtest (to overlay several).

    Returns:
        The two axes.
    """
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    scores = backtest.scores(levels)
    steps = np.arange(1, backtest.horizon + 1)
    cov_ax, width_ax = axes
    for k, level in enumerate(levels):
        tag = f"{100 * level:g}"
        color = f"C{k}"
        name = f"{tag}%" + (f" ({label})" if label else "")
        cov_ax.plot(steps, scores[f"coverage_{tag}"], "o-", ms=3, color=color, label=name)
        cov_ax.axhline(level, color=color, ls="--", lw=0.8)
        width_ax.plot(steps, scores[f"width_{tag}"], "o-", ms=3, color=color,
                      label=f"{name} width")
    width_ax.plot(steps, scores["rmse"], "k:", lw=1, label="RMSE" + (f" ({label})" if label
                                                                     else ""))
    cov_ax.set_ylim(0, 1.02)
    cov_ax.set_xlabel("horizon (steps)")
    cov_ax.set_ylabel("observed coverage")
    width_ax.set_xlabel("horizon (steps)")
    width_ax.set_ylabel("mean interval width")
    for ax in axes:
        ax.legend(fontsize=8)
    return axes


def plot_panel(forecast, *, history=None, dates=None, ids=None, max_series=6, ncols=3,
               tail=None, levels=(0.5, 0.9), axes=None):
    """Small multiples of a panel's forecasts: each series in its own axes
    (:func:`plot_forecast`), its recent history in grey before them.

    Args:
        forecast: a :class:`~tagi_lstm.forecast.PanelForecast`.
        history: the panel the forecasts continue, in any form ``Forecaster.fit``
            takes (a 2-D array NaN-padded at the top, a wide or long data frame, a
            dict of series); ``None`` draws the forecasts alone.
        dates: the history's dates, as ``fit`` takes them.
        ids: the series to draw (default: the first ``max_series``).
        max_series: how many series to draw when ``ids`` is not given.
        ncols: axes per row (at most one per series).
        tail: history steps drawn per series (default: four times the forecast's
            length).
        levels: interval levels drawn as bands.
        axes: matplotlib axes, at least one per series (default: a new figure).

    Returns:
        The axes, ``(rows, ncols)`` for a new figure (those left over hidden).
    """
    from .forecast.panel import as_panel

    where = "plot_panel"
    ncols = check_positive_int(ncols, name="ncols", where=where)
    if tail is not None:
        tail = check_positive_int(tail, name="tail", where=where)
    plt = _pyplot()
    ids = list(forecast.ids[:max_series]) if ids is None else list(ids)
    if not ids:
        raise ValueError(f"{where}: no series to draw (ids is empty or max_series < 1)")
    parts = [forecast[name] for name in ids]  # an unknown id is a KeyError naming the ids
    past = {}
    if history is not None:
        past = {s.id: s for s in as_panel(history, dates, where=where)}
        missing = [name for name in ids if name not in past]
        if missing:
            raise ValueError(f"{where}: the history has no series {missing[:10]}")
    if axes is None:
        ncols = min(ncols, len(ids))
        rows = -(-len(ids) // ncols)
        _, axes = plt.subplots(rows, ncols, figsize=(4.2 * ncols, 2.8 * rows), squeeze=False)
    flat = np.ravel(axes)
    if len(flat) < len(ids):
        raise ValueError(f"{where}: {len(ids)} series need as many axes; got {len(flat)}")
    for k, (ax, name, part) in enumerate(zip(flat, ids, parts)):
        drawn = {}
        if name in past:
            y, stamps = past[name].y, past[name].dates
            keep = slice(max(0, len(y) - (tail or 4 * len(part))), len(y))
            drawn = {"history": np.asarray(y, dtype=np.float64)[keep],
                     "history_index": (np.arange(len(y)) if stamps is None else stamps)[keep]}
        plot_forecast(part, levels=levels, ax=ax, title=str(name), **drawn)
        if k:  # one legend says it for all
            ax.get_legend().remove()
    for ax in flat[len(ids):]:
        ax.set_visible(False)
    return axes
