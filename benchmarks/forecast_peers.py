"""Forecast quality of tagi_lstm's Forecaster beside the tools a forecaster would pick instead.

Protocol (the same for every method)
------------------------------------
Series. Seven real series that ship inside installable packages, loaded offline
(:data:`SERIES`): each has timestamps, a season length ``m`` and a horizon
``H`` of one season (``nile`` has no season: ``H = 10`` and the seasonal naive
method uses ``m = 1``, the random walk).

Split. The last 20 % of each series is the test part (``taylor``: the last two
weeks, 672 steps); the rest is the training part. Every method is fitted ONCE
on the training part; any setting it chooses (ETS form by AICc, ARIMA orders,
early stopping of ours on its own validation split) is chosen on the training
part only.

Origins. Origin ``o`` means the history is ``y[:o]`` and the truth is
``y[o:o+H]``. Origins run from the first test step to ``n - H`` with the
smallest stride that gives at most 50 origins (the stride is recorded). At
each origin every method conditions on the history ``y[:o]`` without
re-estimating its parameters:

- seasonal naive: forecasts ``y[t - m * ceil(h / m)]`` for target step
  ``t = o + h - 1`` (the last observed value of the same season), Gaussian with
  standard deviation ``sd * sqrt(ceil(h / m))`` where ``sd`` is the standard
  deviation of the training part's seasonal differences ``y[t] - y[t - m]``;
- ETS (statsmodels ``ETSModel``, additive errors; trend none / additive /
  additive damped, seasonal none / additive when ``m > 1`` and the training
  part holds at least two seasons; initial states estimated or heuristic; the
  lowest AICc on the training part wins): the fitted parameters (smoothing,
  damping) and initial states re-filter the history
  (``ETSModel(history, initialization_method="known", ...).smooth(params)``);
  analytic Gaussian intervals;
- AutoARIMA (statsforecast, ``season_length=m``, R's rule for the CSS
  approximation during the order search: series longer than 150 steps or
  ``m > 12``): ``forward`` on the history with the fitted model; its
  intervals are Gaussian, so the 90 % interval gives the standard deviation;
- DeepAR (GluonTS, torch): trained once for a fixed number of epochs
  (:data:`DEEPAR`), then predicts 200 sample paths from each truncated
  history; fixed seed;
- ours (``tagi_lstm.forecast.Forecaster``), seeds 0, 1 and 2, through
  :func:`fit_ours`. Variant ``default`` keeps the fitted network;
  ``online`` also learns (``Forecaster.update``) from the test steps before
  each origin, in order, before forecasting from it (never from the truth).

Missing values. NaN truth values (``co2``) are skipped in every score. The
peers get each history ``y[:o]`` (and the training part) after linear
interpolation within that history alone (a NaN run at its end takes the last
observed value, so nothing is read from beyond ``o``); ours gets the history
as it is (it fills its inputs causally and skips NaN targets).

Scores, per series, method and horizon step ``h = 1..H``: CRPS, RMSE, MAE,
50 % and 90 % interval coverage and the mean width of the 90 % interval.
Gaussian CRPS by ``tagi_lstm.metric.crps`` (closed form), sample CRPS by
``tagi_lstm.metric.crps_ensemble`` (exact energy form over the 200 samples);
each figure is checked against ``scoringrules``. Interval bounds of samples
are their empirical quantiles and their point forecast is the sample mean.
Ours: intervals and CRPS are those of the forecaster's own distribution
(``Forecast.distribution``, a transformed Gaussian or a mixture where it is not
Gaussian: its quantiles, ``Mixture.crps``), checked against scoringrules'
``crps_mixnorm`` where every part is Gaussian and against its ``crps_quantile`` (the
quantile score at 999 levels, an approximation within about 1e-5) where a part is
transformed. Its automatic configuration still chooses on the CRPS of the Gaussian
with the forecasts' mean and standard deviation. The run fails (exit 1) where a CRPS
figure disagrees with its check by more than :data:`CHECK_TOLERANCE` (relative).
The report gives CRPS at ``h = 1`` ("one step") and its mean over
``h = 1..H`` ("one season"), and coverage and width in three horizon buckets:
``h = 1``, ``2 <= h <= ceil(H/2)``, ``ceil(H/2) < h <= H``. A later bucket also
targets later steps than ``h = 1`` does, so its RMSE moves with what happened at
those steps; "growth" compares each of its forecasts with the one-step forecast of
the same target step (RMSE and mean 90 % width, ratio to ``h = 1``), which is how
much errors and widths grow with the horizon itself.

Outputs. A markdown report (``--output``, default
``benchmarks/results/forecast_peers.md``) and a JSON file beside it with every
per-horizon figure. The peers' forecasts are cached per series and method
under ``benchmarks/results/forecast_peers/cache/`` so that a new variant of
ours does not retrain DeepAR; ``--refresh`` recomputes them. Ours is always
recomputed (it is the code under test).

Usage::

    python benchmarks/forecast_peers.py [--series taylor,co2,...]
        [--methods naive,ets,arima,deepar,ours] [--ours default,online]
        [--seeds 0,1,2] [--refresh] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.special import ndtri

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagi_lstm import metric
from tagi_lstm.forecast import Mixture


# ----------------------------------------------------------------------- the series
@dataclass(frozen=True)
class Spec:
    """One benchmark series: how to load it and how to forecast it."""

    load: Callable[[], np.ndarray]  # the values, NaN for missing steps
    start: str            # timestamp of the first step
    freq: str             # pandas date_range alias of the step
    season: int           # m (1: no season)
    horizon: int          # H
    about: str
    test: int | None = None  # steps in the test part (default: the last 20 %)


SERIES = {  # name: Spec(loader, first timestamp, step, m, H, description[, test steps])
    "taylor": Spec(lambda: _pmdarima("load_taylor"), "2000-06-05 00:00", "30min", 48, 48,
                   "half-hourly UK electricity demand (pmdarima)", test=672),
    "co2": Spec(lambda: _statsmodels("co2", "co2"), "1958-03-29", "W-SAT", 52, 52,
                "weekly Mauna Loa CO2, NaN weeks (statsmodels)"),
    "elnino": Spec(lambda: _statsmodels("elnino", None), "1950-01-01", "MS", 12, 12,
                   "monthly El Nino sea surface temperature 1950-2010 (statsmodels)"),
    "wineind": Spec(lambda: _pmdarima("load_wineind"), "1980-01-01", "MS", 12, 12,
                    "monthly Australian wine sales (pmdarima)"),
    "woolyrnq": Spec(lambda: _pmdarima("load_woolyrnq"), "1965-01-01", "QS-JAN", 4, 4,
                     "quarterly Australian woollen yarn production (pmdarima)"),
    "sunspots": Spec(lambda: _statsmodels("sunspots", "SUNACTIVITY"), "1700-01-01", "YS", 11,
                     11, "yearly sunspot numbers 1700-2008, 11-year cycle (statsmodels)"),
    "nile": Spec(lambda: _statsmodels("nile", "volume"), "1871-01-01", "YS", 1, 10,
                 "yearly Nile flow at Aswan 1871-1970, no season (statsmodels)"),
}

MAX_ORIGINS = 50
LEVELS = (0.5, 0.9)  # central intervals scored
SEEDS = (0, 1, 2)
DEEPAR = {"context_multiple": 2, "epochs": 40, "num_batches_per_epoch": 50, "batch_size": 32,
              "num_samples": 200, "seed": 0}
CACHE = ROOT / "benchmarks" / "results" / "forecast_peers" / "cache"
Z90 = float(ndtri(0.95))


def _pmdarima(loader: str) -> np.ndarray:
    """A series from ``pmdarima.datasets``."""
    import pmdarima.datasets as ds

    return np.asarray(getattr(ds, loader)(), dtype=np.float64)


def _statsmodels(name: str, column: str | None) -> np.ndarray:
    """A series from ``statsmodels.datasets``; ``column=None`` flattens a year x month table
    (its first column is the year)."""
    import importlib

    data = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
    if column is None:
        return data.iloc[:, 1:].to_numpy(dtype=np.float64).reshape(-1)
    return data[column].to_numpy(dtype=np.float64)


@dataclass
class Series:
    """A loaded series with its split and forecast origins."""

    name: str
    spec: Spec
    y: np.ndarray
    dates: np.ndarray       # datetime64[s]
    n_train: int
    origins: np.ndarray
    stride: int

    @property
    def truth(self) -> np.ndarray:
        """``(origins, H)`` observed values (NaN where missing)."""
        return np.stack([self.y[o:o + self.spec.horizon] for o in self.origins])


def load_series(name: str) -> Series:
    """Load a series of :data:`SERIES`, split it and place its forecast origins."""
    import pandas as pd

    spec = SERIES[name]
    y = spec.load()
    n = len(y)
    dates = pd.date_range(spec.start, periods=n, freq=spec.freq).values.astype("datetime64[s]")
    n_test = spec.test if spec.test is not None else round(0.2 * n)
    n_train = n - n_test
    count = n - spec.horizon - n_train + 1
    stride = max(1, math.ceil(count / MAX_ORIGINS))
    origins = np.arange(n_train, n - spec.horizon + 1, stride)
    return Series(name, spec, y, dates, n_train, origins, stride)


def interpolate(y: np.ndarray) -> np.ndarray:
    """Linear interpolation of NaN inside ``y`` alone; NaN at either end take the nearest
    observed value (so a history never borrows from its future)."""
    missing = np.isnan(y)
    if not missing.any():
        return y
    t = np.arange(len(y))
    return np.interp(t, t[~missing], y[~missing])


# ----------------------------------------------------------------------- forecasts
@dataclass
class Result:
    """Forecasts of one method on one series, one row per origin.

    Gaussian forecasts fill ``mean`` and ``std`` ``(origins, H)``; sample forecasts fill
    ``samples`` ``(origins, H, S)`` and ``mean`` with their mean. ``distribution``, a
    ``Mixture`` over ``(origins, H)``, is the method's own predictive distribution
    (ours): its quantiles bound the intervals and its CRPS is scored.
    """

    mean: np.ndarray
    std: np.ndarray | None = None
    samples: np.ndarray | None = None
    fit_seconds: float = 0.0
    forecast_seconds: float = 0.0
    info: str = ""
    cached: bool = False
    distribution: Mixture | None = None

    def save(self, path: Path, key: str) -> None:
        """Write to ``path`` (``.npz``) with the cache ``key`` it answers."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"mean": self.mean, "key": np.array(key), "info": np.array(self.info),
                  "seconds": np.array([self.fit_seconds, self.forecast_seconds])}
        if self.std is not None:
            arrays["std"] = self.std
        if self.samples is not None:
            arrays["samples"] = self.samples.astype(np.float32)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path, key: str) -> Result | None:
        """The cached result at ``path`` if it answers ``key``, else None."""
        if not path.exists():
            return None
        with np.load(path) as data:
            if str(data["key"]) != key:
                return None
            fit_s, fc_s = data["seconds"]
            return cls(mean=data["mean"], std=data.get("std", None),
                       samples=data["samples"].astype(np.float64) if "samples" in data
                       else None, fit_seconds=float(fit_s), forecast_seconds=float(fc_s),
                       info=str(data["info"]), cached=True)


