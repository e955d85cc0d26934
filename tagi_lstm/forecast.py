r"""Forecasting with honest intervals, built on the layer API.

:class:`Forecaster` turns a univariate series (plus optional covariates) into
a Bayesian LSTM, trains it by TAGI, and forecasts one step or many steps
ahead with a mean and a standard deviation for every point. Everything it
does goes through ``net(x, var_x)``, :class:`~tagi_lstm.OutputUpdater`,
``net.backward()`` and ``net.step()``; the network is ``forecaster.net``.

Model. With lookback ``L`` the network reads ``L`` steps, each the
(standardised) target ``s_t`` and the covariates of step ``t + 1``, and
outputs the Gaussian of ``s_{t+1}``. Its predictive variance is the model's
variance plus the observation-noise variance ``sigma_v^2``, which is fixed,
scheduled per epoch, or learned per time step (heteroscedastic, AGVI: the
network outputs ``sigma_v^2`` too, see :class:`~tagi_lstm.nn.EvenExp`).

Multi-step forecasts are recursive: the Gaussian predicted for ``t + 1`` goes
back in as the input of step ``t + 1`` *with its variance*, which TAGI
propagates, so the intervals widen with the horizon by the model's own
account of its uncertainty.

With ``difference=True`` the network models first differences
``d_t = y_t - y_{t-1}`` (for series with a trend that leaves the training
range); the level forecast is ``y_T + sum_h d_{T+h}``. Its variance adds the model variances of
the predicted differences (treating them as independent, as TAGI treats its
inputs) and the noise variance of the last step only: observation noise
``e_t`` enters a difference as ``e_t - e_{t-1}``, so in the sum it
telescopes to ``e_{T+h} - e_T``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from . import metric
from ._validation import check_array, check_positive_int, check_real
from .data import CALENDAR_PERIODS, batches, fill_missing, rolling_windows, time_features
from .layers import LSTM, EvenExp, Linear
from .output_updater import OutputUpdater
from .random import manual_seed
from .sequential import Sequential
from .utils import Normalizer, exponential_scheduler

NOISE_MODES = ("fixed", "scheduled", "heteroscedastic")


@dataclass
class Forecast:
    """Gaussian forecasts: a mean and a standard deviation per step.

    Attributes:
        mean: ``(n,)`` predictive means, original units.
        std: ``(n,)`` predictive standard deviations (model and observation
            noise), original units.
        index: ``(n,)`` timestamps (``datetime64``) or integer positions of
            the forecast steps.
        noise_std: ``(n,)`` the observation-noise part of ``std``.
    """

    mean: np.ndarray
    std: np.ndarray
    index: np.ndarray
    noise_std: np.ndarray

    def __len__(self) -> int:
        return len(self.mean)

    def __getitem__(self, key) -> Forecast:
        """The forecasts of some steps (a slice or an index array)."""
        return Forecast(self.mean[key], self.std[key], self.index[key], self.noise_std[key])

    def interval(self, level: float = 0.9):
        """``(lower, upper)`` bounds of the central ``level`` interval."""
        if not 0 < level < 1:
            raise ValueError(f"Forecast.interval: level must be in (0, 1); got {level}")
        half = ndtri(0.5 + level / 2) * self.std
        return self.mean - half, self.mean + half

    def to_dict(self, levels=(0.5, 0.9)) -> dict:
        """Columns ``index, mean, std, lower_50, upper_50, ...`` as arrays."""
        out = {"index": self.index, "mean": self.mean, "std": self.std}
        for level in levels:
            lower, upper = self.interval(level)
            tag = f"{100 * level:g}"
            out[f"lower_{tag}"], out[f"upper_{tag}"] = lower, upper
        return out

    def to_pandas(self, levels=(0.5, 0.9)):
        """A pandas ``DataFrame`` indexed by ``index`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Forecast.to_pandas needs pandas: pip install pandas") from exc
        cols = self.to_dict(levels)
        index = cols.pop("index")
        return pd.DataFrame(cols, index=pd.Index(index, name="time"))

    def scores(self, observed, levels=(0.5, 0.9)) -> dict:
        """:func:`tagi_lstm.metric.scores` of these forecasts against ``observed``."""
        return metric.scores(self.mean, observed, self.std, levels)


class Forecaster:
    r"""A Bayesian LSTM forecaster: ``fit``, ``predict``, ``forecast``, ``update``.

    The network is ``LSTM(features, hidden_size, lookback)`` followed by
    ``num_layers - 1`` further ``LSTM(hidden_size, hidden_size, lookback)``
    and ``Linear(hidden_size * lookback, outputs)`` (``outputs`` is 2 with an
    :class:`~tagi_lstm.nn.EvenExp` head for learned noise, else 1). Inputs
    and targets are standardised with the training part's mean and standard
    deviation; every result is in original units.

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
        difference: model first differences (trending series).
        calendar: calendar covariates built from the timestamps, names from
            :data:`tagi_lstm.data.CALENDAR_PERIODS` (they are known for
            future steps, so ``forecast`` computes them itself).
        fill: rule for NaN inputs, ``"ffill"`` or ``"raise"``
            (:func:`~tagi_lstm.data.fill_missing`); NaN targets are always
            skipped in updates.
        batch_size: windows per TAGI update during ``fit``.
        seed: seeds the initial weights and the shuffling.
        dtype: ``"float32"`` or ``"float64"``.
        device: ``"cpu"`` or ``"cuda"``.

    Attributes:
        net: the :class:`~tagi_lstm.Sequential` network (after ``fit``).
        history_: per-epoch dicts ``{"epoch", "sigma_v", "val_log_likelihood",
            "val_rmse"}``.
        best_epoch_: the epoch whose parameters were kept.
    """

    def __init__(self, lookback: int = 24, hidden_size: int = 16, num_layers: int = 1, *,
                 noise: str = "heteroscedastic", sigma_v: float = 1.0,
                 sigma_v_min: float = 0.3, decay: float = 0.95, difference: bool = False,
                 calendar=(), fill: str = "ffill", batch_size: int = 8, seed: int | None = 0,
                 dtype: str = "float32", device: str = "cpu"):
        where = "Forecaster"
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
        self.difference = bool(difference)
        self.calendar = tuple(calendar)
        unknown = [c for c in self.calendar if c not in CALENDAR_PERIODS]
        if unknown:
            raise ValueError(f"{where}: calendar features must be among "
                             f"{sorted(CALENDAR_PERIODS)}; got {unknown}")
        if fill not in ("ffill", "raise"):
            raise ValueError(f"{where}: fill must be 'ffill' or 'raise'; got {fill!r}")
        self.fill = fill
        self.batch_size = check_positive_int(batch_size, name="batch_size", where=where)
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self.device = device
        self.net = None
        self.history_ = []
        self.best_epoch_ = None
        self._sigma_v_now = self.sigma_v
        self._num_covariates = None
        self._scale = None  # (mean, std) of the modelled series, then of each covariate
        self._y = self._dates = self._cov = None  # the series seen so far

    # ------------------------------------------------------------------ setup
    def _build(self, num_covariates: int) -> None:
        if self.seed is not None:
            manual_seed(self.seed)
        n_in, h, L = 1 + num_covariates, self.hidden_size, self.lookback
        layers = [LSTM(n_in, h, L)] + [LSTM(h, h, L) for _ in range(self.num_layers - 1)]
        if self.noise == "heteroscedastic":
            layers += [Linear(h * L, 2), EvenExp()]
        else:
            layers += [Linear(h * L, 1)]
        self.net = Sequential(*layers).to_dtype(self.dtype)
        if self.device != "cpu":
            self.net.to_device(self.device)
        self._updater = OutputUpdater(self.net.device)
        self._num_covariates = num_covariates

    def _check_series(self, y, covariates, dates, where):
        """Validated ``(y, covariates, dates)``; pandas objects give their values and index."""
        if dates is None and hasattr(y, "index") and hasattr(y.index, "dtype") and \
                np.issubdtype(np.asarray(y.index).dtype, np.datetime64):
            dates = np.asarray(y.index)
        y = check_array(np.asarray(y, dtype=np.float64), name="y", where=where,
                        allow_nan=True)
        if y.ndim != 1:
            raise ValueError(f"{where}: y must be a 1-D series; got shape {y.shape}")
        n = y.size
        if covariates is not None:
            covariates = check_array(np.asarray(covariates, dtype=np.float64),
                                     name="covariates", where=where)
            if covariates.ndim == 1:
                covariates = covariates[:, None]
            if covariates.ndim != 2 or covariates.shape[0] != n:
                raise ValueError(f"{where}: covariates must be ({n}, k), one row per step of "
                                 f"y; got shape {covariates.shape}")
        if dates is not None:
            dates = np.asarray(dates, dtype="datetime64[s]")
            if dates.shape != (n,):
                raise ValueError(f"{where}: dates must have one timestamp per step of y "
                                 f"({n}); got shape {dates.shape}")
        elif self.calendar:
            raise ValueError(f"{where}: calendar={self.calendar} needs timestamps; pass "
                             f"dates= or a pandas Series with a DatetimeIndex")
        return y, covariates, dates

    def _all_covariates(self, covariates, dates, n: int):
        """User covariates then calendar terms, ``(n, k)`` (``k`` may be 0)."""
        parts = [np.zeros((n, 0))]
        if covariates is not None:
            parts.append(covariates)
        if self.calendar:
            parts.append(time_features(dates, self.calendar))
        return np.concatenate(parts, axis=1)

    def _inputs(self, y, cov):
        """Standardised network inputs ``(time, 1 + k)`` and raw targets ``(time,)``.

        Differencing loses the first step: row ``t`` models ``y[t+1] - y[t]``.
        """
        filled = fill_missing(y, self.fill)
        if self.difference:
            series, target = np.diff(filled), np.diff(y)
            cov = cov[1:]
        else:
            series, target = filled, y
        (m, s), cov_scale = self._scale
        z = Normalizer.standardize(series, m, s)[:, None]
        if cov.shape[1]:
            z = np.concatenate([z, Normalizer.standardize(cov, *cov_scale)], axis=1)
        return z, Normalizer.standardize(target, m, s)

    def _windows(self, y, cov):
        """All one-step windows of a series: ``x (n, L, 1 + k)``, targets ``(n,)``, and the
        position in ``y`` of each target."""
        z, target = self._inputs(y, cov)
        need = self.lookback + 1 + self.difference
        if len(y) < need:
            raise ValueError(f"Forecaster: the series has {len(y)} steps but one window needs "
                             f"lookback + 1{' + 1 (differencing)' if self.difference else ''}"
                             f" = {need}")
        x, t = rolling_windows(z[:, :1], self.lookback, 1,
                               covariates=z[:, 1:] if z.shape[1] > 1 else None,
                               targets=target)
        positions = np.arange(self.lookback, self.lookback + len(t)) + self.difference
        return x, t[:, 0], positions

    # ------------------------------------------------------------- prediction
    def _predict_windows(self, mu_x, var_x=None):
        """Standardised ``(mean, model var, noise var)`` of each window's next value."""
        dt = self.dtype
        mu, var = self.net(mu_x.astype(dt), None if var_x is None else var_x.astype(dt))
        mu, var = mu.astype(np.float64), var.astype(np.float64)
        if self.noise == "heteroscedastic":
            return mu[:, 0], var[:, 0], mu[:, 1]
        return mu[:, 0], var[:, 0], np.full(len(mu), self._sigma_v_now ** 2)

    def _to_original(self, mean_z, var_z, noise_z, anchor=0.0):
        """Original units; with differencing, ``anchor`` is the level each difference adds to."""
        (m, s), _ = self._scale
        mean = Normalizer.unstandardize(mean_z, m, s) + anchor
        std = Normalizer.unstandardize_std(np.sqrt(var_z + noise_z), s)
        noise_std = Normalizer.unstandardize_std(np.sqrt(noise_z), s)
        return mean, std, noise_std

    def _one_step(self, x, positions, y, dates) -> Forecast:
        """Forecasts of the windows ``x`` whose targets sit at ``positions`` of ``y``."""
        self.net.eval()
        parts = [self._predict_windows(x[i:i + 256]) for i in range(0, len(x), 256)]
        mean_z, var_z, noise_z = (np.concatenate(p) for p in zip(*parts))
        anchor = fill_missing(y, self.fill)[positions - 1] if self.difference else 0.0
        mean, std, noise_std = self._to_original(mean_z, var_z, noise_z, anchor)
        return Forecast(mean, std, dates[positions] if dates is not None else positions,
                        noise_std)

    def predict(self, y, covariates=None, dates=None) -> Forecast:
        """One-step-ahead forecasts of every step of ``y`` that has a full window behind it.

        Args:
            y: ``(time,)`` series (NaN allowed; inputs are filled by ``fill``).
            covariates: ``(time, k)`` covariates, as given to :meth:`fit`.
            dates: ``(time,)`` timestamps (needed with ``calendar``).

        Returns:
            :class:`Forecast` for steps ``lookback (+1 if differencing) ... time - 1``.
        """
        self._check_fitted("predict")
        y, covariates, dates = self._check_series(y, covariates, dates, "Forecaster.predict")
        self._check_covariates(covariates, "Forecaster.predict")
        x, _, positions = self._windows(y, self._all_covariates(covariates, dates, len(y)))
        return self._one_step(x, positions, y, dates)

    def forecast(self, horizon: int, y=None, covariates=None, dates=None,
                 future_covariates=None) -> Forecast:
        """Recursive forecast of the next ``horizon`` steps after the end of ``y``.

        Each step's predicted Gaussian (mean, model variance plus noise
        variance) is fed back as the next input with its variance, so the
        intervals widen by TAGI's own propagation.

        Args:
            horizon: steps ahead, ``H``.
            y, covariates, dates: the history to forecast from (default: the
                series seen by ``fit`` and ``update``).
            future_covariates: ``(H, k)`` covariates of the forecast steps
                (needed when ``fit`` had covariates; calendar ones are
                computed from the dates).

        Returns:
            :class:`Forecast` of ``H`` steps; its index continues the dates
            at their last spacing (or the integer positions).
        """
        where = "Forecaster.forecast"
        self._check_fitted("forecast")
        horizon = check_positive_int(horizon, name="horizon", where=where)
        if y is None:
            y, covariates, dates = self._y, self._cov, self._dates
        else:
            y, covariates, dates = self._check_series(y, covariates, dates, where)
            self._check_covariates(covariates, where)
        need = self.lookback + self.difference
        if len(y) < need:
            raise ValueError(f"{where}: the history has {len(y)} steps; forecasting needs at "
                             f"least lookback{' + 1' if self.difference else ''} = {need}")
        n_user = self._num_covariates - 2 * len(self.calendar)
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
            step = dates[-1] - dates[-2] if len(dates) > 1 else np.timedelta64(1, "D")
            future_dates = dates[-1] + step * np.arange(1, horizon + 1)
            all_dates = np.concatenate([dates, future_dates])
            index = future_dates
        else:
            all_dates, index = None, np.arange(len(y), len(y) + horizon)
        all_user = None if not n_user else np.concatenate([covariates, future_covariates])
        cov_all = self._all_covariates(all_user, all_dates, len(y) + horizon)
        # inputs of the history: the last lookback rows of the standardised series
        history_z, _ = self._inputs(y, cov_all[:len(y)])
        (m, s), cov_scale = self._scale
        cov_z = Normalizer.standardize(cov_all[1 + self.difference:], *cov_scale) \
            if cov_all.shape[1] else np.zeros((len(cov_all) - 1 - self.difference, 0))
        L = self.lookback
        mu_s = list(history_z[-L:, 0])
        var_s = [0.0] * L
        start = len(history_z) - L  # row of the first window step in history_z / cov_z
        self.net.eval()
        mean_z, var_z, noise_z = np.empty(horizon), np.empty(horizon), np.empty(horizon)
        for h in range(horizon):
            cov_win = cov_z[start + h:start + h + L]
            mu_x = np.concatenate([np.array(mu_s[-L:])[:, None], cov_win], axis=1)[None]
            var_x = np.zeros_like(mu_x)
            var_x[0, :, 0] = var_s[-L:]
            mean, var, noise = (a[0] for a in self._predict_windows(mu_x, var_x))
            mean_z[h], var_z[h], noise_z[h] = mean, var, noise
            mu_s.append(mean)
            var_s.append(var + noise)
        if self.difference:
            last = fill_missing(y, self.fill)[-1]
            mean = last + np.cumsum(Normalizer.unstandardize(mean_z, m, s))
            # y[T+h] - y[T] = sum of the differences: their model variances add up, while
            # their noise terms telescope (e[T+h] - e[T]), leaving one step's noise
            var = (np.cumsum(var_z) + noise_z) * (s + 1e-10) ** 2
            noise_std = Normalizer.unstandardize_std(np.sqrt(noise_z), s)
            return Forecast(mean, np.sqrt(var), index, noise_std)
        mean, std, noise_std = self._to_original(mean_z, var_z, noise_z)
        return Forecast(mean, std, index, noise_std)

    # --------------------------------------------------------------- learning
    def _learn(self, x, t) -> None:
        """One TAGI update of the network on windows ``x`` with standardised targets ``t``."""
        self.net(x.astype(self.dtype))
        out, deltas = self.net.output_z_buffer, self.net.input_delta_z_buffer
        if self.noise == "heteroscedastic":
            self._updater.update_heteros(out, t.astype(self.dtype), deltas)
        else:
            self._updater.update(out, t.astype(self.dtype), self._sigma_v_now ** 2, deltas)
        self.net.backward()
        self.net.step()

    def fit(self, y, covariates=None, dates=None, *, validation: float = 0.2,
            epochs: int = 50, patience: int = 5, shuffle: bool = True,
            progress: bool = True) -> Forecaster:
        """Train on ``y``, keeping the last ``validation`` fraction for early stopping.

        Standardisation is fitted on the training part only. After each
        epoch the mean Gaussian log-likelihood of the one-step forecasts of
        the validation part is logged in ``history_``; training stops after
        ``patience`` epochs without improvement and the best epoch's
        parameters (and noise level) are restored.

        Args:
            y: ``(time,)`` series; a pandas Series brings its index as dates.
            covariates: ``(time, k)`` known-ahead covariates, or None.
            dates: ``(time,)`` timestamps (needed with ``calendar``).
            validation: fraction of the steps, from the end, held out
                (0 trains on everything for ``epochs`` epochs).
            epochs: most epochs.
            patience: epochs without validation improvement before stopping.
            shuffle: visit the training windows in a new random order each
                epoch (TAGI updates like a filter, so chronological order
                favours the end of the series).
            progress: show a tqdm progress bar.

        Returns:
            ``self``.
        """
        where = "Forecaster.fit"
        y, covariates, dates = self._check_series(y, covariates, dates, where)
        epochs = check_positive_int(epochs, name="epochs", where=where)
        patience = check_positive_int(patience, name="patience", where=where)
        if not 0 <= validation < 1:
            raise ValueError(f"{where}: validation must be a fraction in [0, 1); got "
                             f"{validation}")
        cov = self._all_covariates(covariates, dates, len(y))
        n_train = len(y) - int(round(validation * len(y)))
        train_part = y[:n_train]
        series = np.diff(train_part) if self.difference else train_part
        if np.isnan(series).all():
            raise ValueError(f"{where}: the training part has no observed values")
        m, s = Normalizer.compute_mean_std(series)
        cov_scale = Normalizer.compute_mean_std(cov[:n_train]) if cov.shape[1] else (0.0, 1.0)
        self._scale = ((float(m), float(s)), cov_scale)
        self._build(cov.shape[1])
        x, t, positions = self._windows(y, cov)
        is_train = positions < n_train
        x_train, t_train = x[is_train], t[is_train]
        x_val, t_val = x[~is_train], t[~is_train]
        if len(x_train) == 0:
            raise ValueError(f"{where}: no training window: the training part has {n_train} "
                             f"steps, lookback is {self.lookback}")
        rng = np.random.default_rng(self.seed)
        best = (-np.inf, None, None)
        self.history_ = []
        epoch_iter = range(epochs)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = epoch_iter = tqdm(epoch_iter, desc="fit", unit="epoch")
        waited = 0
        for epoch in epoch_iter:
            if self.noise == "scheduled":
                self._sigma_v_now = exponential_scheduler(self._sigma_v_now, self.sigma_v_min,
                                                          self.decay, epoch)
            self.net.train()
            for xb, tb in batches(x_train, t_train, self.batch_size, shuffle=shuffle, rng=rng):
                self._learn(xb, tb)
            record = {"epoch": epoch, "sigma_v": self._sigma_v_now
                      if self.noise != "heteroscedastic" else None}
            if len(x_val) and not np.isnan(t_val).all():
                pred = self._one_step(x_val, positions[~is_train], y, dates)
                obs = y[positions[~is_train]]
                record["val_log_likelihood"] = metric.log_likelihood(pred.mean, obs, pred.std)
                record["val_rmse"] = metric.rmse(pred.mean, obs)
                if record["val_log_likelihood"] > best[0]:
                    best = (record["val_log_likelihood"], self.net.state_dict(),
                            self._sigma_v_now)
                    self.best_epoch_ = epoch
                    waited = 0
                else:
                    waited += 1
                if bar is not None:
                    bar.set_postfix(val_ll=f"{record['val_log_likelihood']:.3f}")
            self.history_.append(record)
            if waited >= patience:
                break
        if best[1] is not None:
            self.net.load_state_dict(best[1])
            self._sigma_v_now = best[2]
        else:
            self.best_epoch_ = len(self.history_) - 1
        if bar is not None:
            bar.close()
        self._y, self._cov, self._dates = y, covariates, dates
        return self

    def update(self, y_new, covariates_new=None, dates_new=None) -> Forecast:
        """Online learning: forecast each new observation one step ahead, then learn from it.

        The new steps extend the series seen so far; each one is first
        predicted from the window before it (the returned forecasts are
        honest one-step-ahead forecasts) and then used for one TAGI update
        (skipped when it is NaN).

        Args:
            y_new: ``(n,)`` new observations, following the series seen so far.
            covariates_new: ``(n, k)`` their covariates (when fitted with some).
            dates_new: ``(n,)`` their timestamps (when fitted with dates).

        Returns:
            :class:`Forecast` of the ``n`` new steps made before learning each.
        """
        where = "Forecaster.update"
        self._check_fitted("update")
        y_new, covariates_new, dates_new = self._check_series(y_new, covariates_new, dates_new,
                                                              where)
        self._check_covariates(covariates_new, where)
        if (dates_new is None) != (self._dates is None):
            raise ValueError(f"{where}: give dates_new exactly when fit had dates")
        y = np.concatenate([self._y, y_new])
        cov = None if covariates_new is None else np.concatenate([self._cov, covariates_new])
        dates = None if dates_new is None else np.concatenate([self._dates, dates_new])
        x, t, positions = self._windows(y, self._all_covariates(cov, dates, len(y)))
        new = np.flatnonzero(positions >= len(self._y))
        mean, std, noise_std = (np.empty(len(new)) for _ in range(3))
        for j, k in enumerate(new):
            f = self._one_step(x[k:k + 1], positions[k:k + 1], y, dates)
            mean[j], std[j], noise_std[j] = f.mean[0], f.std[0], f.noise_std[0]
            if not np.isnan(t[k]):
                self.net.train()
                self._learn(x[k:k + 1], t[k:k + 1])
        self._y, self._cov, self._dates = y, cov, dates
        return Forecast(mean, std, dates[positions[new]] if dates is not None
                        else positions[new], noise_std)

    # ------------------------------------------------------------ persistence
    def _config(self) -> dict:
        return {"lookback": self.lookback, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "noise": self.noise, "sigma_v": self.sigma_v,
                "sigma_v_min": self.sigma_v_min, "decay": self.decay,
                "difference": self.difference, "calendar": list(self.calendar),
                "fill": self.fill, "batch_size": self.batch_size, "seed": self.seed,
                "dtype": self.dtype.name}

    def save(self, filename) -> None:
        """Save configuration, scaling, the series seen so far and the network to ``.npz``."""
        self._check_fitted("save")
        (m, s), (cm, cs) = self._scale
        state = {"config": self._config(), "scale": [m, s], "sigma_v_now": self._sigma_v_now,
                 "num_covariates": self._num_covariates}
        arrays = {"__forecaster__": np.array(json.dumps(state)), "y": self._y,
                  "cov_mean": np.atleast_1d(cm), "cov_std": np.atleast_1d(cs)}
        if self._cov is not None:
            arrays["covariates"] = self._cov
        if self._dates is not None:
            arrays["dates"] = self._dates.astype("datetime64[s]").astype(np.int64)
        arrays.update(self.net._param_arrays())
        with open(filename, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, filename) -> Forecaster:
        """A forecaster written by :meth:`save`, ready to ``predict``/``forecast``/``update``."""
        path = Path(filename)
        with np.load(path, allow_pickle=False) as data:
            if "__forecaster__" not in data:
                raise ValueError(f"Forecaster.load: {path} is not a saved Forecaster")
            state = json.loads(str(data["__forecaster__"]))
            self = cls(**state["config"])
            self._build(state["num_covariates"])
            self.net._load_param_arrays(data)
            cov_scale = (data["cov_mean"], data["cov_std"]) if state["num_covariates"] \
                else (0.0, 1.0)
            self._scale = (tuple(state["scale"]), cov_scale)
            self._sigma_v_now = state["sigma_v_now"]
            self._y = data["y"]
            self._cov = data["covariates"] if "covariates" in data else None
            self._dates = data["dates"].astype("datetime64[s]") if "dates" in data else None
        return self

    # ----------------------------------------------------------------- checks
    def _check_fitted(self, what: str) -> None:
        if self.net is None:
            raise RuntimeError(f"Forecaster.{what}: call fit() first")

    def _check_covariates(self, covariates, where: str) -> None:
        n_user = self._num_covariates - 2 * len(self.calendar)
        got = 0 if covariates is None else covariates.shape[1]
        if got != n_user:
            raise ValueError(f"{where}: the model was fitted with {n_user} covariate "
                             f"column(s); got {got}")


def seasonal_naive(y, period: int, start: int, noise_from: int | None = None) -> Forecast:
    """The seasonal-naive baseline: each step forecast by the value one period earlier.

    Its standard deviation is that of the seasonal differences
    ``y[t] - y[t - period]`` over ``y[:noise_from]`` (default ``start``),
    i.e. before the forecast period.

    Args:
        y: ``(time,)`` series (NaN allowed).
        period: season length in steps.
        start: first step to forecast (``>= period``).
        noise_from: end of the part whose seasonal differences set the std.

    Returns:
        :class:`Forecast` of steps ``start ... time - 1`` (a missing value one
        period back is carried forward from the last observed one).
    """
    where = "seasonal_naive"
    y = check_array(np.asarray(y, dtype=np.float64), name="y", where=where, allow_nan=True)
    period = check_positive_int(period, name="period", where=where)
    if not period <= start < len(y):
        raise ValueError(f"{where}: start must be in [period, len(y)) = [{period}, {len(y)}); "
                         f"got {start}")
    filled = fill_missing(y, "ffill")
    past = filled[: noise_from or start]
    std = float(np.nanstd(y[period:len(past)] - past[:-period]))
    mean = filled[start - period:len(y) - period]
    n = len(mean)
    return Forecast(mean, np.full(n, std), np.arange(start, len(y)), np.full(n, std))
