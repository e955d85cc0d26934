"""What the forecasters share: the series seen (whole, or only its most recent steps),
the members' kept epochs, the held-out split, the fitted check, and panels of many
series fitted one network per series."""

from __future__ import annotations

import dataclasses
import inspect
import json
import time

import numpy as np

from .._validation import check_positive_int
from ..config import PANEL_BLOCKS_PER_THREAD, PROGRESS_POLL
from ..exceptions import NotFittedError
from .panel import PanelForecast, as_panel, stack_backtests
from .result import Forecast, Mixture
from .transform import Power


class PanelCalls:
    """The calls of a forecaster that holds a panel: ``panel_`` maps each series' id to
    that series' forecaster (a :class:`ForecasterBase`, or a
    :class:`~tagi_lstm.forecast.Combination` of them), and ``predict``, ``forecast``,
    ``backtest`` and ``update`` run each series' own."""

    #: After ``fit`` on a panel: ``{series id: forecaster}``, one per series; else None.
    panel_: dict | None = None

    def _panel_each(self, call, y, covariates, dates, where, stored=False) -> tuple:
        """``call(forecaster, series)`` for each series of the panel ``y`` (with
        ``stored``, each fitted series when ``y`` is None, ``series`` then None):
        ``(ids, results)``."""
        if covariates is not None:
            raise ValueError(f"{where}: covariates are not taken with a panel of series")

        def run(model, s):
            try:
                return call(model, s)
            finally:  # one series' buffers at a time, not the whole panel's
                model._release_buffers()

        if y is None:
            if not stored:
                raise ValueError(f"{where}: give the panel of series (y)")
            return list(self.panel_), [run(m, None) for m in self.panel_.values()]
        series = as_panel(y, dates, where=where)
        unknown = [s.id for s in series if s.id not in self.panel_]
        if unknown:
            raise ValueError(f"{where}: series {unknown[:10]} were not in the panel fitted "
                             f"(its ids: {list(self.panel_)[:10]})")
        results = []
        for s in series:
            try:
                results.append(run(self.panel_[s.id], s))
            except ValueError as exc:
                raise ValueError(f"series {s.id!r}: {exc}") from None
        return [s.id for s in series], results

    def _panel_forecasts(self, call, y, covariates, dates, where,
                         stored=False) -> PanelForecast:
        return PanelForecast(*self._panel_each(call, y, covariates, dates, where, stored))

    def _panel_predict(self, y, covariates, dates, where) -> PanelForecast:
        return self._panel_forecasts(lambda m, s: m.predict(s.y, dates=s.dates), y,
                                     covariates, dates, where)

    def _panel_update(self, y_new, covariates_new, dates_new, where) -> PanelForecast:
        return self._panel_forecasts(lambda m, s: m.update(s.y, dates_new=s.dates), y_new,
                                     covariates_new, dates_new, where)

    def _panel_backtest(self, call, y, covariates, dates, origins, where):
        if origins is not None:
            raise ValueError(f"{where}: a panel is backtested from each series' own start "
                             f"(start=, stride=), not from shared origins")
        ids, backtests = self._panel_each(call, y, covariates, dates, where)
        return stack_backtests(ids, backtests)