class Peer:
    """A competing method: fitted once on the (interpolated) training part, then asked for
    forecasts from every (interpolated) history. Subclasses set ``key``, ``label`` and
    ``needs`` and implement :meth:`fit` and :meth:`forecast_one` (or :meth:`forecast_all`)."""

    key = label = ""
    needs: tuple = ()
    info = ""

    def missing(self) -> str | None:
        """Why this peer cannot run (a package is not installed), or None."""
        absent = [m for m in self.needs if importlib.util.find_spec(m) is None]
        return f"not installed: {', '.join(absent)}" if absent else None

    def config(self) -> dict:
        """Settings that change the forecasts (part of the cache key)."""
        return {}

    def fit(self, y_train: np.ndarray, dates_train: np.ndarray, spec: Spec) -> None:
        """Estimate everything on the training part; set ``self.info`` (what was chosen)."""
        raise NotImplementedError

    def forecast_one(self, y_hist: np.ndarray, dates_hist: np.ndarray):
        """``(mean, std)`` of the next ``H`` steps, Gaussian."""
        raise NotImplementedError

    def forecast_all(self, histories, dates_list, progress) -> Result:
        """Forecasts from every history (one per origin)."""
        means, stds = zip(*(self.forecast_one(y, d) for y, d in
                            progress(zip(histories, dates_list), total=len(histories))))
        return Result(mean=np.stack(means), std=np.stack(stds))


class SeasonalNaive(Peer):
    """The last observed value of the same season; spread from the training part's
    seasonal differences, growing with the square root of the seasons spanned."""

    key, label = "naive", "seasonal naive"

    def fit(self, y_train, dates_train, spec):
        self.m, self.horizon = spec.season, spec.horizon
        self.sd = float(np.std(y_train[self.m:] - y_train[:-self.m]))
        self.info = f"m = {self.m}, sd of seasonal differences {self.sd:.4g}"

    def forecast_one(self, y_hist, dates_hist):
        """``(mean, std)``: step ``h`` repeats ``y[o + h - 1 - m * ceil(h / m)]``."""
        h = np.arange(1, self.horizon + 1)
        seasons_back = np.ceil(h / self.m).astype(int)
        o = len(y_hist)
        return y_hist[o + h - 1 - self.m * seasons_back], self.sd * np.sqrt(seasons_back)


