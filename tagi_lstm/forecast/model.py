r"""The :class:`Forecaster`: from a series to forecasts with honest intervals.

Model. With lookback ``L`` the network reads ``L`` steps, each the
(standardised, optionally differenced) series value and the covariates of the
next step, and outputs the Gaussian of the next value. Its predictive
variance is the network's variance (weight uncertainty) plus the
observation-noise variance ``sigma_v^2``, which is fixed, scheduled per epoch,
or learned per time step (heteroscedastic, AGVI: the network outputs
``sigma_v^2`` too, see :class:`~tagi_lstm.nn.EvenExp`).

Multi-step forecasts are recursive: each forecast is read back as an input of
the next step, with its uncertainty. By default the full covariance of the
fed-back forecasts is carried (:mod:`tagi_lstm.forecast.propagate`), so
intervals widen with the horizon as the model's own dynamics say they
should. Differenced models are integrated back to levels exactly
(:mod:`tagi_lstm.forecast.transform`). Several networks trained from
different seeds form an ensemble, combined by
:func:`~tagi_lstm.forecast.mixture_moments`.
"""

from __future__ import annotations

import json

import numpy as np

from .. import metric
from .._validation import (
    check_array,
    check_float_dtype,
    check_positive_int,
    check_real,
    check_seed,
)
from ..backend import get_backend
from ..config import (
    DEFAULT_HORIZON,
    MAX_CALIBRATION_ORIGINS,
    MAX_MAGNITUDE,
    PANEL_DEPTHS,
    SCALE_EPS,
)
from ..data import (
    CALENDAR_PERIODS,
    batches,
    fill_missing,
    rolling_windows,
    time_features,
)
from ..dates import check_dates, future_dates, infer_frequency, season_length
from ..layers import LSTM, Linear
from ..persist import check_scale, check_sizes, layer_sizes, save_npz
from ..utils import Normalizer, exponential_scheduler
from . import propagate
from .base import ForecasterBase
from .calibration import variance_factors
from .member import Member
from .panel import as_panel, is_panel, static_matrix
from .result import COMPONENTS, Backtest, Forecast, mixture_with_parts
from .stacked import StackedMembers, stackable
from .transform import Differencing, Power

NOISE_MODES = ("fixed", "scheduled", "heteroscedastic")
#: How ``fit`` treats a panel: one network per series, or one for all of them.
PANEL_MODES = ("local", "global")
#: How ``fit`` learns from the held-out tail after early stopping.
REFITS = ("retrain", "online", False)


def _check_method(method, where: str) -> str:
    if method not in propagate.METHODS:
        raise ValueError(f"{where}: method must be one of {propagate.METHODS}; got {method!r}")
    return method


def _check_refit(refit, where: str):
    """``fit``'s ``refit``, with ``True`` meaning ``"retrain"``."""
    refit = "retrain" if refit is True else refit
    if refit not in REFITS:
        raise ValueError(f"{where}: refit must be one of {REFITS} (True: 'retrain'); got "
                         f"{refit!r}")
    return refit


def backtest_horizon(horizon, season, where: str) -> int:
    """A backtest's horizon: ``horizon``, else the season, checked."""
    if horizon is None:
        if season is None:
            raise ValueError(f"{where}: give horizon= (the forecaster has no season to "
                             f"default to)")
        horizon = season
    return check_positive_int(horizon, name="horizon", where=where)


def check_series(y, covariates, dates, where):
    """Validated ``(y, covariates, dates)``; pandas objects give their values and index."""
    if dates is None and hasattr(y, "index") and hasattr(y.index, "dtype") and \
            np.issubdtype(np.asarray(y.index).dtype, np.datetime64):
        dates = y.index
    y = check_array(y, name="y", where=where, allow_nan=True).astype(np.float64, copy=False)
    if y.ndim != 1:
        raise ValueError(f"{where}: y must be a 1-D series (or, to fit, a 2-D panel "
                         f"(time, n_series)); got shape {y.shape}")
    largest = float(np.nanmax(np.abs(y))) if y.size and not np.isnan(y).all() else 0.0
    if largest > MAX_MAGNITUDE:
        raise ValueError(f"{where}: y holds a value of magnitude {largest:.3g}; beyond "
                         f"{MAX_MAGNITUDE:.0e} its variance overflows; rescale y")
    n = y.size
    if covariates is not None:
        covariates = check_array(covariates, name="covariates", where=where).astype(
            np.float64, copy=False)
        if covariates.ndim == 1:
            covariates = covariates[:, None]
        if covariates.ndim != 2 or covariates.shape[0] != n:
            raise ValueError(f"{where}: covariates must be ({n}, k), one row per step of "
                             f"y; got shape {covariates.shape}")
    if dates is not None:
        dates = check_dates(dates, n, where=where)
    return y, covariates, dates


