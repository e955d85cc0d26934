r"""Equal-weight combinations of fitted forecasters, and loading any saved forecaster.

A :class:`Combination` of forecasters :math:`i = 1..n` (for example the best
:class:`~tagi_lstm.forecast.Forecaster` and the best
:class:`~tagi_lstm.forecast.HybridForecaster` that
:meth:`Forecaster.auto <tagi_lstm.forecast.Forecaster.auto>` found) forecasts
the equal-weight mixture of their predictive distributions (each a Gaussian, or a
Gaussian of a transformed series mapped back), with its exact moments
(:func:`~tagi_lstm.forecast.mixture_moments`):

.. math::

    m = \frac1n \sum_i m_i, \qquad
    v = \frac1n \sum_i v_i + \frac1n \sum_i (m_i - m)^2.

Its variance parts are each forecaster's parts averaged (a part one of them
does not have counts as zero), with their disagreement, the second term,
added to ``"ensemble"``; they add up to :math:`v`. Its intervals and quantiles are
the mixture's own (:class:`~tagi_lstm.forecast.Mixture`), not those of the Gaussian
with these moments: where the forecasters disagree, the mixture is skewed or has two
modes. Combining forecasts whose errors are not perfectly correlated lowers the
expected CRPS below the average of theirs, and it is robust where a short validation
tail cannot tell which one to trust.

The first step may be forecast by another mixture than the later ones
(``first_step``): the model that follows the last observations most closely is
often not the one whose recursion holds up over a season (a differenced
network against a seasonally differenced one on a smooth weekly series, say),
and a one-step forecast (:meth:`Combination.update`'s, a filter's) asks for the
former. Each step's forecast is still one mixture's exact moments; the two
mixtures' steps are not joined into one sample path.
"""

from __future__ import annotations

import json

import numpy as np

from .._validation import check_positive_int
from ..persist import open_npz, save_npz
from .base import PanelCalls
from .model import backtest_horizon
from .result import Backtest, Forecast, Mixture, mixture_with_parts


class ArrayBundle(dict):
    """Named arrays with the ``files`` listing of an ``NpzFile`` (one model's share of a
    combination's file)."""

    @property
    def files(self) -> list:
        return list(self)


def _mixture(outs: list) -> tuple:
    """``(mean, variance, components)`` of the mixture of ``outs``: objects with ``mean``,
    ``std`` and ``components`` (arrays of one shape)."""
    return mixture_with_parts([o.mean for o in outs], [o.std ** 2 for o in outs],
                              [o.components or {} for o in outs])


def _distribution(outs: list, first_step: list, later_steps: list) -> Mixture:
    """The mixture that combined forecasts summarise: every forecaster's distribution
    (its Gaussian where it has none), the forecasters of ``first_step`` weighing
    equally at the first step (the first entry of the last axis) and those of
    ``later_steps`` at the others."""
    shape = np.shape(outs[0].mean)
    means, stds, weights, kinds = [], [], [], ()
    for i, out in enumerate(outs):
        own = out.distribution or Mixture.gaussian(out.mean, out.std)
        share = np.full(shape, (i in later_steps) / len(later_steps))
        share[..., :1] = (i in first_step) / len(first_step)
        means.append(own.mean)
        stds.append(own.std)
        weights.append(own.weight * share)
        kinds += own.kinds
    return Mixture(np.concatenate(means), np.concatenate(stds), np.concatenate(weights), kinds)


def _combine(outs: list, first_step: list, later_steps: list) -> tuple:
    """:func:`_mixture` of ``outs[i]`` for ``i`` in ``later_steps``, its first step (the
    first entry of the last axis) replaced by the mixture of ``first_step``'s; and their
    :func:`_distribution`."""
    distribution = _distribution(outs, first_step, later_steps)
    mean, var, parts = _mixture([outs[i] for i in later_steps])
    if first_step == later_steps:
        return mean, var, parts, distribution
    mean1, var1, parts1 = _mixture([outs[i] for i in first_step])
    zero = np.zeros_like(mean)

    def stitch(first, later):
        out = np.array(later, dtype=np.float64)
        out[..., :1] = first[..., :1]
        return out

    parts = {k: stitch(parts1.get(k, zero), parts.get(k, zero))
             for k in dict.fromkeys([*parts1, *parts])}
    return stitch(mean1, mean), stitch(var1, var), parts, distribution