class ETS(Peer):
    """statsmodels' additive-error ETS, its form chosen by AICc on the training part.

    Each form is fitted twice, with the initial states estimated jointly with the
    smoothing parameters and with statsmodels' heuristic (decomposition) initial states,
    and the lowest AICc of all wins: on taylor (m = 48) the joint estimation stalls at a
    poor optimum (one-step residual sd 1184 against 349 with heuristic initial states).
    """

    key, label, needs = "ets", "ETS", ("statsmodels",)

    def config(self):
        return {"initialization": ["estimated", "heuristic"], "states": "known at forecast"}

    def fit(self, y_train, dates_train, spec):
        """Fit every candidate by maximum likelihood; keep the lowest AICc."""
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        self.horizon = spec.horizon
        seasonal = [None]
        if spec.season > 1 and len(y_train) >= 2 * spec.season:
            seasonal.append("add")
        fits = []
        for trend, damped in ((None, False), ("add", False), ("add", True)):
            for season in seasonal:
                kw = {"error": "add", "trend": trend, "damped_trend": damped,
                      "seasonal": season, "seasonal_periods": spec.season if season else None}
                for init in ("estimated", "heuristic"):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            res = ETSModel(pd.Series(y_train), initialization_method=init,
                                           **kw).fit(disp=False)
                    except Exception as exc:  # noqa: BLE001 - a failing fit is no candidate
                        print(f"  ETS {kw} {init}: failed ({exc})", file=sys.stderr)
                        continue
                    if np.isfinite(res.aicc):
                        fits.append((res.aicc, self._name(kw, init), kw, res))
        if not fits:
            raise RuntimeError("no ETS form could be fitted")
        fits.sort(key=lambda f: f[0])
        aicc, name, self.kw, res = fits[0]
        # the fitted initial states, fixed ("known"), so each history is re-filtered from
        # exactly the states and parameters estimated on the training part
        self.initial = {"initial_level": res.initial_level}
        if self.kw["trend"]:
            self.initial["initial_trend"] = res.initial_trend
        if self.kw["seasonal"]:
            self.initial["initial_seasonal"] = res.initial_seasonal
        fitted = dict(zip(res.param_names, res.params))
        names = ETSModel(pd.Series(y_train), initialization_method="known", **self.initial,
                         **self.kw).param_names
        self.smoothing = np.array([fitted[n] for n in names])
        self.info = f"{name}, AICc {aicc:.1f}" + (
            f" (next: {fits[1][1]}, {fits[1][0]:.1f})" if len(fits) > 1 else "")

    @staticmethod
    def _name(kw: dict, init: str) -> str:
        """``ETS(A,Ad,A) heuristic initial states`` and the like."""
        trend = {None: "N", "add": "A"}[kw["trend"]] + ("d" if kw["damped_trend"] else "")
        return f"ETS(A,{trend},{'A' if kw['seasonal'] else 'N'}) {init} initial states"

    def forecast_one(self, y_hist, dates_hist):
        """``(mean, std)`` after re-filtering the history with the fitted states and
        parameters."""
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        o = len(y_hist)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ETSModel(pd.Series(y_hist), initialization_method="known",
                             **self.initial, **self.kw)
            res = model.smooth(self.smoothing)
            # get_prediction needs a pandas endog (with a NumPy one it fails on .index)
            pred = res.get_prediction(start=o, end=o + self.horizon - 1)
        return np.asarray(pred.predicted_mean), np.sqrt(np.asarray(pred.var_pred_mean))


class AutoARIMA(Peer):
    """statsforecast's AutoARIMA (Hyndman-Khandakar stepwise search, AICc)."""

    key, label, needs = "arima", "AutoARIMA", ("statsforecast",)

    def config(self):
        return {"approximation": "R rule (n > 150 or m > 12)"}

    def fit(self, y_train, dates_train, spec):
        """Search the orders on the training part and fit the chosen model."""
        from statsforecast.models import AutoARIMA as SFAutoARIMA

        self.horizon = spec.horizon
        # approximation=None applies R's rule; statsforecast's default (False) takes tens
        # of minutes on taylor's m = 48 seasonal search
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.model = SFAutoARIMA(season_length=spec.season, approximation=None).fit(y_train)
        try:
            from statsforecast.arima import arima_string

            self.info = arima_string(self.model.model_).strip()
        except Exception:  # noqa: BLE001 - the description is cosmetic
            self.info = str(self.model.model_.get("arma"))
        if caught:
            self.info += f" ({len(caught)} warnings during the order search, e.g. " \
                         f"'{str(caught[0].message).strip()}')"

    def forecast_one(self, y_hist, dates_hist):
        """``(mean, std)`` from the fitted model run over the history (no re-estimation)."""
        out = self.model.forward(y=y_hist, h=self.horizon, level=[90])
        sd = (out["hi-90"] - out["lo-90"]) / (2 * Z90)
        return np.asarray(out["mean"]), np.asarray(sd)


class DeepAR(Peer):
    """GluonTS' DeepAR (torch): an autoregressive LSTM with a Student-t output, trained on
    random windows of the training part; forecasts are sample paths."""

    key, label, needs = "deepar", "DeepAR", ("gluonts", "torch", "lightning")

    # GluonTS wants period aliases, which differ from date_range's for these steps
    PERIOD: ClassVar[dict] = {"MS": "M", "QS-JAN": "Q", "YS": "Y"}

    def config(self):
        return dict(DEEPAR)

    def fit(self, y_train, dates_train, spec):
        """Train for the fixed budget of :data:`DEEPAR` (no validation split)."""
        import lightning
        import pandas as pd
        import torch
        from gluonts.dataset.common import ListDataset
        from gluonts.torch import DeepAREstimator

        self.freq = self.PERIOD.get(spec.freq, spec.freq)
        self.start = pd.Period(pd.Timestamp(dates_train[0]), freq=self.freq)
        # one thread: DeepAR's LSTM is small, and on a 2-core machine with other work
        # running, two OpenMP threads made training 30-60x slower (measured)
        torch.set_num_threads(1)
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        lightning.seed_everything(DEEPAR["seed"], verbose=False)
        estimator = DeepAREstimator(
            freq=self.freq, prediction_length=spec.horizon,
            context_length=DEEPAR["context_multiple"] * spec.horizon,
            batch_size=DEEPAR["batch_size"],
            num_batches_per_epoch=DEEPAR["num_batches_per_epoch"],
            trainer_kwargs={"max_epochs": DEEPAR["epochs"], "accelerator": "cpu",
                                "enable_progress_bar": False, "enable_model_summary": False,
                                "logger": False, "default_root_dir": None})
        data = ListDataset([{"start": self.start, "target": y_train}], freq=self.freq)
        # GluonTS adds its own checkpoint callback: keep its files out of the repository
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GluonTS/torch deprecation notices, per batch
            estimator.trainer_kwargs["default_root_dir"] = tmp
            self.predictor = estimator.train(data)
        self.info = (f"context {DEEPAR['context_multiple']} x H, {DEEPAR['epochs']} epochs "
                     f"x {DEEPAR['num_batches_per_epoch']} batches of {DEEPAR['batch_size']}")

    def forecast_all(self, histories, dates_list, progress):
        """Sample paths from every history, in one batched prediction."""
        import torch
        from gluonts.dataset.common import ListDataset

        torch.manual_seed(DEEPAR["seed"])
        data = ListDataset([{"start": self.start, "target": y} for y in histories],
                           freq=self.freq)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forecasts = self.predictor.predict(data, num_samples=DEEPAR["num_samples"])
            samples = np.stack([f.samples.T for f in progress(forecasts,
                                                               total=len(histories))])
        samples = samples.astype(np.float64)  # scored in float64, like every other method
        return Result(mean=samples.mean(axis=2), samples=samples)