class Forecaster(ForecasterBase):
    r"""A Bayesian LSTM forecaster: ``fit``, ``predict``, ``forecast``, ``backtest``, ``update``.

    Inputs and targets are standardised with the training part's mean and
    standard deviation; every result is in original units.

    Args:
        lookback: steps each window reads, ``L``.
        hidden_size: LSTM units per layer.
        num_layers: stacked LSTM layers.
        noise: observation noise: ``"fixed"`` (``sigma_v``),
            ``"scheduled"`` (``sigma_v`` decayed each epoch by
            :func:`~tagi_lstm.exponential_scheduler` towards
            ``sigma_v_min``) or ``"heteroscedastic"`` (learned per step).
            ``sigma_v`` is in standardised units.
        sigma_v, sigma_v_min, decay: the noise standard deviation and its
            schedule.
        transform: model ``sqrt(y)`` (``"sqrt"``) or ``log(y)`` (``"log"``)
            instead of ``y``, for series whose noise grows with their level;
            forecasts come back in the units of ``y`` with the exact mean and
            standard deviation of the transformed-back Gaussian (see
            :class:`~tagi_lstm.forecast.transform.Power`), their variance
            components scaled in proportion. ``None``: ``y`` itself.
        difference: model first differences ``y_t - y_{t-1}`` (trends).
        seasonal_difference: model seasonal differences ``y_t - y_{t-m}``
            (``m = season``; with ``difference`` too, both are applied).
        season: season length in steps (needed by ``seasonal_difference``;
            :meth:`auto` and :meth:`backtest` use it as their default horizon).
        calendar: calendar covariates built from the timestamps, names from
            :data:`tagi_lstm.data.CALENDAR_PERIODS` (known for future steps,
            so ``forecast`` computes them itself).
        freq: the timestamps' frequency as a pandas offset alias (``"MS"``,
            ``"h"``, ``"W-SUN"`` ...); inferred from the dates when ``None``.
        fill: rule for NaN inputs, ``"ffill"`` or ``"raise"``
            (:func:`~tagi_lstm.data.fill_missing`); NaN targets are always
            skipped in updates.
        batch_size: windows per TAGI update during ``fit``.
        linear: add a Bayesian linear autoregression on the window beside the
            LSTM; their forecasts add (see
            :class:`~tagi_lstm.forecast.member.Member`).
        ensemble: networks trained from seeds ``seed, seed + 1, ...``, side by
            side (on every CPU thread where they can be stacked,
            :mod:`~tagi_lstm.forecast.stacked`); their forecasts are combined by
            mixture moments.
        max_history: steps of the series kept after ``fit`` and ``update`` (at
            least ``lookback`` plus what differencing needs); ``None`` keeps all.
            Set it for endless streaming: memory stays bounded (``n_seen_``
            still counts every step).
        method: multi-step propagation, ``"linearized"`` (full covariance
            of the fed-back forecasts), ``"diagonal"`` (TAGI's forward pass
            alone) or ``"samples"`` (sample paths); see
            :mod:`tagi_lstm.forecast.propagate`.
        seed: seeds the initial weights and the shuffling.
        dtype: ``"float32"`` or ``"float64"``.
        device: ``"cpu"`` or ``"cuda"``.
        mode: how :meth:`fit` treats a panel of series: ``"local"`` (one
            network per series, the TAGI-LSTM paper's protocol) or
            ``"global"`` (one network, its members shared by every series,
            trained on the windows of all of them, each series standardised
            by its own training part; early stopping on the pooled held-out
            windows, scored in standardised units). One series fits the same
            either way.

    Attributes:
        members_: the ensemble's :class:`~tagi_lstm.forecast.member.Member`
            networks (after ``fit``); ``net`` is the first one's LSTM network.
        history_: per-epoch dicts ``{"member", "epoch", "sigma_v",
            "val_log_likelihood", "val_rmse"}`` of the early-stopping run.
        freq_: the frequency used to date future steps (``None`` without
            dates).
        calibration_: per-horizon variance factors when fitted with
            ``calibrate``, else ``None``.
    """

    def __init__(self, lookback: int = 24, hidden_size: int = 16, num_layers: int = 1, *,
                 noise: str = "heteroscedastic", sigma_v: float = 1.0,
                 sigma_v_min: float = 0.3, decay: float = 0.95, transform: str | None = None,
                 difference: bool = False,
                 seasonal_difference: bool = False, season: int | None = None,
                 calendar=(), freq: str | None = None, fill: str = "ffill",
                 batch_size: int = 8, linear: bool = False, ensemble: int = 1,
                 method: str = "linearized", max_history: int | None = None,
                 seed: int | None = 0, dtype: str = "float32", device: str = "cpu",
                 mode: str = "local"):
        where = "Forecaster"
        if mode not in PANEL_MODES:
            raise ValueError(f"{where}: mode must be one of {PANEL_MODES}; got {mode!r}")
        self.mode = mode
        self.lookback = check_positive_int(lookback, name="lookback", where=where)
        self.hidden_size = check_positive_int(hidden_size, name="hidden_size", where=where)
        self.num_layers = check_positive_int(num_layers, name="num_layers", where=where)
        if noise not in NOISE_MODES:
            raise ValueError(f"{where}: noise must be one of {NOISE_MODES}; got {noise!r}")
        self.noise = noise
        self.sigma_v = check_real(sigma_v, name="sigma_v", where=where, positive=True)
        self.sigma_v_min = check_real(sigma_v_min, name="sigma_v_min", where=where,
                                      positive=True)
        self.decay = check_real(decay, name="decay", where=where, positive=True)
        self._power = Power(transform, where)
        self.difference = bool(difference)
        self.seasonal_difference = bool(seasonal_difference)
        self.season = None if season is None else check_positive_int(season, name="season",
                                                                     where=where)
        if self.seasonal_difference and (self.season is None or self.season < 2):
            raise ValueError(f"{where}: seasonal_difference needs season >= 2 (the season "
                             f"length in steps); got season={season!r}")
        self.calendar = tuple(calendar)
        unknown = [c for c in self.calendar if c not in CALENDAR_PERIODS]
        if unknown:
            raise ValueError(f"{where}: calendar features must be among "
                             f"{sorted(CALENDAR_PERIODS)}; got {unknown}")
        self.freq = freq
        if fill not in ("ffill", "raise"):
            raise ValueError(f"{where}: fill must be 'ffill' or 'raise'; got {fill!r}")
        self.fill = fill
        self.batch_size = check_positive_int(batch_size, name="batch_size", where=where)
        self.linear = bool(linear)
        self.ensemble = check_positive_int(ensemble, name="ensemble", where=where)
        self.method = _check_method(method, where)
        self.max_history = self._check_max_history(max_history, where)
        self.seed = check_seed(seed, where=where)
        self.dtype = check_float_dtype(dtype, where=where)
        try:  # an unknown device, or CUDA without CuPy or a GPU: say so now, not in fit
            get_backend(device)
        except (ValueError, RuntimeError) as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        self.device = device
        if freq is not None and not isinstance(freq, str):
            raise TypeError(f"{where}: freq must be a pandas offset alias such as 'MS' or "
                            f"'h', or None; got {freq!r}")
        self._diff = Differencing(self.difference, self.seasonal_difference, self.season)
        self.members_ = []
        self.history_ = []
        self.freq_ = None
        self.calibration_ = None
        self._num_covariates = None
        #: a global panel's series: its static covariates, standardised over the panel
        self.static_ = None
        self._scale = None  # (mean, std) of the modelled series, then of each covariate
        self._y = self._dates = self._cov = None  # the series seen so far

    # ------------------------------------------------------------- properties
    @property
    def net(self):
        """The first member's network (``None`` before ``fit``)."""
        return self.members_[0].net if self.members_ else None

    @property
    def nets(self) -> list:
        """Every member's network."""
        return [m.net for m in self.members_]

    @property
    def min_history(self) -> int:
        """Steps of history a forecast needs: the lookback plus what differencing uses."""
        return self.lookback + self._diff.lost

    # ------------------------------------------------------------------- data
    def _check_series(self, y, covariates, dates, where):
        y, covariates, dates = check_series(y, covariates, dates, where)
        if dates is None and self.calendar:
            raise ValueError(f"{where}: calendar={self.calendar} needs timestamps; pass "
                             f"dates= or a pandas Series with a DatetimeIndex")
        return y, covariates, dates

    def _all_covariates(self, covariates, dates, n: int):
        """User covariates, calendar terms, then static covariates (the same on every
        step), ``(n, k)`` (``k`` may be 0)."""
        parts = [np.zeros((n, 0))]
        if covariates is not None:
            parts.append(covariates)
        if self.calendar:
            parts.append(time_features(dates, self.calendar))
        if self.static_ is not None:
            parts.append(np.broadcast_to(self.static_, (n, self.static_.size)))
        return np.concatenate(parts, axis=1)

    def _num_static(self) -> int:
        return 0 if self.static_ is None else self.static_.size

    def _set_scale(self, y, cov, where: str) -> None:
        """Standardisation of the modelled series and the covariates, from ``y, cov``."""
        series = self._diff.apply(y)
        if series.size == 0 or np.isnan(series).all():
            raise ValueError(f"{where}: the training part has no observed "
                             f"{'differences' if self._diff else 'values'}")
        m, s = Normalizer.compute_mean_std(series)
        cov_scale = Normalizer.compute_mean_std(cov) if cov.shape[1] else (0.0, 1.0)
        if self._num_static():  # standardised over the panel already, and constant here
            cov_scale[0][-self._num_static():] = 0.0
            cov_scale[1][-self._num_static():] = 1.0
        self._scale = ((float(m), float(s)), cov_scale)

    def _transform(self, y, cov):
        """Network inputs ``z (n - lost,)`` (gaps filled), targets ``(n - lost,)`` (NaN kept),
        and covariates ``(len(cov) - lost, k)``, all standardised."""
        (m, s), cov_scale = self._scale
        lost = self._diff.lost
        z = Normalizer.standardize(self._diff.apply(fill_missing(y, self.fill)), m, s)
        target = Normalizer.standardize(self._diff.apply(y), m, s)
        cov_z = Normalizer.standardize(cov[lost:], *cov_scale) if cov.shape[1] else \
            np.zeros((len(cov) - lost, 0))
        return z, target, cov_z

    def _windows(self, y, cov):
        """All one-step windows of a series: ``x (n, L, 1 + k)``, targets ``(n,)``, and the
        position in ``y`` of each target."""
        need = self.lookback + 1 + self._diff.lost
        if len(y) < need:
            extra = f" + {self._diff.lost} (differencing)" if self._diff else ""
            raise ValueError(f"Forecaster: the series has {len(y)} steps but one window needs "
                             f"lookback + 1{extra} = {need}")
        z, target, cov_z = self._transform(y, cov)
        x, t = rolling_windows(z, self.lookback, 1,
                               covariates=cov_z[:len(z)] if cov_z.shape[1] else None,
                               targets=target)
        positions = np.arange(self.lookback, self.lookback + len(t)) + self._diff.lost
        return x, t[:, 0], positions

    # ------------------------------------------------------------- prediction
    def _combine(self, means, variances, parts, steps) -> tuple:
        """Mixture of the members' Gaussians, the parts averaged, plus the spread; then the
        calibration of each horizon step (``steps``: 1-based, one per last-axis entry)."""
        mean, var, components = mixture_with_parts(means, variances, parts)
        factor = 1.0
        if self.calibration_ is not None:
            factor = self.calibration_[np.minimum(steps, len(self.calibration_)) - 1]
        components["calibration"] = var * (factor - 1.0)
        return mean, var * factor, components

    def _one_step(self, x, positions, y, dates, members=None, base=None,
                  moments=None) -> Forecast:
        """Forecasts of the windows ``x`` whose targets sit at ``positions`` of ``y``
        (``base``: their :meth:`_history_part`, when known; ``moments``: each member's
        ``predict(x)``, when made already)."""
        (m, s), _ = self._scale
        if base is None:
            base = self._history_part(y, positions)
        if moments is None:
            moments = [member.predict(x) for member in members or self.members_]
        scale2 = (s + SCALE_EPS) ** 2
        means, variances, parts = [], [], []
        for mean_z, var_z, noise_z in moments:
            means.append(Normalizer.unstandardize(mean_z, m, s) + base)
            parts.append({"parameters": var_z * scale2, "noise": noise_z * scale2,
                          "fed_back": np.zeros_like(var_z)})
            variances.append((var_z + noise_z) * scale2)
        mean, var, components = self._combine(means, variances, parts, 1)
        return Forecast(mean, np.sqrt(var), dates[positions] if dates is not None else positions,
                        np.sqrt(components["noise"]), components)

    def _history_part(self, y, positions):
        """The part of ``y`` at ``positions`` that its past fixes (undoing differencing)."""
        return self._diff.history_part(fill_missing(y, self.fill), positions)

    def predict(self, y, covariates=None, dates=None) -> Forecast:
        """One-step-ahead forecasts of every step of ``y`` that has a full window behind it.

        Args:
            y: ``(time,)`` series (NaN allowed; inputs are filled by ``fill``).
            covariates: ``(time, k)`` covariates, as given to :meth:`fit`.
            dates: ``(time,)`` timestamps (needed with ``calendar``).

        Returns:
            :class:`Forecast` for steps ``lookback + lost ... time - 1`` (``lost``:
            steps used up by differencing).
        """
        self._check_fitted("predict")
        if self.panel_ is not None:
            return self._panel_predict(y, covariates, dates, "Forecaster.predict")
        y, covariates, dates = self._check_series(y, covariates, dates, "Forecaster.predict")
        y = self._power.apply(y, "Forecaster.predict")
        self._check_covariates(covariates, "Forecaster.predict")
        x, _, positions = self._windows(y, self._all_covariates(covariates, dates, len(y)))
        out = self._one_step(x, positions, y, dates)
        self._release_buffers()  # sized for every window at once
        return self._in_units(out)

    def _origin_inputs(self, y, cov, origins, horizon: int):
        """What the recursion starts from at each origin: the ``(O, L)`` standardised
        values before it and the ``(O, L + H - 1, k)`` covariates its windows read (see
        :mod:`~tagi_lstm.forecast.propagate`; ``None`` without covariates)."""
        L = self.lookback
        z, _, cov_z = self._transform(y, cov)
        first = np.asarray(origins) - self._diff.lost  # z row of each first forecast
        z_hist = z[first[:, None] - L + np.arange(L)]
        cov_track = cov_z[first[:, None] - L + 1 + np.arange(L + horizon - 1)] \
            if cov_z.shape[1] else None
        return z_hist, cov_track

    def _recursive(self, y, cov, origins, horizon: int, method: str, num_samples: int,
                   rng) -> dict:
        """Forecasts of ``horizon`` steps from each origin (first forecast position in
        ``y``); ``cov`` covers every forecast step. Arrays ``(O, H)``."""
        (m, s), _ = self._scale
        filled = fill_missing(y, self.fill)
        z_hist, cov_track = self._origin_inputs(y, cov, origins, horizon)
        lift = self._diff.matrix(horizon)
        base = np.stack([self._diff.undo(np.zeros(horizon), filled[:o]) for o in origins])
        scale2 = (s + SCALE_EPS) ** 2
        means, variances, parts, paths = [], [], [], []
        for member in self.members_:
            if method == "samples":
                raw, noise = propagate.sampled(member, z_hist, cov_track, horizon, num_samples,
                                               rng)
                level = Normalizer.unstandardize(raw, m, s) @ lift.T + base[:, None, :]
                paths.append(level)
                means.append(level.mean(axis=1))
                variances.append(level.var(axis=1))
                noise_var = (noise * scale2) @ (lift ** 2).T
                parts.append({"parameters": np.full_like(noise, np.nan), "noise": noise_var,
                              "fed_back": np.full_like(noise, np.nan)})
                continue
            r = getattr(propagate, method)(member, z_hist, cov_track, horizon)
            means.append(Normalizer.unstandardize(r["mean"], m, s) @ lift.T + base)
            var = np.einsum("hi,oij,hj->oh", lift, r["cov"], lift) * scale2
            par = (r["parameters"] * scale2) @ (lift ** 2).T
            noise = (r["noise"] * scale2) @ (lift ** 2).T
            variances.append(var)
            parts.append({"parameters": par, "noise": noise, "fed_back": var - par - noise})
        self._release_buffers()  # sized for every origin (and sample path) at once
        mean, var, components = self._combine(means, variances, parts,
                                              np.arange(1, horizon + 1))
        out = {"mean": mean, "std": np.sqrt(var), "components": components}
        if paths:
            out["samples"] = np.concatenate(paths, axis=1)
        return out

    def _method(self, method, where: str) -> str:
        return _check_method(self.method if method is None else method, where)

    def forecast(self, horizon: int, y=None, covariates=None, dates=None,
                 future_covariates=None, *, method: str | None = None,
                 num_samples: int = 1000) -> Forecast:
        """Recursive forecast of the next ``horizon`` steps after the end of ``y``.

        Args:
            horizon: steps ahead, ``H``.
            y, covariates, dates: the history to forecast from (default: the
                series seen by ``fit`` and ``update``).
            future_covariates: ``(H, k)`` covariates of the forecast steps
                (needed when ``fit`` had covariates; calendar ones are
                computed from the dates).
            method: ``"linearized"``, ``"diagonal"`` or ``"samples"``
                (default: the forecaster's ``method``).
            num_samples: sample paths per member with ``method="samples"``.

        Returns:
            :class:`Forecast` of ``H`` steps, with its variance components;
            its index continues the dates by their frequency (or the integer
            positions).
        """
        where = "Forecaster.forecast"
        self._check_fitted("forecast")
        if self.panel_ is not None:
            if future_covariates is not None:
                raise ValueError(f"{where}: covariates are not taken with a panel of series")
            return self._panel_forecasts(
                lambda m, s: m.forecast(horizon, method=method, num_samples=num_samples,
                                        **({} if s is None else {"y": s.y, "dates": s.dates})),
                y, covariates, dates, where, stored=True)
        horizon = check_positive_int(horizon, name="horizon", where=where)
        method = self._method(method, where)
        num_samples = check_positive_int(num_samples, name="num_samples", where=where)
        offset = 0
        if y is None:
            y, covariates, dates, offset = self._y, self._cov, self._dates, self._dropped
        else:
            y, covariates, dates = self._check_series(y, covariates, dates, where)
            y = self._power.apply(y, where)
            self._check_covariates(covariates, where)
        need = self.lookback + self._diff.lost
        if len(y) < need:
            extra = f" + {self._diff.lost}" if self._diff else ""
            raise ValueError(f"{where}: the history has {len(y)} steps; forecasting needs at "
                             f"least lookback{extra} = {need}")
        n_user = self._num_user_covariates()
        if n_user:
            if future_covariates is None:
                raise ValueError(f"{where}: the model was fitted with {n_user} covariate(s); "
                                 f"pass future_covariates of shape ({horizon}, {n_user})")
            future_covariates = check_array(np.asarray(future_covariates, dtype=np.float64),
                                            name="future_covariates", where=where)
            if future_covariates.ndim == 1:
                future_covariates = future_covariates[:, None]
            if future_covariates.shape != (horizon, n_user):
                raise ValueError(f"{where}: future_covariates must have shape ({horizon}, "
                                 f"{n_user}); got {future_covariates.shape}")
        if dates is not None:
            index = future_dates(dates, horizon, self.freq_ or self.freq)
            all_dates = np.concatenate([dates, index])
        else:
            all_dates, index = None, offset + np.arange(len(y), len(y) + horizon)
        all_user = None if not n_user else np.concatenate([covariates, future_covariates])
        cov = self._all_covariates(all_user, all_dates, len(y) + horizon)
        out = self._recursive(y, cov, np.array([len(y)]), horizon, method, num_samples,
                              np.random.default_rng(self.seed))
        return self._in_units(Forecast(out["mean"][0], out["std"][0], index,
                                       np.sqrt(out["components"]["noise"][0]),
                                       {k: v[0] for k, v in out["components"].items()},
                                       out["samples"][0].T if "samples" in out else None))

    def variance_sources(self, y, horizon: int, origins, covariates=None, dates=None) -> dict:
        """Diagnosis: each step's variance split by source, and what a diagonal
        propagation of the fed-back forecasts would keep of it.

        Args:
            y: ``(time,)`` the series the origins index.
            horizon: steps ahead.
            origins: first forecast position of each forecast (as in
                :meth:`backtest`).
            covariates, dates: as for :meth:`fit` (covariates must cover
                every forecast step).

        Returns:
            ``(O, H)`` arrays in the standardised units of the modelled
            (transformed, differenced) series, averaged over the members:
            ``"parameters"``, ``"noise"``, ``"fed_back"`` (linearized, full
            covariance), ``"fed_back_diagonal"`` (covariances between the
            fed-back forecasts dropped) and ``"fed_back_tagi"`` (TAGI's forward
            pass on the diagonal); see :func:`tagi_lstm.forecast.propagate.sources`.
        """
        where = "Forecaster.variance_sources"
        self._check_fitted("variance_sources")
        horizon = check_positive_int(horizon, name="horizon", where=where)
        y, covariates, dates = self._check_series(y, covariates, dates, where)
        y = self._power.apply(y, where)
        origins = np.asarray(origins)
        cov = self._all_covariates(covariates, dates, len(y))
        if cov.shape[1] and origins.max() + horizon > len(y):
            raise ValueError(f"{where}: covariates must cover every forecast step")
        z_hist, cov_track = self._origin_inputs(y, cov, origins, horizon)
        parts = [propagate.sources(m, z_hist, cov_track, horizon) for m in self.members_]
        return {k: np.mean([p[k] for p in parts], axis=0) for k in parts[0]}

    # ---------------------------------------------------------------- backtest
    def backtest(self, y, horizon: int | None = None, covariates=None, dates=None, *,
                 start: int | None = None, stride: int = 1, origins=None,
                 online: bool = False, method: str | None = None,
                 num_samples: int = 1000) -> Backtest:
        """Rolling-origin evaluation: forecast ``horizon`` steps from many origins.

        From each origin ``o`` the forecaster forecasts ``y[o : o + horizon]``
        from the history ``y[:o]`` alone; the parameters stay as they are,
        unless ``online``, where before each origin it first learns (as
        :meth:`update` does) from the steps between the end of what it has
        seen and the origin. The forecaster is left exactly as it was.

        Args:
            y: ``(time,)`` the series: the history and the steps to evaluate.
            horizon: steps per forecast (default: ``season``).
            covariates, dates: as for :meth:`fit`, one row per step of ``y``.
            start: the first origin (default: the number of steps ``fit`` and
                ``update`` have seen, i.e. right after the training data).
            stride: steps between consecutive origins.
            origins: explicit origins instead of ``start`` and ``stride``.
            online: learn from the observations before each origin.
            method, num_samples: as for :meth:`forecast`.

        Returns:
            :class:`Backtest` with the forecasts and observations; its
            ``scores()`` give RMSE, MAE, CRPS, log-likelihood, coverage and
            width per horizon step, and ``plot()`` draws them.
        """
        where = "Forecaster.backtest"
        self._check_fitted("backtest")
        if self.panel_ is not None:
            return self._panel_backtest(
                lambda m, s: m.backtest(s.y, horizon, dates=s.dates, start=start,
                                        stride=stride, online=online, method=method,
                                        num_samples=num_samples), y, covariates, dates, origins,
                where)
        horizon = backtest_horizon(horizon, self.season, where)
        stride = check_positive_int(stride, name="stride", where=where)
        method = self._method(method, where)
        num_samples = check_positive_int(num_samples, name="num_samples", where=where)
        y, covariates, dates = self._check_series(y, covariates, dates, where)
        original, y = y, self._power.apply(y, where)
        self._check_covariates(covariates, where)
        n, seen = len(y), self.n_seen_
        low = self.lookback + self._diff.lost
        if origins is None:
            start = seen if start is None else start
            origins = np.arange(start, n - horizon + 1, stride)
        origins = np.asarray(origins)
        if origins.ndim != 1 or origins.size == 0 or origins.dtype.kind not in "iu":
            raise ValueError(f"{where}: no origins to forecast from (start={start}, "
                             f"horizon={horizon}, {n} steps); origins must lie in "
                             f"[{low}, {n - horizon}]")
        high = n - horizon if covariates is not None else n
        if origins.min() < low or origins.max() > high or np.any(np.diff(origins) <= 0):
            raise ValueError(f"{where}: origins must increase and lie in [{low}, {high}] "
                             f"(a full window behind them"
                             f"{', covariates for every forecast step' if high < n else ''}); "
                             f"got {origins.min()} ... {origins.max()}")
        if online and origins[0] < seen:
            raise ValueError(f"{where}: online learning starts after the {seen} steps the "
                             f"forecaster has seen; the first origin is {origins[0]}")
        # forecast steps past the end of y get their calendar from the dates' frequency
        extra = max(0, int(origins[-1]) + horizon - n)
        all_dates = dates
        if dates is not None and extra:
            all_dates = np.concatenate([dates, future_dates(dates, extra,
                                                            self.freq_ or self.freq)])
        cov = self._all_covariates(covariates, all_dates, n + extra)
        steps = origins[:, None] + np.arange(horizon)
        observed = np.where(steps < n, np.concatenate([original, np.full(extra, np.nan)])[
            np.minimum(steps, n + extra - 1)], np.nan)
        rng = np.random.default_rng(self.seed)
        if not online:
            out = self._recursive(y, cov, origins, horizon, method, num_samples, rng)
        else:
            out = self._online_backtest(y, cov, origins, horizon, method, num_samples, rng)
        index = all_dates[steps] if dates is not None else steps
        return self._in_units(Backtest(origins, index, out["mean"], out["std"], observed,
                                       out["components"]))

    def _online_backtest(self, y, cov, origins, horizon, method, num_samples, rng) -> dict:
        """Backtest rows one origin at a time, learning from each step before it."""
        saved = [m.state_dict() for m in self.members_]
        sigmas = [m.sigma_v_now for m in self.members_]
        x, t, positions = self._windows(y, cov[:len(y)])
        rows, learned = [], self.n_seen_
        try:
            for o in origins:
                todo = np.flatnonzero((positions >= learned) & (positions < o))
                self._learn_windows(x[todo], t[todo])
                learned = max(learned, int(o))
                rows.append(self._recursive(y, cov, np.array([o]), horizon, method,
                                            num_samples, rng))
        finally:
            for member, state, sigma in zip(self.members_, saved, sigmas):
                member.load_state_dict(state)
                member.sigma_v_now = sigma
        return {"mean": np.concatenate([r["mean"] for r in rows]),
                "std": np.concatenate([r["std"] for r in rows]),
                "components": {k: np.concatenate([r["components"][k] for r in rows])
                               for k in rows[0]["components"]}}

    def _learn_windows(self, x, t) -> None:
        """One update per window, in order, for every member (NaN targets skipped)."""
        for k in range(len(x)):
            if not np.isnan(t[k]):
                for member in self.members_:
                    member.learn(x[k:k + 1], t[k:k + 1])

    # ------------------------------------------------------ automatic settings
    @classmethod
    def auto(cls, y, covariates=None, dates=None, *, horizon: int | None = None,
             season: int | None = None, ensemble: int = 5, calibrate: bool = False,
             validation: float = 0.2, epochs: int = 50, patience: int = 5,
             seed: int | None = 0, hybrid: bool = True, combine: int = 3,
             progress: bool = True, static=None, **settings):
        """A forecaster whose settings are chosen on a backtest of ``y``, then fitted.

        A square-root transform (on a series without negative values; first,
        so that the other choices are made on the series as it will be
        modelled), differencing (none, ordinary, seasonal, both), a linear
        autoregression beside the LSTM, calendar covariates, lookback, width,
        noise model and whether to retrain after early stopping are chosen one
        group at a time by the mean CRPS of recursive ``horizon``-step
        forecasts from rolling origins over the last ``validation`` fraction of
        ``y``, each candidate trained on the part before it
        (:mod:`tagi_lstm.forecast.auto`). The chosen forecaster is
        then fitted on all of ``y`` as :meth:`fit` does (early stopping on the
        held-out tail, per-horizon calibration when ``calibrate``, refit on
        everything) with ``ensemble`` members.

        With ``hybrid``, the LSTM / state-space hybrid
        (:class:`~tagi_lstm.forecast.HybridForecaster`: the square root first
        as above, then its components — level, trend, season —, level and
        observation noise, lookback and refit) is searched on the same
        backtest. Then up to ``combine``
        candidates of either family are chosen by forward selection on their
        backtests (:func:`~tagi_lstm.forecast.auto.greedy_combination`): the
        best one, then whichever lowers the CRPS of their equal-weight mixture
        most, while one does. The first step is chosen apart, by the same
        selection on every candidate's one-step forecasts of each step of the
        tail, where that forecasts it clearly better
        (:func:`~tagi_lstm.forecast.auto.first_step_combination`: the
        candidate that follows the last observations best is often not the
        one whose recursion holds up over the horizon). One chosen is returned
        as it is, several as a :class:`~tagi_lstm.forecast.Combination`, each
        fitted with ``ensemble`` members.

        Given a panel of series (as :meth:`fit` takes one), ``auto`` returns a
        global forecaster (``mode="global"``): its lookback (one or two
        seasons) and seasonal differencing are chosen by how well one network
        fitted without each series' last ``horizon`` steps forecasts them, then
        the best of those with a square-root transform where no series has a
        negative value, then the best so far with two LSTM layers unless
        ``num_layers`` is given (:data:`~tagi_lstm.config.PANEL_DEPTHS`,
        :func:`~tagi_lstm.forecast.auto.panel_search`); up to
        ``combine`` of these candidates are chosen by forward selection on the
        same held-out steps, as for one series, each fitted to the whole panel
        with ``ensemble`` members, and several are returned as their
        :class:`~tagi_lstm.forecast.Combination`; ``settings`` fix the rest.

        Args:
            y, covariates, dates: the training data, as for :meth:`fit`.
            horizon: the forecast horizon the settings are chosen for
                (default: one season, or 10 steps without one).
            season: season length in steps (default: from the dates'
                frequency, e.g. 12 for monthly, 24 for hourly data).
            ensemble: members of the final forecaster.
            calibrate: calibrate the final forecaster's variance per horizon
                step (see :meth:`fit`). Off by default: on the peer benchmark
                (``benchmarks/forecast_peers.py``) it narrowed intervals that
                were right and cost CRPS on five of seven series.
            validation, epochs, patience: as for :meth:`fit`.
            seed: seeds every candidate and the members.
            hybrid: also try the hybrid; it is skipped when there are
                covariates, ``calibrate`` is set or ``settings`` other than
                ``dtype`` and ``transform`` are given (the hybrid takes none of
                them).
            combine: the most candidates combined, for the first step and for the
                later ones (1: the best alone, for every step). On the
                peer benchmark (``benchmarks/forecast_peers.py``, see
                ``docs/forecast_benchmark.rst``) up to three lowered the
                one-season CRPS on six of seven series against combining at
                most each family's best.
            progress: show progress bars.
            static: a panel's static covariates (see :meth:`fit`), given to
                every candidate and to the final global forecaster.
            **settings: fixed constructor arguments (``calendar``,
                ``batch_size``, ``dtype`` ...); a fixed setting that the search
                would vary is not varied.

        Returns:
            The fitted :class:`Forecaster`, :class:`HybridForecaster
            <tagi_lstm.forecast.HybridForecaster>` or :class:`Combination
            <tagi_lstm.forecast.Combination>`, whichever won; ``auto_`` lists
            every candidate tried with its score and ``auto_settings_`` the
            chosen settings (a list of both for a combination).
        """
        from .auto import (
            calendar_for,
            first_step_combination,
            greedy_combination,
            hybrid_stages,
            search,
            seasonal_lags,
        )
        from .combination import Combination
        from .hybrid import HybridForecaster

        where = "Forecaster.auto"
        if is_panel(y):
            return cls._auto_panel(y, covariates, dates, horizon=horizon, season=season,
                                   ensemble=ensemble, validation=validation, epochs=epochs,
                                   patience=patience, seed=seed, progress=progress,
                                   settings=settings, static=static, combine=combine)
        if static is not None:
            raise ValueError(f"{where}: static covariates tell the series of a panel apart; "
                             f"y is one series")
        probe = cls(seed=seed, **settings)
        y, covariates, dates = probe._check_series(y, covariates, dates, where)
        freq = probe.freq or (probe._infer_freq(dates) if dates is not None else None)
        if season is None:
            season = season_length(freq) if freq is not None else None
        else:
            season = check_positive_int(season, name="season", where=where)
        if horizon is None:
            horizon = season or DEFAULT_HORIZON
        horizon = check_positive_int(horizon, name="horizon", where=where)
        combine = check_positive_int(combine, name="combine", where=where)

        def make(**chosen):
            return cls(**{"season": season, **chosen, **settings, "seed": seed})
        # the first step is chosen apart only where there are later steps and a mixture
        split = horizon > 1 and combine > 1
        common = {"horizon": horizon, "season": season, "epochs": epochs,
                  "patience": patience, "validation": validation, "progress": progress,
                  "one_step": split}
        transforms = () if "transform" in settings or not Power("sqrt").admits(y) \
            else ("sqrt",)
        found = {"lstm": (make, search(
            make, y, covariates, dates, base={}, **common,
            calendar=() if "calendar" in settings else calendar_for(freq),
            lags=seasonal_lags(freq, season), transforms=transforms))}
        if hybrid and covariates is None and not calibrate and \
                set(settings) <= {"dtype", "transform"}:
            def make_hybrid(**chosen):
                return HybridForecaster(**{"season": season, "freq": freq, **chosen,
                                           **settings, "seed": seed})
            base = {"refit": "retrain", "lookback": season if season and season > 1 else 16}
            found["hybrid"] = (make_hybrid, search(
                make_hybrid, y, None, dates, base=base, **common,
                groups=hybrid_stages(season, transforms)))
        report = [row for _, result in found.values() for row in result.report]
        # (family, settings, backtest, one-step backtest) of every candidate tried
        candidates = [(family, row, bt, first) for family, (_, result) in found.items()
                      for row, bt, first in zip((r["settings"] for r in result.report),
                                                result.backtests, result.first_steps)]
        chosen, crps = greedy_combination([c[2] for c in candidates], combine)
        if len(chosen) > 1:
            report.append({"stage": "combination",
                           "settings": [candidates[i][1] for i in chosen],
                           "crps": crps, "seconds": 0.0})
        first = chosen
        if split:
            first, crps = first_step_combination([c[3] for c in candidates], chosen, combine)
            if first != chosen:
                report.append({"stage": "first step",
                               "settings": [candidates[i][1] for i in first],
                               "crps": crps, "seconds": 0.0})
        rows = chosen + [i for i in first if i not in chosen]
        picked = [candidates[i] for i in rows]

        def build(family, chosen):
            make_family = found[family][0]
            refit = chosen["refit"]
            constructor = {k: v for k, v in chosen.items() if k != "refit"}
            model = make_family(**constructor, ensemble=ensemble)
            fit = {"validation": validation, "epochs": epochs, "patience": patience,
                   "refit": refit, "progress": progress}
            if isinstance(model, HybridForecaster):
                model.fit(y, None, dates, **fit)
            else:
                model.fit(y, covariates, dates, calibrate=horizon if calibrate else False,
                          **fit)
            # the constructor's settings, then fit's
            model.auto_, model.auto_settings_ = report, {**constructor, "refit": refit}
            return model

        models = [build(family, chosen) for family, chosen, *_ in picked]
        if len(models) == 1:
            return models[0]
        model = Combination(models, first_step=[rows.index(i) for i in first],
                            later_steps=[rows.index(i) for i in chosen])
        model.auto_ = report
        model.auto_settings_ = [m.auto_settings_ for m in models]
        return model

    @classmethod
    def _auto_panel(cls, y, covariates, dates, *, horizon, season, ensemble, validation,
                    epochs, patience, seed, progress, settings, static=None, combine=1):
        """:meth:`auto` for a panel: the global forecasters whose lookback, seasonal
        differencing, transform and depth forecast the last ``horizon`` steps of every series
        best from the rest, alone or (up to ``combine``) mixed
        (:func:`~tagi_lstm.forecast.auto.panel_search`), each then fitted to all of it;
        several are returned as their :class:`~tagi_lstm.forecast.Combination`."""
        from .auto import panel_search
        from .combination import Combination

        where = "Forecaster.auto"
        if settings.get("mode", "global") != "global":
            raise ValueError(f"{where}: chooses settings for one series, or for a panel in "
                             f"mode='global'; fit local models with fixed settings "
                             f"(Forecaster(...).fit(panel)) or call auto on each series")
        if covariates is not None:
            raise ValueError(f"{where}: covariates are not taken with a panel of series")
        series = as_panel(y, dates, where=where)
        if season is not None:
            season = check_positive_int(season, name="season", where=where)
        horizon = check_positive_int(horizon if horizon is not None
                                     else season or DEFAULT_HORIZON,
                                     name="horizon", where=where)
        fixed = {k: v for k, v in settings.items() if k != "mode"}

        def make(members=1, **chosen):
            return cls(**{"season": season, **chosen, **fixed, "mode": "global",
                          "ensemble": members, "seed": seed})

        if static is not None:  # by id: the search fits shortened copies of the panel
            static = dict(zip([s.id for s in series],
                              static_matrix(static, series, where=where)))
        sqrt_fits = all(Power("sqrt").admits(s.y) for s in series)
        chosen, report = panel_search(
            make, series, horizon=horizon, season=season, epochs=epochs, patience=patience,
            validation=validation, progress=progress, static=static,
            transforms=("sqrt",) if sqrt_fits and "transform" not in fixed else (),
            depths=() if "num_layers" in fixed else PANEL_DEPTHS,
            combine=check_positive_int(combine, name="combine", where=where))
        models = [make(ensemble, **picked).fit(
            {s.id: s.y for s in series},
            dates=None if series[0].dates is None else {s.id: s.dates for s in series},
            validation=validation, epochs=epochs, patience=patience, progress=progress,
            static=static) for picked in chosen]
        model = models[0] if len(models) == 1 else Combination(models)
        model.auto_ = report
        model.auto_settings_ = chosen[0] if len(chosen) == 1 else chosen
        return model

    # --------------------------------------------------------------- learning
    def fit(self, y, covariates=None, dates=None, *, validation: float = 0.2,
            epochs: int = 50, patience: int = 5, shuffle: bool = True,
            refit: str | bool = "retrain", calibrate: bool | int = False,
            progress: bool = True, client=None, static=None) -> Forecaster:
        """Train on ``y``: choose the number of epochs on a held-out tail, then learn it.

        The last ``validation`` fraction of the steps is held out. Each member
        trains on the rest; after each epoch the mean Gaussian log-likelihood
        of its one-step forecasts of the held-out part is logged in
        ``history_``, and training stops after ``patience`` epochs without
        improvement; the best epoch's parameters are kept. Then the held-out
        tail, the most recent data, is learned from too (``refit``).

        Args:
            y: ``(time,)`` series; a pandas Series brings its index as dates.
                Or a panel of series (:mod:`~tagi_lstm.forecast.panel`): a 2-D
                array ``(time, n_series)`` NaN-padded at the top, a wide or a
                long (``unique_id``, ``ds``, ``y``) pandas DataFrame, or a dict
                of series. Each series gets its own forecaster of these
                settings, fitted exactly as it would be alone (same seed),
                kept in ``panel_``; ``predict``, ``forecast``, ``update`` then
                return a :class:`~tagi_lstm.forecast.panel.PanelForecast` and
                ``backtest`` one :class:`~tagi_lstm.forecast.Backtest` of
                every series' rows (``series`` names each row's). Positions
                count from each series' first observed value. No covariates.
            covariates: ``(time, k)`` known-ahead covariates, or None.
            dates: ``(time,)`` timestamps (needed with ``calendar``; they
                must increase strictly).
            validation: fraction of the steps, from the end, held out
                (0 trains on everything for ``epochs`` epochs), or a whole
                number of steps (an ``int >= 1``).
            epochs: most epochs.
            patience: epochs without validation improvement before stopping.
            shuffle: visit the training windows in a new random order each
                epoch (TAGI updates like a filter, so chronological order
                favours the end of the series).
            refit: how the held-out tail is learned from: ``"retrain"``
                (each member is trained afresh, same seed, on all of ``y``
                for the number of epochs that scored best, standardised on
                all of ``y``; ``True`` means the same), ``"online"`` (each
                member learns its windows in time order, one TAGI update each,
                as :meth:`update` does) or ``False`` (not learned from).
            calibrate: fit per-horizon variance factors
                (:mod:`~tagi_lstm.forecast.calibration`) on a rolling-origin
                backtest of the held-out part, before any refit: an int is
                the horizon to calibrate, ``True`` means ``season`` steps (10
                without a season); later steps take the last factor.
            progress: show a tqdm progress bar (over series, for a panel).
            client: a ``dask.distributed.Client``: a panel's series are fitted
                on its workers, in blocks (the same forecasts as in this
                process); None fits them here. Either way a block of series
                trains together: each round makes an epoch of TAGI updates of
                every series and scores its held-out tail, in one kernel call
                per thread where the networks allow
                (:mod:`~tagi_lstm.forecast.stacked`), and each series ends
                bitwise as it would alone.
            static: with ``mode="global"``, static covariates of the panel's
                series (:func:`~tagi_lstm.forecast.panel.static_matrix`: an
                array ``(n_series, k)``, a dict by id, or a data frame by
                id): each series' values, standardised over the panel, are
                ``k`` more inputs of every step of its windows, so that the
                one network can tell the series apart; they follow each
                series into ``predict``, ``forecast``, ``backtest``,
                ``update`` and ``save``.

        Returns:
            ``self``.
        """
        where = "Forecaster.fit"
        if static is not None and not (is_panel(y) and self.mode == "global"):
            raise ValueError(f"{where}: static covariates tell the series of a panel apart "
                             f"in one network: they need a panel and mode='global' (here "
                             f"{'a panel' if is_panel(y) else 'one series'}, "
                             f"mode={self.mode!r})")
        if is_panel(y) and self.mode == "global":
            if client is not None:
                raise ValueError(f"{where}: mode='global' trains one network in this "
                                 f"process; client= spreads local models")
            self._fit_global(y, covariates, dates, where, progress, validation=validation,
                             epochs=epochs, patience=patience, shuffle=shuffle, refit=refit,
                             static=static)
            return self
        if is_panel(y):
            self._fit_panel(y, covariates, dates, where, progress, client, validation=validation,
                            epochs=epochs, patience=patience, shuffle=shuffle, refit=refit,
                            calibrate=calibrate)
            return self
        self._fit_one_series(client, where)
        steps = self._fit_steps(y, covariates, dates, validation=validation, epochs=epochs,
                                patience=patience, shuffle=shuffle, refit=refit,
                                calibrate=calibrate, progress=progress)
        _learn_rounds([steps], self.batch_size)
        return self

    def _fit_steps(self, y, covariates, dates, *, validation, epochs, patience, shuffle, refit,
                   calibrate, progress):
        """:meth:`fit` on one series as a generator: it yields each epoch's TAGI
        updates as ``(member, windows, targets, held-out windows or None)`` and goes
        on once they are made and the member's forecasts of the held-out windows are
        sent back (by :func:`_learn_rounds`, alone or beside other series)."""
        where = "Forecaster.fit"
        y, covariates, dates = self._check_series(y, covariates, dates, where)
        y = self._power.apply(y, where)
        epochs = check_positive_int(epochs, name="epochs", where=where)
        patience = check_positive_int(patience, name="patience", where=where)
        n_train = self._training_steps(y, validation, where)
        cov = self._all_covariates(covariates, dates, len(y))
        self._set_scale(y[:n_train], cov[:n_train], where)
        x, t, positions = self._windows(y, cov)
        is_train = positions < n_train
        if not is_train.any():
            raise ValueError(f"{where}: no training window: the training part has {n_train} "
                             f"steps, lookback is {self.lookback}"
                             + (f" plus {self._diff.lost} differenced" if self._diff else ""))
        val = (x[~is_train], t[~is_train], positions[~is_train])
        if np.isnan(val[1]).all():
            val = None
        self._num_covariates = cov.shape[1]
        if calibrate and val is None:
            raise ValueError(f"{where}: calibrate needs a held-out part with observations "
                             f"(validation > 0)")
        calibrate_steps = 0 if not calibrate else (
            (self.season or DEFAULT_HORIZON) if calibrate is True else
            check_positive_int(calibrate, name="calibrate", where=where))
        self.calibration_ = None
        refit = _check_refit(refit, where)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.ensemble * epochs, desc="fit", unit="epoch")
        holdout = None
        if val is not None:
            base, obs = self._history_part(y, val[2]), y[val[2]]  # the same every epoch

            def score(member, moments):
                pred = self._one_step(val[0], val[2], y, dates, members=[member], base=base,
                                      moments=[moments])
                return (metric.log_likelihood(pred.mean, obs, pred.std),
                        metric.rmse(pred.mean, obs))
            holdout = (val[0], score)
        yield from self._train_members(x[is_train], t[is_train], holdout, epochs, patience,
                                       shuffle, bar)
        if calibrate_steps:
            self.calibration_ = self._calibration(y, cov, n_train, calibrate_steps)
        if refit == "online" and val is not None:
            self._learn_windows(*val[:2])
        elif refit == "retrain" and val is not None:
            self._set_scale(y, cov, where)
            x, t, _ = self._windows(y, cov)
            yield from self._retrain_members(x, t, patience, shuffle, bar)
        if bar is not None:
            bar.close()
        self._release_buffers()
        self._remember(y, covariates, dates)
        self.freq_ = self._infer_freq(dates)

    def _fit_here(self, series, fit: dict, bar) -> list:
        """A local panel fitted in this process: every series' :meth:`_fit_steps` runs
        side by side, and each round makes an epoch of updates of every series at once
        (:class:`~tagi_lstm.forecast.stacked.StackedMembers`, where the members can be
        stacked: the Python cost of a round is that of one kernel call). Each series gets
        bitwise the forecaster it gets alone."""
        shells = [type(self)(**self._config()) for _ in series]
        _learn_rounds([shell._fit_steps(s.y, None, s.dates, progress=False, **fit)
                       for shell, s in zip(shells, series)], self.batch_size, bar)
        return shells

    def _fit_global(self, y, covariates, dates, where, progress, *, validation, epochs,
                    patience, shuffle, refit, static=None) -> None:
        """``mode="global"``: one ensemble trained on the windows of every series of the
        panel ``y`` (each standardised by its own training part), then one forecaster
        per series in :attr:`panel_` that shares its members (and so learns for all of
        them in ``update``) but keeps its own scale, history and dates."""
        if covariates is not None:
            raise ValueError(f"{where}: covariates are not taken with a panel of series")
        refit = _check_refit(refit, where)
        epochs = check_positive_int(epochs, name="epochs", where=where)
        patience = check_positive_int(patience, name="patience", where=where)
        series = as_panel(y, dates, where=where)
        if static is not None:
            static = static_matrix(static, series, where=where)
            m, s = Normalizer.compute_mean_std(static)
            static = Normalizer.standardize(static, m, s)
        shells, train, held = [], [], []
        for i, item in enumerate(series):
            shell = type(self)(**{**self._config(), "mode": "local"})
            shell.static_ = None if static is None else static[i]
            named = f"{where} (series {item.id!r})"
            ys, _, ds = shell._check_series(item.y, None, item.dates, named)
            ys = shell._power.apply(ys, named)
            n_train = shell._training_steps(ys, validation, named)
            cov = shell._all_covariates(None, ds, len(ys))
            shell._set_scale(ys[:n_train], cov[:n_train], named)
            try:
                x, t, positions = shell._windows(ys, cov)
            except ValueError as exc:
                raise ValueError(f"{named}: {exc}") from None
            is_train = positions < n_train
            train.append((x[is_train], t[is_train]))
            held.append((x[~is_train], t[~is_train]))
            shell._num_covariates = cov.shape[1]
            shells.append((item.id, shell, ys, cov, ds))
        x_train = np.concatenate([x for x, _ in train])
        t_train = np.concatenate([t for _, t in train])
        if not len(x_train):
            raise ValueError(f"{where}: no training window in any series (lookback "
                             f"{self.lookback})")
        x_val = np.concatenate([x for x, _ in held])
        t_val = np.concatenate([t for _, t in held])
        observed = ~np.isnan(t_val)
        holdout = None
        if observed.any():
            t_seen = t_val[observed]  # the same every epoch

            def score(member, moments):  # pooled over the series, in standardised units
                mean_z, var_z, noise_z = moments
                std_z = np.sqrt(var_z + noise_z)
                return (metric.log_likelihood(mean_z, t_seen, std_z),
                        metric.rmse(mean_z, t_seen))
            holdout = (x_val[observed], score)
        self._num_covariates = shells[0][1]._num_covariates
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.ensemble * epochs, desc="fit (global)", unit="epoch")
        _learn_rounds([self._train_members(x_train, t_train, holdout, epochs, patience,
                                           shuffle, bar)], self.batch_size)
        if refit == "retrain" and holdout is not None:
            windows = []
            for _, shell, ys, cov, _ in shells:  # standardised on all of each series
                shell._set_scale(ys, cov, where)
                windows.append(shell._windows(ys, cov)[:2])
            _learn_rounds([self._retrain_members(np.concatenate([x for x, _ in windows]),
                                                 np.concatenate([t for _, t in windows]),
                                                 patience, shuffle, bar)], self.batch_size)
        elif refit == "online" and holdout is not None:
            for x, t in held:  # each series' held-out windows in time order
                self._learn_windows(x, t)
        if bar is not None:
            bar.close()
        self._release_buffers()
        self.panel_ = {}
        for name, shell, ys, _, ds in shells:
            shell.members_, shell.history_ = self.members_, self.history_
            shell._remember(ys, None, ds)
            shell.freq_ = shell._infer_freq(ds)
            self.panel_[name] = shell
        self.members_ = []

    def _calibration(self, y, cov, n_train: int, horizon: int) -> np.ndarray:
        """Variance factors from a backtest of the held-out part ``y[n_train:]``."""
        horizon = min(horizon, len(y) - n_train)
        origins = np.arange(max(n_train, self.lookback + self._diff.lost),
                            len(y) - horizon + 1)
        origins = origins[::max(1, len(origins) // MAX_CALIBRATION_ORIGINS)]
        method = "linearized" if self.method == "samples" else self.method
        out = self._recursive(y, cov, origins, horizon, method, 1, None)
        steps = origins[:, None] + np.arange(horizon)
        return variance_factors(Backtest(origins, steps, out["mean"], out["std"], y[steps]))

    def _infer_freq(self, dates):
        """The frequency future steps are dated by (``None`` when it cannot be told yet:
        :func:`~tagi_lstm.dates.future_dates` then says why when it is needed)."""
        if dates is None or self.freq is not None:
            return self.freq
        try:
            return infer_frequency(dates)
        except ValueError:
            return None

    def _new_member(self, i: int) -> Member:
        seed = None if self.seed is None else self.seed + i
        return Member(1 + self._num_covariates, self.lookback, self.hidden_size,
                      self.num_layers, self.noise, self.sigma_v, self.dtype, self.device, seed,
                      self.linear)

    def _train_members(self, x, t, holdout, epochs, patience, shuffle, bar):
        """The ensemble, each member from its seed, trained side by side on windows
        ``x, t`` (early stopping on ``holdout``, see :meth:`_train`); ``history_``
        gathers their epochs. A generator of TAGI updates, as :meth:`_fit_steps`."""
        self.members_ = [self._new_member(i) for i in range(self.ensemble)]
        yield from _together([self._train(member, i, x, t, holdout, epochs, patience, shuffle,
                                          bar) for i, member in enumerate(self.members_)])
        self.history_ = [record for member in self.members_ for record in member.history]

    def _retrain_members(self, x, t, patience, shuffle, bar):
        """``refit="retrain"``: each member trained afresh (same seed) on ``x, t`` for
        the number of epochs it kept (a generator of TAGI updates)."""
        if bar is not None:
            bar.reset(total=sum(m.best_epoch + 1 for m in self.members_))
            bar.set_description("refit")
        old, self.members_ = self.members_, [self._new_member(i) for i in range(self.ensemble)]
        for member, before in zip(self.members_, old):
            member.history, member.best_epoch = before.history, before.best_epoch
        yield from _together([self._train(member, i, x, t, None, member.best_epoch + 1,
                                          patience, shuffle, bar)
                              for i, member in enumerate(self.members_)])

    def _train(self, member, i, x, t, holdout, epochs, patience, shuffle, bar):
        """Train one member; with ``holdout = (windows, score)``, ``score(member,
        member.predict(windows)) -> (log-likelihood, rmse)`` of held-out one-step
        forecasts, stop early and keep the epoch that scores best. Yields each epoch's
        updates as ``{i: (member, windows, targets, held-out windows or None)}`` for the
        caller to make (:func:`_learn_rounds`), who sends back ``{i: the member's
        forecasts of the held-out windows}`` after them."""
        rng = np.random.default_rng(None if self.seed is None else self.seed + i)
        best = (-np.inf, None, None)
        waited = 0
        for epoch in range(epochs):
            if self.noise == "scheduled":
                member.sigma_v_now = exponential_scheduler(member.sigma_v_now,
                                                           self.sigma_v_min, self.decay, epoch)
            order = np.arange(len(x))
            if shuffle:
                rng.shuffle(order)
            held = None if holdout is None else holdout[0]
            moments = (yield {i: (member, x[order], t[order], held)})[i]
            if bar is not None:
                bar.update(1)
            if holdout is None:
                continue
            record = {"member": i, "epoch": epoch, "sigma_v": member.sigma_v_now
                      if self.noise != "heteroscedastic" else None}
            record["val_log_likelihood"], record["val_rmse"] = holdout[1](member, moments)
            member.history.append(record)
            if record["val_log_likelihood"] > best[0]:
                best = (record["val_log_likelihood"], member.state_dict(),
                        member.sigma_v_now)
                member.best_epoch = epoch
                waited = 0
            else:
                waited += 1
            if bar is not None:
                bar.set_postfix(member=i, val_ll=f"{record['val_log_likelihood']:.3f}")
            if waited >= patience:
                if bar is not None:
                    bar.update(epochs - 1 - epoch)
                break
        if best[1] is not None:
            member.load_state_dict(best[1])
            member.sigma_v_now = best[2]
        elif member.best_epoch is None:
            member.best_epoch = epochs - 1

    def update(self, y_new, covariates_new=None, dates_new=None) -> Forecast:
        """Online learning: forecast each new observation one step ahead, then learn from it.

        The new steps extend the series seen so far; each one is first
        predicted from the window before it (the returned forecasts are
        honest one-step-ahead forecasts) and then used for one TAGI update
        of every member (skipped when it is NaN).

        Args:
            y_new: ``(n,)`` new observations, following the series seen so far.
            covariates_new: ``(n, k)`` their covariates (when fitted with some).
            dates_new: ``(n,)`` their timestamps (when fitted with dates).

        Returns:
            :class:`Forecast` of the ``n`` new steps made before learning each.
        """
        where = "Forecaster.update"
        self._check_fitted("update")
        if self.panel_ is not None:
            return self._panel_update(y_new, covariates_new, dates_new, where)
        y_new, covariates_new, dates_new = self._check_series(y_new, covariates_new, dates_new,
                                                              where)
        y_new = self._power.apply(y_new, where)
        self._check_covariates(covariates_new, where)
        if (dates_new is None) != (self._dates is None):
            raise ValueError(f"{where}: give dates_new exactly when fit had dates")
        # only the steps the new windows read: the cost of a call does not grow with the
        # history (the standardisation is fitted already)
        n_old = len(self._y)
        keep = min(n_old, self.min_history)
        y = np.concatenate([self._y[n_old - keep:], y_new])
        cov = None if covariates_new is None else \
            np.concatenate([self._cov[n_old - keep:], covariates_new])
        dates = None if dates_new is None else check_dates(
            np.concatenate([self._dates[n_old - keep:], dates_new]), where=where)
        x, t, positions = self._windows(y, self._all_covariates(cov, dates, len(y)))
        steps, base = [], self._history_part(y, positions)
        for k in np.flatnonzero(positions >= keep):
            step = self._one_step(x[k:k + 1], positions[k:k + 1], y, dates, base=base[k:k + 1])
            if dates is None:
                step.index = step.index + (self._dropped + n_old - keep)
            steps.append(step)
            self._learn_windows(x[k:k + 1], t[k:k + 1])
        self._extend(y_new, covariates_new, None if dates is None else dates[keep:])
        if not steps:
            empty = np.zeros(0)
            return Forecast(empty, empty, dates_new[:0] if dates_new is not None
                            else np.zeros(0, dtype=int), empty)
        return self._in_units(Forecast(*(np.concatenate([getattr(f, a) for f in steps])
                                         for a in ("mean", "std", "index", "noise_std")),
                                       {k: np.concatenate([f.components[k] for f in steps])
                                        for k in COMPONENTS}))

    def update_counters(self) -> list:
        """Per member: ``{"bounded": n, "layers": {...}}``, the outlying observations its
        updates bounded (:class:`~tagi_lstm.OutputUpdater`, ``max_innovation``) and how
        often each layer's update was capped, floored or rejected."""
        return [{"bounded": m.updater.total_bounded,
                 "layers": {f"{name}:{key}": value for name, net in m.networks.items()
                            for key, value in net.update_counters().items()}}
                for m in self.members_]

    # ------------------------------------------------------------ persistence
    def _config(self) -> dict:
        return {"lookback": self.lookback, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "noise": self.noise, "sigma_v": self.sigma_v,
                "sigma_v_min": self.sigma_v_min, "decay": self.decay,
                "transform": self.transform, "difference": self.difference,
                "seasonal_difference": self.seasonal_difference,
                "season": self.season, "calendar": list(self.calendar), "freq": self.freq,
                "fill": self.fill, "batch_size": self.batch_size, "linear": self.linear,
                "ensemble": self.ensemble, "method": self.method,
                "max_history": self.max_history, "seed": self.seed, "dtype": self.dtype.name,
                "mode": self.mode}

    def save(self, filename) -> None:
        """Save configuration, scaling, the series seen so far and the networks to ``.npz``,
        atomically (:func:`tagi_lstm.persist.save_npz`: a crash mid-save leaves the old
        file)."""
        self._check_fitted("save")
        save_npz(filename, self._arrays())

    def _arrays(self) -> dict:
        """Everything :meth:`save` writes, as named arrays."""
        if self.panel_ is not None:
            return self._panel_arrays()
        (m, s), (cm, cs) = self._scale
        state = {"config": self._config(), "scale": [m, s], "freq_": self.freq_,
                 "calibration_": None if self.calibration_ is None
                 else [float(k) for k in self.calibration_],
                 "num_covariates": self._num_covariates,
                 "members": [{"sigma_v_now": mb.sigma_v_now, "best_epoch": mb.best_epoch,
                              "counters": {name: net._counter_lists()
                                           for name, net in mb.networks.items()},
                              "bounded": mb.updater.total_bounded}
                             for mb in self.members_],
                 "history": self.history_, "dropped": self._dropped}
        arrays = {"__forecaster__": np.array(json.dumps(state)), "y": self._y,
                  "cov_mean": np.atleast_1d(cm), "cov_std": np.atleast_1d(cs)}
        if self._cov is not None:
            arrays["covariates"] = self._cov
        if self._dates is not None:
            arrays["dates"] = self._dates.astype("datetime64[s]").astype(np.int64)
        if self.static_ is not None:
            arrays["static"] = self.static_
        for i, member in enumerate(self.members_):
            for name, net in member.networks.items():
                arrays.update({f"member{i}:{name}:{k}": v
                               for k, v in net._param_arrays().items()})
        return arrays

    @classmethod
    def load(cls, filename):
        """A forecaster written by :meth:`save`, ready to ``predict``/``forecast``/``update``.

        Any saved forecaster loads: a file written by
        :meth:`HybridForecaster.save <tagi_lstm.forecast.HybridForecaster.save>`
        or :meth:`Combination.save <tagi_lstm.forecast.Combination.save>` gives
        that object (what :meth:`auto` returned)."""
        from .combination import load_any

        return load_any(filename, "Forecaster.load")

    @classmethod
    def _from_arrays(cls, data) -> Forecaster:
        """The forecaster :meth:`_arrays` described (``data``: a mapping with ``files``);
        the settings and every array are checked against each other first."""
        where = "Forecaster.load"
        state = json.loads(str(data["__forecaster__"]))
        self = cls(**state["config"])
        check_scale(*state["scale"], where)
        k = state["num_covariates"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"{where}: the file is damaged: num_covariates = {k!r}")
        if len(state["members"]) != self.ensemble:
            raise ValueError(f"{where}: the file is damaged: {len(state['members'])} members "
                             f"saved for ensemble={self.ensemble}")
        h, L = self.hidden_size, self.lookback
        outputs = 2 if self.noise == "heteroscedastic" else 1
        for i in range(self.ensemble):
            sizes = layer_sizes(f"member{i}:lstm:LSTM.0", LSTM, 1 + k, h)
            for j in range(1, self.num_layers):
                sizes.update(layer_sizes(f"member{i}:lstm:LSTM.{j}", LSTM, h, h))
            sizes.update(layer_sizes(f"member{i}:lstm:Linear.{self.num_layers}", Linear,
                                     h * L, outputs))
            if self.linear:
                sizes.update(layer_sizes(f"member{i}:linear:Linear.0", Linear, L * (1 + k), 1))
            check_sizes(data, sizes, where)
        self._num_covariates = k
        self.members_ = []
        for i, info in enumerate(state["members"]):
            member = self._new_member(i)
            for name, net in member.networks.items():
                prefix = f"member{i}:{name}:"
                net._load_param_arrays({k[len(prefix):]: data[k] for k in data.files
                                        if k.startswith(prefix)})
            member.sigma_v_now, member.best_epoch = info["sigma_v_now"], info["best_epoch"]
            self.members_.append(member)
        cov_scale = (data["cov_mean"], data["cov_std"]) if state["num_covariates"] \
            else (0.0, 1.0)
        self._scale = (tuple(state["scale"]), cov_scale)
        self.freq_ = state["freq_"]
        self.calibration_ = None if state["calibration_"] is None \
            else np.array(state["calibration_"])
        self._y = data["y"]
        self._cov = data.get("covariates", None)
        if "static" in data:
            static = np.asarray(data["static"], dtype=np.float64)
            if static.ndim != 1 or not 0 < static.size <= k or not np.isfinite(static).all():
                raise ValueError(f"{where}: the file is damaged: static covariates of shape "
                                 f"{static.shape} for {k} covariates")
            self.static_ = static
        self._dates = data["dates"].astype("datetime64[s]") if "dates" in data else None
        self.history_ = state.get("history", [])
        self._dropped = int(state.get("dropped", 0))
        for member, info in zip(self.members_, state["members"]):
            member.updater.total_bounded = int(info.get("bounded", 0))
            for name, net in member.networks.items():
                net._restore_counters(info.get("counters", {}).get(name, {}))
        return self

    # ----------------------------------------------------------------- checks
    def _num_user_covariates(self) -> int:
        return self._num_covariates - 2 * len(self.calendar) - self._num_static()

    def _check_covariates(self, covariates, where: str) -> None:
        n_user = self._num_user_covariates()
        got = 0 if covariates is None else covariates.shape[1]
        if got != n_user:
            raise ValueError(f"{where}: the model was fitted with {n_user} covariate "
                             f"column(s); got {got}")


def _learn_batches(member, x, t, held, batch_size: int):
    """TAGI updates of ``member`` on windows ``x`` with targets ``t``, in consecutive
    batches of ``batch_size`` (the last may be shorter); then ``member.predict(held)``
    (``None`` without ``held``)."""
    for xb, tb in batches(x, t, batch_size):
        member.learn(xb, tb)
    return None if held is None else member.predict(held)


def _together(generators, done=None):
    """Training generators run side by side, as one: each round it yields the requests
    of every one still running, ``{(index, key): request}`` for each one's ``{key:
    request}``, and sends each the results of its own, ``{key: result}``; ``done(index)``
    is called as each one finishes."""
    running = dict(enumerate(generators))
    sent = dict.fromkeys(running)
    while running:
        requests = {}
        for index, steps in list(running.items()):
            try:
                mine = steps.send(sent[index])
            except StopIteration:
                del running[index]
                if done is not None:
                    done(index)
                continue
            requests.update(((index, key), request) for key, request in mine.items())
        if not requests:
            return
        results = yield requests
        sent = {index: {} for index in running}
        for (index, key), result in results.items():
            sent[index][key] = result


def _learn_rounds(fits: list, batch_size: int, bar=None) -> None:
    """Run training generators (:meth:`Forecaster._fit_steps`; one for a single
    series or a global model) side by side: each round takes the next epoch of
    updates of every member of every one still running and makes them together,
    stacked when their members allow (:func:`~tagi_lstm.forecast.stacked.stackable`:
    a whole round in one kernel call per thread), else batch by batch, and sends each
    the forecasts it asks for. ``bar`` advances as each one finishes."""
    rounds = _together(fits, None if bar is None else lambda _: bar.update(1))
    slots, stack, results = {}, None, None
    try:
        while True:
            try:
                requests = rounds.send(results)
            except StopIteration:
                break
            keys = list(requests)
            if not slots:  # the first round holds every member, all of one architecture
                like = requests[keys[0]][0]
                if stackable(like, batch_size):
                    stack = StackedMembers(like, len(keys), batch_size)
            for key in keys:  # a member keeps its slot; a refit's new member takes it over
                slots.setdefault(key, len(slots))
            if stack is not None:
                out = stack.learn([(slots[key], *requests[key]) for key in keys])
            else:
                out = [_learn_batches(*requests[key], batch_size) for key in keys]
            results = dict(zip(keys, out))
    finally:
        if stack is not None:
            stack.release()