class Combination(PanelCalls):
    """The equal-weight mixture of fitted forecasters (see the module docstring).

    Forecasters fitted to the same panel of series (local or global) combine series by
    series: ``forecast``, ``backtest`` and ``update`` then take and return what theirs
    do (a :class:`~tagi_lstm.forecast.panel.PanelForecast`, a pooled backtest), each
    series' the mixture of the forecasters' forecasts of that series.

    Args:
        models: two or more fitted forecasters fitted on the same series, or all on
            the same panel
            (:class:`~tagi_lstm.forecast.Forecaster`,
            :class:`~tagi_lstm.forecast.HybridForecaster`).
        first_step: indices into ``models`` of those mixed for the first step
            of every forecast (and every one-step forecast of :meth:`update`);
            default: all of them.
        later_steps: indices of those mixed for the steps after it; default:
            all of them. Every model must be in one of the two.

    Attributes:
        models, first_step, later_steps: as given (the index lists sorted).
        panel_: for forecasters of a panel, ``{series id: Combination}`` of each
            series' forecasters; else None.
    """

    def __init__(self, models, first_step=None, later_steps=None):
        models = list(models)
        if len(models) < 2:
            raise ValueError(f"Combination: needs two or more forecasters; got {len(models)}")
        self.first_step, self.later_steps = (
            _indices(rows, len(models), name) for rows, name in
            ((first_step, "first_step"), (later_steps, "later_steps")))
        unused = set(range(len(models))) - set(self.first_step) - set(self.later_steps)
        if unused:
            raise ValueError(f"Combination: models {sorted(unused)} are in neither first_step "
                             f"nor later_steps")
        for m in models:
            for method in ("forecast", "backtest", "update", "_arrays"):
                if not callable(getattr(m, method, None)):
                    raise TypeError(f"Combination: {type(m).__name__} is not a forecaster "
                                    f"(no {method}())")
        self.models = models
        panels = [getattr(m, "panel_", None) for m in models]
        if any(p is not None for p in panels):
            if any(p is None or list(p) != list(panels[0]) for p in panels):
                raise ValueError("Combination: the forecasters must all be fitted to one "
                                 "series, or all to the same panel of series (the same "
                                 "ids, in the same order)")
            self.panel_ = {i: Combination([p[i] for p in panels], self.first_step,
                                          self.later_steps) for i in panels[0]}
            return
        if not all(getattr(m, "members_", None) for m in models):
            raise ValueError("Combination: every forecaster must be fitted first")
        lengths = {m.n_seen_ for m in models}
        if len(lengths) > 1:
            raise ValueError(f"Combination: the forecasters have seen series of different "
                             f"lengths {sorted(lengths)}; fit them on the same series")

    def __repr__(self) -> str:
        split = ("" if self.first_step == self.later_steps else
                 f", first_step={self.first_step}, later_steps={self.later_steps}")
        return f"Combination([{', '.join(map(repr, self.models))}]{split})"

    # attributes a caller of auto() reads, from the first forecaster
    @property
    def season(self):
        return self.models[0].season

    @property
    def min_history(self) -> int:
        return max(m.min_history for m in self.models)

    @property
    def history_(self) -> list:
        return self.models[0].history_

    @property
    def best_epoch_(self):
        return self.models[0].best_epoch_

    @property
    def best_epochs_(self) -> tuple:
        return tuple(e for m in self.models for e in m.best_epochs_)

    def _release_buffers(self) -> None:
        for m in self.models:
            m._release_buffers()

    def forecast(self, horizon: int, y=None, covariates=None, dates=None) -> Forecast:
        """The mixture of every forecaster's :meth:`forecast` (same arguments)."""
        if self.panel_ is not None:
            return self._panel_forecasts(
                lambda c, s: c.forecast(horizon, **({} if s is None else
                                                    {"y": s.y, "dates": s.dates})),
                y, covariates, dates, "Combination.forecast", stored=True)
        outs = [m.forecast(horizon, y=y, covariates=covariates, dates=dates)
                for m in self.models]
        mean, var, components, distribution = _combine(outs, self.first_step,
                                                       self.later_steps)
        return Forecast(mean, np.sqrt(var), outs[0].index, np.sqrt(components["noise"]),
                        components, distribution=distribution)

    def backtest(self, y, horizon: int | None = None, covariates=None, dates=None, *,
                 start: int | None = None, stride: int = 1, origins=None) -> Backtest:
        """Rolling-origin evaluation of the mixture: every forecaster's :meth:`backtest`
        from the same origins (default: from the end of what they have seen)."""
        where = "Combination.backtest"
        if self.panel_ is not None:
            return self._panel_backtest(
                lambda c, s: c.backtest(s.y, horizon, dates=s.dates, start=start,
                                        stride=stride), y, covariates, dates, origins, where)
        horizon = backtest_horizon(horizon, self.season, where)
        stride = check_positive_int(stride, name="stride", where=where)
        if origins is None:
            start = self.models[0].n_seen_ if start is None else start
            origins = np.arange(start, len(y) - horizon + 1, stride)
        outs = [m.backtest(y, horizon, covariates, dates, origins=origins)
                for m in self.models]
        mean, var, components, distribution = _combine(outs, self.first_step,
                                                       self.later_steps)
        return Backtest(outs[0].origins, outs[0].index, mean, np.sqrt(var), outs[0].observed,
                        components, distribution=distribution)

    def update(self, y_new, covariates_new=None, dates_new=None) -> Forecast:
        """Every forecaster learns from the new steps; returns the mixture of their
        one-step forecasts made before each."""
        if self.panel_ is not None:
            return self._panel_update(y_new, covariates_new, dates_new, "Combination.update")
        outs = [m.update(y_new, covariates_new, dates_new) for m in self.models]
        first = [outs[i] for i in self.first_step]
        mean, var, components = _mixture(first)
        noise = components.get("noise", np.zeros_like(mean))
        every = list(range(len(first)))
        return Forecast(mean, np.sqrt(var), outs[0].index, np.sqrt(noise), components,
                        distribution=_distribution(first, every, every))

    def save(self, filename) -> None:
        """Save every forecaster into one ``.npz``, atomically."""
        header = {"models": len(self.models), "first_step": self.first_step,
                  "later_steps": self.later_steps}
        arrays = {"__combination__": np.array(json.dumps(header))}
        for i, m in enumerate(self.models):
            arrays.update({f"model{i}/{k}": v for k, v in m._arrays().items()})
        save_npz(filename, arrays)

    @classmethod
    def load(cls, filename) -> Combination:
        """A combination written by :meth:`save`."""
        return load_any(filename, "Combination.load", cls)

    @classmethod
    def _from_arrays(cls, data) -> Combination:
        header = json.loads(str(data["__combination__"]))
        models = []
        for i in range(header["models"]):
            prefix = f"model{i}/"
            share = ArrayBundle({k[len(prefix):]: data[k] for k in data.files
                                 if k.startswith(prefix)})
            kind, panel = _saved_kind(share)
            if kind is None:
                raise ValueError(f"Combination.load: the file is damaged: model {i} is not a "
                                 f"saved forecaster")
            models.append(_restore(kind, panel, share))
        return cls(models, header.get("first_step"), header.get("later_steps"))