PEERS = {cls.key: cls for cls in (SeasonalNaive, ETS, AutoARIMA, DeepAR)}


# ------------------------------------------------------------------------------ ours
# Pass timestamps to the Forecaster (set False if its date handling is in flux: they only
# label the forecasts, as no variant uses calendar features)
OURS_PASS_DATES = True
OURS_VARIANTS = {}


def ours_variant(name: str):
    """Register ``fn(y_train, dates_train, season, horizon, seed) -> predictor`` as a variant
    of ours, selectable by ``--ours name``; the predictor's ``forecast(y_hist, dates_hist)``
    returns ``(mean, std)`` of the next ``horizon`` steps."""
    def register(fn):
        OURS_VARIANTS[name] = fn
        return fn
    return register


class OursFixed:
    """Forecasts from any history with the fitted network as it is."""

    def __init__(self, model, horizon: int):
        self.model, self.horizon = model, horizon

    method = None  # the forecaster's default propagation

    def forecast(self, y_hist, dates_hist):
        """``(mean, std, distribution)`` of the ``horizon`` steps after ``y_hist``: the
        forecaster's own ``Mixture`` (a Gaussian one where its forecast is Gaussian;
        a transformed series or a combination makes it non-Gaussian)."""
        fc = self.model.forecast(self.horizon, y=y_hist,
                                 dates=dates_hist if OURS_PASS_DATES else None,
                                 **({"method": self.method} if self.method else {}))
        mean, std = np.asarray(fc.mean), np.asarray(fc.std)
        return mean, std, fc.distribution or Mixture.gaussian(mean, std)


class OursOnline(OursFixed):
    """Learns from the steps of each history it has not seen yet (``Forecaster.update``),
    then forecasts. Histories must come in order, each extending the previous one."""

    def __init__(self, model, horizon: int, seen: int):
        super().__init__(model, horizon)
        self.seen = seen

    def forecast(self, y_hist, dates_hist):
        if len(y_hist) < self.seen:
            raise ValueError(f"online forecasts need growing histories: got {len(y_hist)} "
                             f"steps after {self.seen}")
        if len(y_hist) > self.seen:
            new_dates = dates_hist[self.seen:] if OURS_PASS_DATES else None
            self.model.update(y_hist[self.seen:], dates_new=new_dates)
            self.seen = len(y_hist)
        return super().forecast(y_hist, dates_hist)


def _fit_forecaster(y_train, dates_train, season, seed, **fit):
    """The Forecaster of the ``default`` variant, fitted on the training part."""
    from tagi_lstm.forecast import Forecaster

    lookback = max(8, min(2 * season, 96))
    model = Forecaster(lookback=lookback, hidden_size=16, noise="heteroscedastic", seed=seed)
    return model.fit(y_train, dates=dates_train if OURS_PASS_DATES else None, epochs=50,
                     progress=False, **fit)


class OursDiagonal(OursFixed):
    """Forecasts whose fed-back variances TAGI's forward pass alone carries."""

    method = "diagonal"


@ours_variant("before")
def _ours_before(y_train, dates_train, season, horizon, seed):
    """The forecaster as it was before automatic settings and the linearized propagation:
    the ``default`` settings, the early-stopped network kept (no refit), multi-step
    variances carried by TAGI's forward pass alone (``method="diagonal"``)."""
    model = _fit_forecaster(y_train, dates_train, season, seed, refit=False)
    return OursDiagonal(model, horizon)


@ours_variant("default")
def _ours_default(y_train, dates_train, season, horizon, seed):
    """The brief's baseline configuration, network frozen after fitting."""
    return OursFixed(_fit_forecaster(y_train, dates_train, season, seed), horizon)


@ours_variant("online")
def _ours_online(y_train, dates_train, season, horizon, seed):
    """The ``default`` network, then online TAGI updates on the test steps before each
    origin."""
    model = _fit_forecaster(y_train, dates_train, season, seed)
    return OursOnline(model, horizon, seen=len(y_train))


_AUTO_FITS = {}  # (len, season, horizon, seed) -> saved file of the automatic fit


def _auto_copy(y_train, dates_train, season, horizon, seed, calibrated: bool):
    """A fresh copy of ``Forecaster.auto``'s model (5-member ensemble; with
    ``calibrated``, a per-horizon calibration fitted on the training part's tail, which
    leaves the hybrid out of the search): fitted once per series, seed and
    calibration, reloaded for each variant, so the variants that share a fit differ
    only in how they forecast."""
    from tagi_lstm.forecast import Forecaster

    key = (len(y_train), season, horizon, seed, calibrated)
    if key not in _AUTO_FITS:
        model = Forecaster.auto(y_train, dates=dates_train, horizon=horizon,
                                season=season if season > 1 else None, ensemble=5,
                                calibrate=calibrated, seed=seed, progress=False)
        path = Path(tempfile.mkdtemp()) / "auto.npz"
        model.save(path)
        _AUTO_FITS[key] = (path, model.auto_settings_)
    path, settings = _AUTO_FITS[key]
    model = Forecaster.load(path)
    model.auto_settings_ = settings
    return model


@ours_variant("auto")
def _ours_auto(y_train, dates_train, season, horizon, seed):
    """``Forecaster.auto``: settings chosen on a backtest of the training part, a
    5-member ensemble, no variance calibration; frozen after fitting."""
    return OursFixed(_auto_copy(y_train, dates_train, season, horizon, seed, False), horizon)


@ours_variant("auto_cal")
def _ours_auto_cal(y_train, dates_train, season, horizon, seed):
    """``auto`` with its per-horizon variance calibration (fitted on the training part's
    held-out tail)."""
    return OursFixed(_auto_copy(y_train, dates_train, season, horizon, seed, True), horizon)