class ForecasterBase(PanelCalls):
    """The parts :class:`~tagi_lstm.forecast.Forecaster` and
    :class:`~tagi_lstm.forecast.HybridForecaster` share (each has ``members_``, whose
    items have a ``best_epoch``).

    It keeps ``_y`` (and ``_cov``, ``_dates`` where the forecaster has them) for
    ``forecast()`` without a history, the default start of ``backtest`` and ``save``.

    With ``max_history`` only the last ``max(max_history, min_history)`` steps are kept,
    so a forecaster that streams ``update`` calls for ever holds bounded memory;
    ``n_seen_`` still counts every step, and positions (integer indices of forecasts
    without dates) go on from there.
    """

    max_history: int | None = None
    _dropped = 0
    _y = _cov = _dates = None
    #: What the networks model: ``g(y)`` (``transform``), or ``y`` itself.
    _power = Power()

    @property
    def transform(self) -> str | None:
        """The transform the networks model the series through (``None``: ``y`` itself)."""
        return self._power.kind

    def __repr__(self) -> str:
        """The constructor call with the arguments that differ from its defaults, e.g.
        ``Forecaster(lookback=52, transform='sqrt')`` (what ``auto`` chose, at a glance)."""
        defaults = {name: p.default for name, p in
                    inspect.signature(type(self).__init__).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        args = [f"{name}={_plain(value)!r}" for name, value in self._config().items()
                if name in defaults and _plain(value) != _plain(defaults[name])]
        return f"{type(self).__name__}({', '.join(args)})"

    @property
    def best_epochs_(self) -> tuple:
        """The epoch each member kept."""
        return tuple(m.best_epoch for m in self.members_)

    @property
    def best_epoch_(self):
        """The epoch the first member kept."""
        return self.members_[0].best_epoch if self.members_ else None

    def _check_fitted(self, what: str) -> None:
        if not self.members_ and self.panel_ is None:
            raise NotFittedError(f"{type(self).__name__}.{what}: this forecaster is not "
                                 f"fitted yet; call fit() first")

    @staticmethod
    def _training_steps(y, validation, where: str) -> int:
        """Steps of ``y`` trained on when the last ``validation`` is held out: a fraction
        in ``[0, 1)`` of the steps, or a whole number of steps (an ``int >= 1``, as
        competitions fix the validation tail of series of any length)."""
        if isinstance(validation, (int, np.integer)) and not isinstance(validation, bool) \
                and validation >= 1:
            if validation >= len(y):
                raise ValueError(f"{where}: validation={validation} steps leaves nothing to "
                                 f"train on in a series of {len(y)} steps")
            return len(y) - int(validation)
        if not 0 <= validation < 1:
            raise ValueError(f"{where}: validation must be a fraction in [0, 1) or a whole "
                             f"number of steps; got {validation}")
        return len(y) - round(validation * len(y))

    @staticmethod
    def _check_max_history(value, where: str):
        return None if value is None else check_positive_int(value, name="max_history",
                                                             where=where)

    @property
    def n_seen_(self) -> int:
        """Steps seen by ``fit`` and ``update``, kept or not."""
        return self._dropped + (0 if self._y is None else len(self._y))

    def _remember(self, y, cov, dates) -> None:
        """After ``fit``: the training series (trimmed to ``max_history``)."""
        self._dropped = 0
        self._y, self._cov, self._dates = y, cov, dates
        self._trim()

    def _extend(self, y_new, cov_new, dates_new) -> None:
        """After ``update``: the new steps appended (then trimmed)."""
        self._y = np.concatenate([self._y, y_new])
        if cov_new is not None:
            self._cov = np.concatenate([self._cov, cov_new])
        if dates_new is not None:
            self._dates = np.concatenate([self._dates, dates_new])
        self._trim()

    def _trim(self) -> None:
        if self.max_history is None:
            return
        keep = max(self.max_history, self.min_history)
        drop = len(self._y) - keep
        if drop > 0:
            self._y = self._y[drop:].copy()
            self._cov = None if self._cov is None else self._cov[drop:].copy()
            self._dates = None if self._dates is None else self._dates[drop:].copy()
            self._dropped += drop

    def _in_units(self, result):
        """A :class:`~tagi_lstm.forecast.Forecast` or
        :class:`~tagi_lstm.forecast.Backtest` of the modelled ``g(y)`` in the units of
        ``y`` (``transform``; unchanged without one): exact moments, each variance
        component scaled as the variance, noise by its square root, and the
        transformed Gaussian itself as the ``distribution`` its intervals come from."""
        if not self._power:
            return result
        mean, std = self._power.moments(result.mean, result.std)
        ratio = np.divide(std, result.std, out=np.ones_like(std), where=result.std > 0)
        changes = {"mean": mean, "std": std,
                   "distribution": Mixture.gaussian(result.mean, result.std, self._power.kind)}
        if result.components is not None:
            changes["components"] = {k: v * ratio ** 2 for k, v in result.components.items()}
        if isinstance(result, Forecast):
            changes["noise_std"] = result.noise_std * ratio
            if result.samples is not None:
                changes["samples"] = self._power.values(result.samples)
        return dataclasses.replace(result, **changes)

    def _release_buffers(self) -> None:
        """Free the members' work buffers, sized for their last batch: a fitted panel
        of many series would otherwise hold (and a Dask worker send back) several
        times the networks' parameters per series. The next call allocates them
        again, with the same results."""
        for member in self.members_:
            member.release_buffers()

    # ------------------------------------------------------------------ panels
    def _fit_panel(self, y, covariates, dates, where, progress, client=None, **fit) -> None:
        """One forecaster of this one's settings per series of the panel ``y``, each
        fitted as ``fit`` fits one series (the same seed: a series fits exactly as it
        would alone), kept in :attr:`panel_`; with a ``dask.distributed`` ``client``,
        one task per series on its workers."""
        if covariates is not None:
            raise ValueError(f"{where}: covariates are not taken with a panel of series")
        series = as_panel(y, dates, where=where)
        ids = [s.id for s in series]
        if len(set(map(repr, ids))) != len(ids):
            raise ValueError(f"{where}: the panel's series ids repeat: {ids[:10]}")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(series), desc="fit", unit="series")
        config = self._config()
        if client is None:
            fitted = self._fit_here(series, fit, bar)
        else:
            from distributed import Queue

            # a few blocks per worker thread: each block fits together (_fit_here), and
            # the blocks balance the load between the workers
            threads = sum(client.nthreads().values()) or 1
            n_blocks = min(len(series), PANEL_BLOCKS_PER_THREAD * threads)
            bounds = [len(series) * k // n_blocks for k in range(n_blocks + 1)]
            blocks = [series[a:b] for a, b in zip(bounds, bounds[1:])]
            # the workers report each series they finish, so the bar moves per series
            finished = Queue() if bar is not None else None
            futures = [client.submit(_fit_block, type(self), config, block, fit, finished,
                                     pure=False) for block in blocks]
            while bar is not None:
                done = all(future.done() for future in futures)
                count = sum(finished.get(batch=True))
                if count:  # update(0) would redraw the bar at every poll
                    bar.update(count)
                if done:
                    break
                time.sleep(PROGRESS_POLL)
            fitted = [model for part in client.gather(futures) for model in part]
        if bar is not None:
            bar.close()
        self.members_, self.panel_ = [], dict(zip(ids, fitted))

    def _fit_here(self, series, fit: dict, bar) -> list:
        """The forecasters of a panel's series fitted in this process, one after another."""
        fitted, config = [], self._config()
        for s in series:
            fitted.append(_fit_one(type(self), config, s.y, s.dates, fit))
            if bar is not None:
                bar.update(1)
        return fitted

    def _fit_one_series(self, client, where) -> None:
        """Before ``fit`` on one series: ``client=`` spreads a panel's series only, and
        a panel fitted before is dropped."""
        if client is not None:
            raise ValueError(f"{where}: client= spreads the series of a panel over a Dask "
                             f"cluster; y is one series")
        self.panel_ = None

    def _panel_arrays(self) -> dict:
        """What ``save`` writes for a panel: the settings, the ids and each series'
        forecaster's arrays under ``series<i>/``."""
        ids = [i.item() if isinstance(i, np.generic) else i for i in self.panel_]
        try:
            header = json.dumps({"kind": type(self).__name__, "config": self._config(),
                                 "ids": ids})
        except TypeError:
            raise ValueError(f"{type(self).__name__}.save: series ids must be numbers or "
                             f"strings to be saved; got {ids[:5]}") from None
        arrays = {"__panel__": np.array(header)}
        for i, model in enumerate(self.panel_.values()):
            arrays.update({f"series{i}/{k}": v for k, v in model._arrays().items()})
        return arrays

    @classmethod
    def _from_panel_arrays(cls, data, header: dict):
        """The panel forecaster :meth:`_panel_arrays` described."""
        from .combination import ArrayBundle

        self = cls(**header["config"])
        models = {}
        for i, name in enumerate(header["ids"]):
            prefix = f"series{i}/"
            share = ArrayBundle({k[len(prefix):]: data[k] for k in data.files
                                 if k.startswith(prefix)})
            models[name] = cls._from_arrays(share)
        if header["config"].get("mode") == "global":
            # saved once per series, identical: one shared ensemble again, as fitted
            shared = next(iter(models.values()))
            for model in models.values():
                model.members_, model.history_ = shared.members_, shared.history_
        self.members_, self.panel_ = [], models
        return self


def _fit_one(kind, config: dict, y, dates, fit: dict):
    """A forecaster of class ``kind`` and settings ``config`` fitted to one series of a
    panel."""
    return kind(**config).fit(y, None, dates, progress=False, **fit)


class _Reported:
    """A progress bar's ``update`` on a Dask worker: it puts each count on the client's
    ``distributed.Queue``."""

    def __init__(self, queue):
        self.queue = queue

    def update(self, n: int = 1) -> None:
        self.queue.put(n)


def _fit_block(kind, config: dict, series: list, fit: dict, finished=None) -> list:
    """The forecasters of a block of a panel's series, fitted as this process fits a
    panel (a module-level function, so a Dask worker can run it); each series done
    is put on the queue ``finished`` when there is one."""
    bar = None if finished is None else _Reported(finished)
    return kind(**config)._fit_here(series, fit, bar)


def _plain(value):
    """A setting as its constructor takes it: a list (as configurations store a
    sequence) becomes a tuple."""
    return tuple(value) if isinstance(value, list) else value