def _indices(rows, count: int, name: str) -> list:
    """``rows`` as a sorted list of distinct indices below ``count`` (all of them for None)."""
    if rows is None:
        return list(range(count))
    out = sorted({int(i) for i in rows})
    if not out or len(out) != len(rows) or out[0] < 0 or out[-1] >= count:
        raise ValueError(f"Combination: {name} must hold distinct indices of the {count} "
                         f"models; got {list(rows)}")
    return out


def _kinds() -> dict:
    """``{marker key: class}`` of the saved forecasters."""
    from .hybrid import HybridForecaster
    from .model import Forecaster

    return {"__forecaster__": Forecaster, "__hybrid__": HybridForecaster,
            "__combination__": Combination}


def _kind(data):
    """The class whose marker key ``data`` holds, or None."""
    return next((k for marker, k in _kinds().items() if marker in data.files), None)


def _panel_kind(header):
    """The forecaster class a panel file's header names, or None (a damaged header)."""
    if not isinstance(header, dict) or not {"kind", "config", "ids"} <= set(header):
        return None
    return {k.__name__: k for k in _kinds().values()
            if hasattr(k, "_from_panel_arrays")}.get(header["kind"])


def _saved_kind(data) -> tuple:
    """``(class, panel header)`` of the forecaster ``data`` holds: a panel's arrays (one
    forecaster per series) name their class in their ``__panel__`` header, the others
    carry their class's marker key (header None; class None: not a saved forecaster)."""
    header = json.loads(str(data["__panel__"])) if "__panel__" in data.files else None
    return (_kind(data) if header is None else _panel_kind(header)), header


def _restore(kind, header, data):
    """The forecaster of class ``kind`` that ``data`` holds (a panel's with ``header``)."""
    return kind._from_arrays(data) if header is None else \
        kind._from_panel_arrays(data, header)


def load_any(filename, where: str, expected=None):
    """Whatever forecaster ``filename`` holds (written by a ``save``); with ``expected``,
    only a forecaster of that class."""
    with open_npz(filename, where, None, "saved forecaster") as data:
        kind, header = _saved_kind(data)
        if kind is None or (expected is not None and kind is not expected):
            what = "forecaster" if expected is None else expected.__name__
            raise ValueError(f"{where}: {filename} is not a saved {what}")
        return _restore(kind, header, data)