@ours_variant("auto_online")
def _ours_auto_online(y_train, dates_train, season, horizon, seed):
    """``auto``, then online TAGI updates on the test steps before each origin."""
    model = _auto_copy(y_train, dates_train, season, horizon, seed, False)
    return OursOnline(model, horizon, seen=len(y_train))


def fit_ours(y_train, dates_train, season: int, horizon: int, seed: int,
             variant: str = "default"):
    """Our method fitted on the training part: an object whose
    ``forecast(y_hist, dates_hist)`` returns ``(mean, std)`` arrays of length ``horizon``.

    Args:
        y_train: ``(n_train,)`` training part, NaN where missing.
        dates_train: ``(n_train,)`` its timestamps (``datetime64[s]``).
        season: season length ``m`` (1: none).
        horizon: steps to forecast, ``H``.
        seed: seed of the initial weights and shuffling.
        variant: a name registered with :func:`ours_variant`.
    """
    if variant not in OURS_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {sorted(OURS_VARIANTS)}")
    return OURS_VARIANTS[variant](y_train, dates_train, season, horizon, seed)


def run_ours(series: Series, variant: str, seed: int, progress) -> Result:
    """Fit ours once and forecast from every origin, in order."""
    t0 = time.perf_counter()
    predictor = fit_ours(series.y[:series.n_train], series.dates[:series.n_train],
                         series.spec.season, series.spec.horizon, seed, variant)
    t1 = time.perf_counter()
    means, stds, parts = zip(*(predictor.forecast(series.y[:o], series.dates[:o])
                               for o in progress(series.origins)))
    t2 = time.perf_counter()
    info = ""
    model = getattr(predictor, "model", None)
    if model is not None and getattr(model, "auto_settings_", None):
        info = (f"chosen {type(model).__name__} {model.auto_settings_}, "
                f"best epochs {model.best_epochs_}")
        first = getattr(model, "first_step", None)
        if first is not None and first != model.later_steps:
            info += (f"; the first step from models {first}, the later steps from "
                     f"{model.later_steps} (counted from 0)")
    elif model is not None and getattr(model, "best_epoch_", None) is not None:
        info = f"lookback {model.lookback}, best epoch {model.best_epoch_}"
    distribution = Mixture(*(np.stack([getattr(d, a) for d in parts], axis=1)
                             for a in ("mean", "std", "weight")), parts[0].kinds)
    return Result(mean=np.stack(means), std=np.stack(stds), fit_seconds=t1 - t0,
                  forecast_seconds=t2 - t1, info=info, distribution=distribution)


def run_peer(peer: Peer, series: Series, refresh: bool, progress) -> Result:
    """A peer's forecasts from the cache, or fitted and computed (then cached)."""
    key = json.dumps({"series": series.name, "n": len(series.y), "n_train": series.n_train,
                      "season": series.spec.season, "horizon": series.spec.horizon,
                      "origins": series.origins.tolist(), "method": peer.key,
                      "config": peer.config()}, sort_keys=True)
    path = CACHE / f"{series.name}__{peer.key}.npz"
    if not refresh:
        cached = Result.load(path, key)
        if cached is not None:
            return cached
    y_peer = [interpolate(series.y[:o]) for o in series.origins]
    t0 = time.perf_counter()
    peer.fit(interpolate(series.y[:series.n_train]), series.dates[:series.n_train],
             series.spec)
    t1 = time.perf_counter()
    result = peer.forecast_all(y_peer, [series.dates[:o] for o in series.origins], progress)
    result.fit_seconds, result.forecast_seconds = t1 - t0, time.perf_counter() - t1
    result.info = peer.info
    result.save(path, key)
    return result


# ---------------------------------------------------------------------------- scores
def buckets(horizon: int):
    """The three horizon buckets ``[(label, steps h)]``: ``{1}``, ``2..ceil(H/2)``, the rest
    (a bucket with no step is left out)."""
    half = math.ceil(horizon / 2)
    parts = [[1], list(range(2, half + 1)), list(range(half + 1, horizon + 1))]
    return [(f"h={steps[0]}" if len(steps) == 1 else f"h={steps[0]}-{steps[-1]}", steps)
            for steps in parts if steps]


def _bounds(result: Result, level: float):
    """Lower and upper ``(origins, H)`` bounds of the central ``level`` interval."""
    if result.distribution is not None:
        return (result.distribution.quantile(0.5 - level / 2),
                result.distribution.quantile(0.5 + level / 2))
    if result.samples is not None:
        q = np.quantile(result.samples, [0.5 - level / 2, 0.5 + level / 2], axis=2)
        return q[0], q[1]
    half = float(ndtri(0.5 + level / 2)) * result.std
    return result.mean - half, result.mean + half


def score(result: Result, truth: np.ndarray) -> dict:
    """Per-horizon scores of ``(origins, H)`` forecasts against ``truth`` (NaN skipped).

    Returns a dict of lists over ``h = 1..H``: ``crps``, ``crps_check`` (scoringrules'
    figure), ``rmse``, ``mae``, ``coverage_50``, ``coverage_90``, ``width_90`` and
    ``observed`` (how many origins have an observed truth at that step); with a
    ``distribution``, also ``crps_moments``, the CRPS of the Gaussian with the same
    means and standard deviations.
    """
    import scoringrules as sr

    horizon = truth.shape[1]
    out = {k: [] for k in ("crps", "crps_check", "rmse", "mae", "coverage_50", "coverage_90",
                           "width_90")}
    bounds = {level: _bounds(result, level) for level in LEVELS}
    own = None if result.distribution is None else result.distribution.crps(truth)
    if own is not None:
        out["crps_moments"] = []
    for j in range(horizon):
        obs = truth[:, j]
        keep = ~np.isnan(obs)
        if not keep.any():
            for values in out.values():
                values.append(float("nan"))
            continue
        if result.samples is not None:
            out["crps"].append(metric.crps_ensemble(result.samples[:, j], obs))
            check = sr.crps_ensemble(obs[keep], result.samples[keep, j], estimator="nrg",
                                     backend="numpy")
        elif own is not None:
            out["crps"].append(float(np.mean(own[keep, j])))
            check = _crps_check(result.distribution[keep, j], obs[keep])
            out["crps_moments"].append(metric.crps(result.mean[:, j], obs, result.std[:, j]))
        else:
            out["crps"].append(metric.crps(result.mean[:, j], obs, result.std[:, j]))
            check = sr.crps_normal(obs[keep], result.mean[keep, j], result.std[keep, j],
                                   backend="numpy")
        out["crps_check"].append(float(np.mean(check)))
        out["rmse"].append(metric.rmse(result.mean[:, j], obs))
        out["mae"].append(metric.mae(result.mean[:, j], obs))
        for level in LEVELS:
            lo, hi = bounds[level][0][keep, j], bounds[level][1][keep, j]
            inside = (obs[keep] >= lo) & (obs[keep] <= hi)
            out[f"coverage_{100 * level:g}"].append(float(np.mean(inside)))
        lo, hi = bounds[0.9][0][keep, j], bounds[0.9][1][keep, j]
        out["width_90"].append(float(np.mean(hi - lo)))
    out["observed"] = (~np.isnan(truth)).sum(axis=0).tolist()
    return out


#: Levels scoringrules' quantile score is averaged over to check a transformed CRPS.
CHECK_LEVELS = (np.arange(999) + 0.5) / 999
#: Largest relative disagreement with scoringrules: its closed forms and ensemble
#: estimator are exact, its quantile score on :data:`CHECK_LEVELS` an approximation.
CHECK_TOLERANCE = {"exact": 1e-6, "quantile score": 1e-4}


def check_kind(result: Result) -> str:
    """Which of :data:`CHECK_TOLERANCE`'s checks scores ``result``'s CRPS."""
    gaussian = result.distribution is None or _all_gaussian(result.distribution)
    return "exact" if gaussian else "quantile score"


def _all_gaussian(distribution: Mixture) -> bool:
    """Whether no part of ``distribution`` is transformed."""
    return all(kind is None for kind in distribution.kinds)


def _crps_check(distribution: Mixture, obs: np.ndarray) -> np.ndarray:
    """scoringrules' CRPS of a ``Mixture`` at observations ``obs`` ``(n,)``: closed form
    where every part is Gaussian, else the quantile score over :data:`CHECK_LEVELS`."""
    import scoringrules as sr

    if _all_gaussian(distribution):
        return sr.crps_mixnorm(obs, distribution.mean.T, distribution.std.T,
                               distribution.weight.T, backend="numpy")
    quantiles = distribution.quantile(CHECK_LEVELS[:, None])
    return sr.crps_quantile(obs, quantiles.T, CHECK_LEVELS, backend="numpy")


def same_target_growth(result: Result, truth: np.ndarray, origins: np.ndarray) -> dict:
    """How errors and 90 % widths grow from ``h = 1`` on the same target steps.

    The forecast of step ``h`` from origin ``o`` targets step ``o + h - 1``, so a
    bucket of later steps forecasts later target steps than ``h = 1`` does, and its
    RMSE moves with what happened at those steps too (a forecast that ignores the
    horizon shows it). Each (origin, step) of a later bucket is paired with the one-step
    forecast of the same target step (made from origin ``o + h - 1`` where that is an
    origin; none are with a stride that does not divide ``h - 1``). Returns, per later
    bucket ``b``: ``error_growth|b``, the RMSE of the bucket's paired errors ÷ the RMSE of
    their one-step partners', ``width_growth|b``, the same ratio of mean 90 % widths, and
    ``pairs|b`` (NaN ratios without a pair).
    """
    lower, upper = _bounds(result, 0.9)
    err, width = truth - result.mean, upper - lower
    row_of = {int(o): i for i, o in enumerate(origins)}
    out = {}
    for label, steps in buckets(truth.shape[1])[1:]:
        later, first = [], []
        for i, o in enumerate(origins):
            for h in steps:
                j = row_of.get(int(o) + h - 1)
                if j is not None and not np.isnan(err[i, h - 1]):
                    later.append((err[i, h - 1], width[i, h - 1]))
                    first.append((err[j, 0], width[j, 0]))
        out[f"pairs|{label}"] = len(later)
        if later:
            later, first = np.array(later), np.array(first)
            out[f"error_growth|{label}"] = float(np.sqrt(np.mean(later[:, 0] ** 2)
                                                         / np.mean(first[:, 0] ** 2)))
            out[f"width_growth|{label}"] = float(later[:, 1].mean() / first[:, 1].mean())
        else:
            out[f"error_growth|{label}"] = out[f"width_growth|{label}"] = float("nan")
    return out


def bucket_mean(per_h: list, counts: list, steps: list) -> float:
    """Mean of a per-step figure over the steps of a bucket, weighted by observed counts
    (so a bucket's coverage is the share of all its observed (origin, step) pairs)."""
    values = np.array([per_h[h - 1] for h in steps], dtype=float)
    weights = np.array([counts[h - 1] for h in steps], dtype=float)
    ok = weights > 0
    return float(np.sum(values[ok] * weights[ok]) / np.sum(weights[ok])) if ok.any() \
        else float("nan")


def summary(scores: dict, horizon: int) -> dict:
    """The report's cells of one method: CRPS one step / one season, RMSE and MAE over the
    season, and coverage and width per bucket."""
    crps = np.array(scores["crps"], dtype=float)
    out = {"crps_1": float(crps[0]), "crps_season": float(np.nanmean(crps)),
           "rmse_season": float(np.nanmean(scores["rmse"])),
           "mae_season": float(np.nanmean(scores["mae"]))}
    for label, steps in buckets(horizon):
        for name in ("coverage_90", "coverage_50", "width_90"):
            out[f"{name}|{label}"] = bucket_mean(scores[name], scores["observed"], steps)
    return out


def max_crps_disagreement(scores: dict) -> float:
    """Largest relative difference between our CRPS figures and scoringrules'."""
    a, b = np.array(scores["crps"], float), np.array(scores["crps_check"], float)
    ok = ~np.isnan(a)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok]))) if ok.any() else 0.0


# ---------------------------------------------------------------------------- report
def _fmt(x: float) -> str:
    """Four significant digits, without exponents for large values."""
    if x is None or not np.isfinite(x):
        return "—"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _pct(x: float) -> str:
    """A fraction as a whole percentage."""
    return "—" if not np.isfinite(x) else f"{100 * x:.0f}"


def _ratio(x: float) -> str:
    """A ratio with two decimals."""
    return "—" if not np.isfinite(x) else f"{x:.2f}"


def _ours_cell(values) -> str:
    """Mean and [min, max] over seeds."""
    v = np.array(values, dtype=float)
    return f"{_fmt(v.mean())} [{_fmt(v.min())}, {_fmt(v.max())}]" if len(v) > 1 else _fmt(v[0])


def series_section(series: Series, block: dict) -> list:
    """The markdown lines of one series: CRPS table, coverage/width table, notes."""
    spec = series.spec
    H = spec.horizon
    lines = [f"## {series.name}", "",
             f"{spec.about}: n = {len(series.y)}, train {series.n_train}, test "
             f"{len(series.y) - series.n_train}, m = {spec.season}, H = {H}; "
             f"{len(series.origins)} origins, stride {series.stride}"
             + (f"; {int(np.isnan(series.y).sum())} missing steps" if np.isnan(series.y).any()
                else "") + ".", ""]
    methods = block["methods"]
    peers = {k: v for k, v in methods.items() if not v.get("ours") and "summary" in v}
    best = {cell: min(peers.items(), key=lambda kv: kv[1]["summary"][cell])
            for cell in ("crps_1", "crps_season")} if peers else {}
    lines += [("| method | CRPS one step | CRPS one season | RMSE season | MAE season | "
              "ours ÷ best peer, one step | ours ÷ best peer, one season |"),
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, rec in methods.items():
        if "error" in rec:
            lines.append(f"| {label} | {rec['error']} | | | | | |")
            continue
        if rec.get("ours"):
            cells = [_ours_cell([s[c] for s in rec["seed_summaries"]])
                     for c in ("crps_1", "crps_season", "rmse_season", "mae_season")]
            ratios = []
            for cell in ("crps_1", "crps_season"):
                if cell in best:
                    peer, peer_rec = best[cell]
                    ratio = np.mean([s[cell] for s in rec["seed_summaries"]]) / \
                        peer_rec["summary"][cell]
                    ratios.append(f"{ratio:.2f} (vs {peer})")
                else:
                    ratios.append("—")
        else:
            cells = [_fmt(rec["summary"][c]) for c in
                     ("crps_1", "crps_season", "rmse_season", "mae_season")]
            ratios = ["", ""]
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
    bks = buckets(H)
    later = [b for b, _ in bks[1:]]
    head = ([f"90 % {b}" for b, _ in bks] + [f"50 % {b}" for b, _ in bks]
            + [f"width 90 % {b}" for b, _ in bks]
            + [f"{what} growth {b}" for b in later for what in ("RMSE", "width")])
    lines += ["", ("Coverage (%) of the central intervals and mean width of the 90 % interval, "
              "by horizon bucket; growth: RMSE and 90 % width of a later bucket ÷ those of "
              "the one-step forecasts of the same target steps (ours: mean over seeds):"), "",
              "| method | " + " | ".join(head) + " |",
              "| --- |" + " ---: |" * len(head)]
    for label, rec in methods.items():
        if "error" in rec:
            continue
        summ = rec["summary"]
        cells = ([_pct(summ[f"coverage_90|{b}"]) for b, _ in bks]
                 + [_pct(summ[f"coverage_50|{b}"]) for b, _ in bks]
                 + [_fmt(summ[f"width_90|{b}"]) for b, _ in bks]
                 + [_ratio(summ[f"{what}_growth|{b}"]) for b in later
                    for what in ("error", "width")])
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    notes = [f"{label}: {rec['info']}" for label, rec in methods.items() if rec.get("info")]
    if notes:
        lines += ["", "Fitted: " + "; ".join(notes) + "."]
    return lines + [""]


def time_table(report: dict) -> list:
    """Wall seconds (fit + all forecasts) per method and series."""
    names = list(report["series"])
    labels = []
    for block in report["series"].values():
        labels += [lab for lab in block["methods"] if lab not in labels]
    lines = ["## Wall time", "",
             ("Seconds, fit + forecasts from every origin (ours: mean per seed); * = from "
             "the cache, timed when it was computed."), "",
             "| method | " + " | ".join(names) + " | total |",
             "| --- |" + " ---: |" * (len(names) + 1)]
    for label in labels:
        cells, total = [], 0.0
        for name in names:
            rec = report["series"][name]["methods"].get(label)
            if rec is None or "seconds" not in rec:
                cells.append("—")
                continue
            total += rec["seconds"]
            cells.append(f"{rec['seconds']:.1f}" + ("*" if rec.get("cached") else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {total:.0f} |")
    return lines + [""]


def overview(report: dict) -> list:
    """One-season CRPS of every method divided by the best peer's, per series."""
    labels = []
    for block in report["series"].values():
        labels += [lab for lab in block["methods"] if lab not in labels]
    lines = ["## Overview", "", ("One-season CRPS ÷ the best peer's on that series (lower is "
             "better; ours: mean over seeds)."), "",
             "| series | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for name, block in report["series"].items():
        peers = [r["summary"]["crps_season"] for r in block["methods"].values()
                 if not r.get("ours") and "summary" in r]
        best = min(peers) if peers else float("nan")
        cells = [f"{r['summary']['crps_season'] / best:.2f}"
                 if (r := block["methods"].get(lab)) and "summary" in r else "—"
                 for lab in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def environment() -> dict:
    """Machine, versions and git commit, for the record."""
    versions = {}
    for pkg in ("numpy", "statsmodels", "statsforecast", "gluonts", "torch", "lightning",
                "scoringrules", "pmdarima"):
        try:
            versions[pkg] = __import__(pkg).__version__
        except Exception:  # noqa: BLE001 - an absent peer has no version
            versions[pkg] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=False).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "tagi_lstm"],
                                    cwd=ROOT, capture_output=True, text=True,
                                    check=False).stdout.strip())
    except OSError:
        commit, dirty = None, None
    return {"date_utc": datetime.datetime.now(datetime.UTC).isoformat(
                timespec="seconds"),
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
            "machine": platform.processor() or platform.machine(),
            "python": platform.python_version(), "versions": versions,
            "git_commit": commit, "tagi_lstm_modified": dirty}


def write_report(report: dict, output: Path) -> None:
    """The markdown report at ``output`` and the JSON beside it."""
    env = report["environment"]
    lines = ["# Forecast quality beside peers", "",
             f"`{report['command']}` — {env['date_utc']}, {env['cpu_count']} CPU cores "
             f"(1-minute load average {env['load_average']:.1f} at the start, "
             f"{report['load_average_end']:.1f} at the end), commit {env['git_commit']}"
             + (" (tagi_lstm modified)" if env["tagi_lstm_modified"] else "")
             + f"; the run took {report['run_seconds'] / 60:.1f} min.", "",
             ("Protocol: `benchmarks/forecast_peers.py` (docstring). Every method is fitted "
             "once on the training part of each series and forecasts H steps (one season) "
             "from ≤ 50 origins in the test part (the last 20 %; taylor: the last two "
             "weeks), conditioning on the history without refitting. "
             "Ours: mean [min, max] over seeds "
             f"{', '.join(map(str, report['seeds']))}. CRPS figures agree with scoringrules "
             + " and ".join(f"to a relative {value:.1e} ({check})" for check, value
                            in report["max_crps_disagreement"].items()) + "."), ""]
    if report["skipped"]:
        lines += ["Skipped: " + "; ".join(report["skipped"]) + ".", ""]
    lines += overview(report)
    for block in report["series"].values():
        lines += series_section(block["series_obj"], block)
    lines += time_table(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines))
    plain = {k: v for k, v in report.items() if k != "series"}
    plain["series"] = {name: {k: v for k, v in block.items() if k != "series_obj"}
                       for name, block in report["series"].items()}
    output.with_suffix(".json").write_text(json.dumps(plain, indent=1, default=float))


# ------------------------------------------------------------------------------- main
def _progress(desc: str):
    """A tqdm wrapper for an inner loop (silent when tqdm is missing)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of tagi_lstm
        return lambda it, total=None: it
    return lambda it, total=None: tqdm(it, total=total, desc=desc, leave=False,
                                       mininterval=2, file=sys.stderr)


def _record(result: Result, series: Series) -> dict:
    """Everything the report and the JSON keep about one method's forecasts."""
    truth = series.truth
    scores = score(result, truth)
    return {"per_horizon": scores,
            "summary": {**summary(scores, series.spec.horizon),
                        **same_target_growth(result, truth, series.origins)},
            "seconds": result.fit_seconds + result.forecast_seconds,
            "fit_seconds": result.fit_seconds, "forecast_seconds": result.forecast_seconds,
            "info": result.info, "cached": result.cached,
            "kind": "samples" if result.samples is not None else "gaussian",
            "check": check_kind(result)}


def _mean_records(records: list, horizon: int) -> dict:
    """Ours across seeds: per-seed records kept, summary cells averaged."""
    seed_summaries = [r["summary"] for r in records]
    mean_summary = {k: float(np.mean([s[k] for s in seed_summaries])) for k in seed_summaries[0]}
    return {"ours": True, "seeds": records, "seed_summaries": seed_summaries,
            "summary": mean_summary,
            "seconds": float(np.mean([r["seconds"] for r in records])),
            "info": "; ".join(f"seed {i}: {r['info']}" for i, r in enumerate(records)
                              if r["info"])}


def parse_args(argv=None):
    """Command-line options, the comma-separated lists split and checked."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", default=",".join(SERIES),
                   help=f"comma-separated, from {','.join(SERIES)}")
    p.add_argument("--methods", default="naive,ets,arima,deepar,ours",
                   help="comma-separated, from naive,ets,arima,deepar,ours")
    p.add_argument("--ours", default="before,auto,auto_online",
                   help=f"variants of ours, from {','.join(OURS_VARIANTS)}")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="seeds of ours")
    p.add_argument("--refresh", action="store_true", help="recompute the cached peers")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" /
                                           "forecast_peers.md"), help="markdown report")
    args = p.parse_args(argv)
    args.series = [s for s in args.series.split(",") if s]
    args.methods = [m for m in args.methods.split(",") if m]
    args.ours = [v for v in args.ours.split(",") if v]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    for what, given, known in (("series", args.series, SERIES),
                               ("methods", args.methods, [*PEERS, "ours"]),
                               ("ours", args.ours, OURS_VARIANTS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            p.error(f"unknown {what} {unknown}; known: {', '.join(known)}")
    return args


def main(argv=None) -> int:
    """Run every requested method on every requested series; write the report.

    Returns 0, or 1 when a CRPS figure disagrees with scoringrules by more than
    :data:`CHECK_TOLERANCE` (2 when scoringrules is missing)."""
    args = parse_args(argv)
    started = time.perf_counter()
    warnings.filterwarnings("ignore", category=FutureWarning)
    peers, skipped = [], []
    for key in (m for m in args.methods if m != "ours"):
        peer = PEERS[key]()
        reason = peer.missing()
        if reason:
            print(f"skipping {peer.label}: {reason}", file=sys.stderr)
            skipped.append(f"{peer.label} ({reason})")
        else:
            peers.append(peer)
    if importlib.util.find_spec("scoringrules") is None:
        print("scoringrules is needed for the CRPS cross-check: pip install scoringrules",
              file=sys.stderr)
        return 2
    report = {"command": "python benchmarks/forecast_peers.py " + " ".join(
                  argv if argv is not None else sys.argv[1:]),
              "environment": environment(), "seeds": args.seeds, "skipped": skipped,
              "deepar": DEEPAR, "series": {}}
    worst = dict.fromkeys(CHECK_TOLERANCE, 0.0)

    def checked(rec):
        worst[rec["check"]] = max(worst[rec["check"]], max_crps_disagreement(rec["per_horizon"]))

    for name in args.series:
        try:
            series = load_series(name)
        except ImportError as exc:  # its data ship in a package that is not installed
            print(f"skipping series {name}: {exc}", file=sys.stderr)
            skipped.append(f"series {name} ({exc})")
            continue
        H = series.spec.horizon
        print(f"{name}: n={len(series.y)} train={series.n_train} origins={len(series.origins)} "
              f"stride={series.stride}", file=sys.stderr)
        methods = {}
        for peer in peers:
            t0 = time.perf_counter()
            try:
                result = run_peer(peer, series, args.refresh, _progress(f"{name} {peer.key}"))
                methods[peer.label] = _record(result, series)
            except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
                print(f"  {peer.label} failed on {name}: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
                methods[peer.label] = {"error": f"failed: {type(exc).__name__}: {exc}"}
                continue
            rec = methods[peer.label]
            checked(rec)
            print(f"  {peer.label}: CRPS {rec['summary']['crps_1']:.4g} / "
                  f"{rec['summary']['crps_season']:.4g}, "
                  f"{rec['seconds']:.1f} s{' (cached)' if result.cached else ''}"
                  f" [{time.perf_counter() - t0:.1f} s]", file=sys.stderr)
        if "ours" in args.methods:
            for variant in args.ours:
                records = []
                for seed in args.seeds:
                    result = run_ours(series, variant, seed,
                                      _progress(f"{name} ours {variant} seed {seed}"))
                    records.append(_record(result, series))
                    checked(records[-1])
                    print(f"  ours ({variant}) seed {seed}: CRPS "
                          f"{records[-1]['summary']['crps_1']:.4g} / "
                          f"{records[-1]['summary']['crps_season']:.4g}, "
                          f"{records[-1]['seconds']:.1f} s", file=sys.stderr)
                methods[f"ours ({variant})"] = _mean_records(records, H)
        report["series"][name] = {"series_obj": series, "methods": methods,
                                  "origins": series.origins.tolist(), "stride": series.stride,
                                  "n": len(series.y), "n_train": series.n_train,
                                  "season": series.spec.season, "horizon": H}
    report["max_crps_disagreement"] = worst
    report["run_seconds"] = time.perf_counter() - started
    report["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") \
        else float("nan")
    for check, value in worst.items():
        print(f"largest relative CRPS disagreement with scoringrules ({check}): {value:.2e}",
              file=sys.stderr)
    failed = [c for c, value in worst.items() if value > CHECK_TOLERANCE[c]]
    if failed:
        print(f"ERROR: CRPS disagrees with scoringrules beyond {CHECK_TOLERANCE} ({failed})",
              file=sys.stderr)
        write_report(report, Path(args.output))
        return 1
    write_report(report, Path(args.output))
    print(f"report: {args.output} (+ .json); peer cache: {CACHE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
