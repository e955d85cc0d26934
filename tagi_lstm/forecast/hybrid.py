r"""The LSTM / state-space hybrid: an LSTM beside a local level (optionally a trend and
a seasonal component) in one Kalman filter.

Model, in units standardised by the training part's mean and standard
deviation (the coupling of Vuong, Nguyen & Goulet, *Coupling LSTM neural
networks and state-space models through analytically tractable inference*,
International Journal of Forecasting 41(1), 2025)::

    level      l_t = l_{t-1} + w_t,                 w_t ~ N(0, q)
    pattern    z_t ~ N(mu_z, var_z) = LSTM(z_{t-L}, ..., z_{t-1})
    observed   y_t = l_t + z_t + v_t,               v_t ~ N(0, sigma_v^2)

The LSTM reads the filtered moments of its own component ``z`` (not the
observations), so the level carries the slow drift and the LSTM the recurrent
pattern around it. With ``trend_noise`` the level follows a local linear
trend, and with ``seasonal_noise`` a seasonal component of period ``season``
joins it (:class:`StateSpace`): the state-space part is then a vector
``x_t = F x_{t-1} + w_t`` observed through ``h x_t``, and in the step below
``m = h x``, ``p = h P h'`` and the state moves by ``P h' e / s``.

One filter step (a local level). With the level's prior ``N(m, p)`` (``q``
already added) and the LSTM's prior ``N(mu_z, var_z)``, independent a priori,
an observation ``y_t`` gives

.. math::

    s = p + \mathrm{var}_z + \sigma_v^2, \qquad e = y_t - m - \mu_z,

    m \leftarrow m + \frac{p}{s} e, \qquad p \leftarrow p - \frac{p^2}{s},

    \mu_z \leftarrow \mu_z + \frac{\mathrm{var}_z}{s} e, \qquad
    \mathrm{var}_z \leftarrow \mathrm{var}_z - \frac{\mathrm{var}_z^2}{s}.

The update of ``z`` is exactly TAGI's output update for the observation
``y_t - m`` with noise variance ``p + sigma_v^2``, so learning is one call of
:meth:`Sequential.update <tagi_lstm.Sequential.update>` with that target and
variance; the backward pass carries it to the weights. The posterior
covariance ``-p var_z / s`` between level and pattern is dropped: the next
step's priors treat them as independent. A missing ``y_t`` (NaN) leaves both
priors as they are. An outlier is moved to ``MAX_INNOVATION`` predictive
standard deviations, ``|e| <= 5 sqrt(s)``, before the update (the bound of
:class:`~tagi_lstm.OutputUpdater`), so a spike moves the level and the
weights a bounded amount.

Forecasting ``h`` steps ahead, the level's variance grows by ``q`` per step (with a
trend and a season, the state's covariance by ``F P F' + Q``) and the LSTM reads its
own forecasts back with their variances (TAGI's forward pass carries input
variances), so the variance of ``y_{t+h}``, ``p_h + var_{z,h} + sigma_v^2``, widens
with the horizon by construction.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .. import metric
from .._validation import check_float_dtype, check_positive_int, check_real, check_seed
from ..config import HYBRID_START_VAR, HYBRID_TREND_START_VAR, MAX_INNOVATION
from ..dates import check_dates, future_dates, infer_frequency
from ..layers import LSTM, Linear
from ..persist import check_scale, check_sizes, layer_sizes, save_npz
from ..random import seeded
from ..sequential import Sequential
from ..utils import Normalizer
from .base import ForecasterBase
from .combination import load_any
from .model import backtest_horizon, check_series
from .panel import is_panel
from .result import Backtest, Forecast, mixture_moments, mixture_with_parts
from .transform import Power

#: Variance parts of a hybrid forecast (they add up to its variance).
HYBRID_COMPONENTS = ("parameters", "fed_back", "level", "noise", "ensemble")
#: How ``fit`` learns from the held-out tail after early stopping.
HYBRID_REFITS = ("retrain", "online", False)


class StateSpace:
    r"""The linear-Gaussian part of the hybrid: a level, optionally a trend and a
    seasonal component (dummy form), with transition ``F``, step noise ``Q`` and
    observation vector ``h`` (``y_t = h x_t + z_t + v_t``).

    State ``x = (l, [b], [s_t, s_{t-1}, ..., s_{t-m+2}])``::

        level    l_t = l_{t-1} [+ b_{t-1}] + w_l,     w_l ~ N(0, level_noise)
        trend    b_t = b_{t-1} + w_b,                 w_b ~ N(0, trend_noise)
        season   s_t = -(s_{t-1} + ... + s_{t-m+1}) + w_s,  w_s ~ N(0, seasonal_noise)

    so the seasonal effects of any ``m`` consecutive steps sum to zero up to the
    noise, and ``h`` picks the level and the current seasonal effect.

    Args:
        level_noise: ``q``, the level's step variance.
        trend_noise: the trend's step variance, or ``None`` (no trend).
        seasonal_noise: the seasonal effect's step variance, or ``None`` (no
            seasonal component).
        season: ``m >= 2``, needed with ``seasonal_noise``.
    """

    def __init__(self, level_noise: float, trend_noise: float | None = None,
                 seasonal_noise: float | None = None, season: int | None = None):
        trend = trend_noise is not None
        m = season if seasonal_noise is not None else 1
        k = 1 + trend + (m - 1)
        F, q, h = np.zeros((k, k)), np.zeros(k), np.zeros(k)
        F[0, 0], q[0], h[0] = 1.0, level_noise, 1.0
        if trend:
            F[0, 1] = F[1, 1] = 1.0
            q[1] = trend_noise
        if m > 1:
            first = 1 + trend
            F[first, first:] = -1.0
            F[first + 1:, first:-1] += np.eye(m - 2)
            q[first], h[first] = seasonal_noise, 1.0
        self.F, self.Q, self.h = F, np.diag(q), h
        self.F_inv = np.linalg.inv(F)
        self.trend = trend

    @property
    def size(self) -> int:
        """``k``, the length of the state."""
        return len(self.h)

    def start(self, level: float) -> tuple:
        """``(x, P)`` before the first step: the level at ``level`` with variance
        :data:`~tagi_lstm.config.HYBRID_START_VAR`, no trend, no seasonal effects
        (variances :data:`~tagi_lstm.config.HYBRID_TREND_START_VAR` and
        ``HYBRID_START_VAR``): the first epoch's smoother replaces them."""
        x = np.zeros(self.size)
        x[0] = level
        p = np.full(self.size, HYBRID_START_VAR)
        if self.trend:
            p[1] = HYBRID_TREND_START_VAR
        return x, np.diag(p)

    def smoothed_start(self, xs, covs) -> tuple:
        """``(x, P)`` before the first step given all steps: the Rauch-Tung-Striebel
        smoother run back over the filtered moments ``xs`` ``(n, k)`` and ``covs``
        ``(n, k, k)`` that :meth:`HybridMember.filter` returns, then taken back
        one step through ``F^{-1}`` (the filter starts by applying ``F``)."""
        F, Q = self.F, self.Q
        x_s, P_s = xs[-1], covs[-1]
        for x_f, P_f in zip(xs[-2::-1], covs[-2::-1]):
            P_pred = F @ P_f @ F.T + Q
            gain = np.linalg.solve(P_pred, F @ P_f).T  # P_f F' P_pred^{-1}, P's symmetric
            x_s = x_f + gain @ (x_s - F @ x_f)
            P_s = P_f + gain @ (P_s - P_pred) @ gain.T
        return self.F_inv @ x_s, self.F_inv @ P_s @ self.F_inv.T


class FilterState:
    """Filter moments of ``B`` independent runs (one per row), its :data:`FIELDS`.

    Attributes:
        x, cov: ``(B, k)`` and ``(B, k, k)`` posterior mean and covariance of the
            state-space part (:class:`StateSpace`).
        mu_z, var_z: ``(B, L)`` posterior moments of the last ``L`` pattern
            values, oldest first (what the LSTM reads next).
    """

    FIELDS = ("x", "cov", "mu_z", "var_z")

    def __init__(self, x, cov, mu_z, var_z):
        self.x, self.cov = x, cov
        self.mu_z, self.var_z = mu_z, var_z

    @classmethod
    def start(cls, x, cov, lookback: int) -> FilterState:
        """Before the first step: the state's moments ``(k,)``, ``(k, k)``, no pattern
        yet."""
        return cls(np.asarray(x, dtype=np.float64)[None].copy(),
                   np.asarray(cov, dtype=np.float64)[None].copy(),
                   np.zeros((1, lookback)), np.zeros((1, lookback)))

    @classmethod
    def stack(cls, states) -> FilterState:
        return cls(*(np.concatenate([getattr(s, a) for s in states]) for a in cls.FIELDS))

    def row(self, i: int) -> FilterState:
        """Run ``i`` alone (views)."""
        return FilterState(*(getattr(self, a)[i:i + 1] for a in self.FIELDS))

    def copy(self) -> FilterState:
        return FilterState(*(getattr(self, a).copy() for a in self.FIELDS))

    def as_lists(self) -> dict:
        return {a: getattr(self, a).tolist() for a in self.FIELDS}


class HybridMember:
    """One LSTM ``LSTM(1, hidden, L) -> Linear(hidden * L, 1)`` and its filter."""

    def __init__(self, lookback: int, hidden_size: int, dtype, seed: int | None):
        with seeded(seed):
            self.net = Sequential(LSTM(1, hidden_size, lookback),
                                  Linear(hidden_size * lookback, 1)).to_dtype(dtype)
        self.dtype = np.dtype(dtype)
        self.history: list = []
        self.best_epoch: int | None = None
        #: ``(mean, variance)`` of the level before the first step.
        self.start: tuple | None = None
        #: Observations bounded at ``MAX_INNOVATION`` so far (outliers).
        self.num_bounded = 0

    def release_buffers(self) -> None:
        """Free the network's work buffers (:meth:`Sequential.release_buffers
        <tagi_lstm.Sequential.release_buffers>`) and the last batch's final LSTM
        states (every window starts afresh: none is carried)."""
        self.net.release_buffers()
        self.net.reset_lstm_states()

    def pattern(self, mu_z, var_z):
        """Prior moments ``(B,)`` of the next pattern value after windows ``(B, L)``."""
        mu, var = self.net(mu_z[:, :, None].astype(self.dtype),
                           var_z[:, :, None].astype(self.dtype))
        return mu[:, 0].astype(np.float64), var[:, 0].astype(np.float64)

    def filter(self, y, state: FilterState, ss: StateSpace, sigma_v2: float, *,
               learn: bool, keep=()) -> tuple:
        """Run the filter through standardised ``y`` (one run, ``B = 1``).

        Args:
            y: ``(n,)`` observations, NaN where missing.
            state: where the run starts (not modified).
            ss: the state-space part; ``sigma_v2`` the observation noise variance.
            learn: update the LSTM at each observed step.
            keep: positions ``t`` (increasing) whose state *before* step ``t``
                is returned.

        Returns:
            ``(mean, var, state, kept, (xs, covs))``: the one-step-ahead
            predictive moments of every step ``(n,)``, the state after the
            last step, the list of kept states and the state-space part's
            filtered mean ``(n, k)`` and covariance ``(n, k, k)`` after each step.
        """
        net = self.net
        net.train() if learn else net.eval()
        L = state.mu_z.shape[1]
        n = len(y)
        F, Q, h = ss.F, ss.Q, ss.h
        x, P = state.x[0].copy(), state.cov[0].copy()
        z_mu = np.concatenate([state.mu_z[0], np.empty(n)])
        z_var = np.concatenate([state.var_z[0], np.empty(n)])
        mean, var = np.empty(n), np.empty(n)
        xs, covs = np.empty((n, ss.size)), np.empty((n, ss.size, ss.size))
        kept, want = [], iter(keep)
        nxt = next(want, None)
        for t in range(n):
            if nxt == t:
                kept.append(FilterState(x[None].copy(), P[None].copy(),
                                        z_mu[None, t:t + L].copy(), z_var[None, t:t + L].copy()))
                nxt = next(want, None)
            x, P = F @ x, F @ P @ F.T + Q
            mu, vz = self.pattern(z_mu[None, t:t + L], z_var[None, t:t + L])
            mz, vz = float(mu[0]), float(vz[0])
            Ph = P @ h
            p = float(h @ Ph)  # the state-space part's predictive variance
            s = p + vz + sigma_v2
            mean[t], var[t] = float(h @ x) + mz, s
            if np.isnan(y[t]):
                z_mu[t + L], z_var[t + L] = mz, vz
                xs[t], covs[t] = x, P
                continue
            # an outlier is moved to MAX_INNOVATION predictive standard deviations, as
            # OutputUpdater does, so one spike cannot throw the state far off
            bound = MAX_INNOVATION * math.sqrt(s)
            e = y[t] - mean[t]
            if abs(e) > bound:
                e = math.copysign(bound, e)
                self.num_bounded += 1
            if learn:
                net.update(np.array([mz + e]), p + sigma_v2)
            x, P = x + Ph * (e / s), P - np.outer(Ph, Ph) / s
            z_mu[t + L], z_var[t + L] = mz + vz * e / s, vz - vz * vz / s
            xs[t], covs[t] = x, P
        end = FilterState(x[None].copy(), P[None].copy(), z_mu[None, n:].copy(),
                          z_var[None, n:].copy())
        while nxt is not None:  # positions at or past the end: the final state
            kept.append(end.copy())
            nxt = next(want, None)
        return mean, var, end, kept, (xs, covs)

    def forecast(self, state: FilterState, horizon: int, ss: StateSpace,
                 sigma_v2: float) -> dict:
        """``horizon``-step forecasts from each row of ``state``: ``(B, H)`` arrays
        ``mean`` and the variance parts ``parameters`` (the weights' own
        uncertainty), ``fed_back`` (what the uncertain inputs add: filtered and
        fed-back pattern values), ``level`` (the state-space part: level, trend
        and season) and ``noise``."""
        self.net.eval()
        x, P = state.x.copy(), state.cov.copy()
        z_mu, z_var = state.mu_z.copy(), state.var_z.copy()
        B = len(x)
        out = {k: np.empty((B, horizon)) for k in ("mean", "parameters", "fed_back", "level")}
        for step in range(horizon):
            x, P = x @ ss.F.T, ss.F @ P @ ss.F.T + ss.Q
            mu, vz = self.pattern(z_mu, z_var)
            _, v_weights = self.pattern(z_mu, np.zeros_like(z_var))
            out["mean"][:, step] = x @ ss.h + mu
            out["parameters"][:, step] = v_weights
            out["fed_back"][:, step] = vz - v_weights
            out["level"][:, step] = np.einsum("i,bij,j->b", ss.h, P, ss.h)
            z_mu = np.concatenate([z_mu[:, 1:], mu[:, None]], axis=1)
            z_var = np.concatenate([z_var[:, 1:], vz[:, None]], axis=1)
        out["noise"] = np.full((B, horizon), sigma_v2)
        return out


class HybridForecaster(ForecasterBase):
    r"""The LSTM / state-space hybrid (see the module docstring for the model).

    An LSTM models the recurrent pattern, a random-walk level (optionally
    with a trend and a seasonal component) the drift around which it recurs,
    and one Kalman filter couples them, so the predictive variance of a
    multi-step forecast grows with the horizon by construction: ``level``
    (the state-space part: ``q`` per step for a local level), ``parameters``
    and ``fed_back`` (the LSTM) and ``noise``. It suits short seasonal series where
    a level that adapts at every step matters more than a long window; on
    :meth:`Forecaster.auto <tagi_lstm.forecast.Forecaster.auto>`'s backtest
    it competes with the plain forecaster and wins where it does better.

    The series is standardised by the training part's mean and standard
    deviation; ``level_noise`` and ``sigma_v`` are in those units. No
    covariates: the LSTM reads only its own component.

    Args:
        lookback: pattern values the LSTM reads, ``L``.
        hidden_size: LSTM units.
        level_noise: variance ``q`` of the level's step.
        trend_noise: variance of the trend's step; ``None`` (default): no trend
            (a local level; with a value, a local linear trend).
        seasonal_noise: variance of the seasonal effect's step; ``None``
            (default): no seasonal component (the LSTM carries the season);
            with a value, a dummy seasonal component of period ``season``
            beside the LSTM (see :class:`StateSpace`).
        sigma_v: observation-noise standard deviation.
        transform: model ``sqrt(y)`` (``"sqrt"``) or ``log(y)`` (``"log"``)
            instead of ``y``, as :class:`~tagi_lstm.forecast.Forecaster` does:
            the filter runs on the transformed series, and forecasts come back
            in the units of ``y`` with the exact moments of the
            transformed-back Gaussian, variance components in proportion.
        season: season length (the default horizon of :meth:`backtest`, the
            seasonal component's period).
        max_history: steps of the series kept (``None``: all), as for
            :class:`~tagi_lstm.forecast.Forecaster`.
        freq: the dates' frequency (pandas offset alias); inferred when
            ``None``.
        ensemble: members trained from seeds ``seed, seed + 1, ...``, combined
            by :func:`~tagi_lstm.forecast.mixture_moments`.
        seed: seeds the initial weights.
        dtype: of the networks.

    Attributes:
        members_: the :class:`HybridMember` networks (after ``fit``).
        state_: the filter's state after the series seen so far, one row per
            member.
        history_: per-epoch dicts ``{"member", "epoch",
            "val_log_likelihood"}`` of the early-stopping run.
    """

    def __init__(self, lookback: int = 24, hidden_size: int = 16, *,
                 level_noise: float = 1e-2, sigma_v: float = 0.2,
                 trend_noise: float | None = None, seasonal_noise: float | None = None,
                 transform: str | None = None, season: int | None = None,
                 freq: str | None = None, ensemble: int = 1, max_history: int | None = None,
                 seed: int | None = 0, dtype: str = "float32"):
        where = "HybridForecaster"
        self.lookback = check_positive_int(lookback, name="lookback", where=where)
        self.hidden_size = check_positive_int(hidden_size, name="hidden_size", where=where)
        self.level_noise = check_real(level_noise, name="level_noise", where=where,
                                      positive=True)
        self.sigma_v = check_real(sigma_v, name="sigma_v", where=where, positive=True)
        self._power = Power(transform, where)
        self.trend_noise, self.seasonal_noise = (
            None if v is None else check_real(v, name=name, where=where, positive=True)
            for v, name in ((trend_noise, "trend_noise"), (seasonal_noise, "seasonal_noise")))
        self.season = None if season is None else check_positive_int(season, name="season",
                                                                     where=where)
        if self.seasonal_noise is not None and (self.season is None or self.season < 2):
            raise ValueError(f"{where}: a seasonal component (seasonal_noise=...) needs "
                             f"season >= 2; got season={season!r}")
        self.state_space = StateSpace(self.level_noise, self.trend_noise, self.seasonal_noise,
                                      self.season)
        if freq is not None and not isinstance(freq, str):
            raise TypeError(f"{where}: freq must be a pandas offset alias such as 'MS' or "
                            f"'h', or None; got {freq!r}")
        self.freq = freq
        self.ensemble = check_positive_int(ensemble, name="ensemble", where=where)
        self.max_history = self._check_max_history(max_history, where)
        self.seed = check_seed(seed, where=where)
        self.dtype = check_float_dtype(dtype, where=where)
        self.members_: list = []
        self.history_: list = []
        self.freq_ = freq

    #: Steps of history a forecast needs (the filter starts from one observation).
    min_history = 1

    # ------------------------------------------------------------------ helpers
    def _check(self, y, covariates, dates, where):
        if covariates is not None:
            raise ValueError(f"{where}: the hybrid takes no covariates (its LSTM reads only "
                             f"its own component); use Forecaster for covariates")
        y, _, dates = check_series(y, None, dates, where)
        return y, dates

    def _standardise(self, y):
        m, s = self._scale
        return Normalizer.standardize(y, m, s)

    def _run(self, member, z, *, learn, keep=()):
        """The member's filter through ``z`` from its start (see :meth:`HybridMember.filter`)."""
        return member.filter(z, FilterState.start(*member.start, self.lookback),
                             self.state_space, self.sigma_v ** 2, learn=learn, keep=keep)

    def _forecasts(self, states, horizon: int) -> dict:
        """Mixture over members of their forecasts from ``states[i]`` (member ``i``), in
        original units: ``mean``, ``var`` and the parts."""
        m, s = self._scale
        means, variances, parts = [], [], []
        for member, state in zip(self.members_, states):
            out = member.forecast(state, horizon, self.state_space, self.sigma_v ** 2)
            means.append(Normalizer.unstandardize(out["mean"], m, s))
            parts.append({k: out[k] * s ** 2 for k in HYBRID_COMPONENTS[:-1]})
            variances.append(sum(parts[-1].values()))
        mean, var, components = mixture_with_parts(means, variances, parts)
        return {"mean": mean, "var": var, "components": components}

    # ----------------------------------------------------------------- fitting
    def fit(self, y, covariates=None, dates=None, *, validation: float = 0.2,
            epochs: int = 50, patience: int = 5, refit: str | bool = "retrain",
            progress: bool = True, client=None) -> HybridForecaster:
        """Train each member: one filter pass per epoch, learning at every step.

        The last ``validation`` (a fraction of the steps, or a whole number of steps) is
        held out: after each epoch the filter runs on through it without learning, and
        the mean log-likelihood of its one-step forecasts there picks the epoch to keep
        (early stopping after ``patience`` epochs without improvement). Each epoch
        starts the state-space part (level, trend, season) where the previous epoch's
        smoothed state began (:meth:`StateSpace.smoothed_start`). Then the held-out tail
        is learned from: ``refit="retrain"`` trains the member afresh (same seed) on all
        of ``y`` for the number of epochs that scored best; ``"online"`` lets the kept
        network learn from the tail in time order, once; ``False`` leaves it unlearned
        (the filter still runs through it).

        Args:
            y: ``(time,)`` series (NaN: missing); a pandas Series brings its
                index as dates.
                Or a panel of series (one hybrid per series), as for
                :meth:`Forecaster.fit <tagi_lstm.forecast.Forecaster.fit>`.
            covariates: must be ``None`` (accepted for a common signature).
            dates: ``(time,)`` strictly increasing timestamps, or None.
            validation, epochs, patience: as above.
            refit: ``"retrain"``, ``"online"`` or ``False``.
            progress: show a tqdm progress bar (over series, for a panel).
            client: a ``dask.distributed.Client``: a panel's series are fitted
                on its workers, in blocks (the same forecasts as in this
                process); None fits them here, one after another.

        Returns:
            ``self``.
        """
        where = "HybridForecaster.fit"
        if is_panel(y):
            self._fit_panel(y, covariates, dates, where, progress, client, validation=validation,
                            epochs=epochs, patience=patience, refit=refit)
            return self
        self._fit_one_series(client, where)
        y, dates = self._check(y, covariates, dates, where)
        y = self._power.apply(y, where)
        epochs = check_positive_int(epochs, name="epochs", where=where)
        patience = check_positive_int(patience, name="patience", where=where)
        n_train = self._training_steps(y, validation, where)
        if refit not in HYBRID_REFITS:
            raise ValueError(f"{where}: refit must be one of {HYBRID_REFITS}; got {refit!r}")
        train = y[:n_train]
        if np.sum(~np.isnan(train)) < 2:
            raise ValueError(f"{where}: the training part ({n_train} steps) needs at least "
                             f"two observed values")
        self._scale = tuple(float(v) for v in Normalizer.compute_mean_std(train))
        z = self._standardise(y)
        held_out = ~np.isnan(z[n_train:])
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.ensemble * epochs, desc="fit", unit="epoch")
        self.members_, self.history_ = [], []
        states = []
        # the level starts at the mean of the first observed lookback of the training part
        first = z[:n_train][~np.isnan(z[:n_train])][:self.lookback]
        for i in range(self.ensemble):
            member = self._new_member(i)
            member.start = self.state_space.start(float(first.mean()))
            self._train(member, i, z, n_train, held_out, epochs, patience, bar)
            if refit == "retrain" and n_train < len(z):
                kept = member
                member = self._new_member(i)
                member.start, member.history = kept.start, kept.history
                self._train(member, i, z, len(z), held_out[:0], kept.best_epoch + 1, patience,
                            None)
                member.best_epoch = kept.best_epoch
            # the state after all of y; the tail learned from when refit="online"
            state = self._run(member, z[:n_train], learn=False)[2]
            if n_train < len(z):
                state = member.filter(z[n_train:], state, self.state_space, self.sigma_v ** 2,
                                      learn=refit == "online")[2]
            self.members_.append(member)
            self.history_ += member.history
            states.append(state)
        if bar is not None:
            bar.close()
        self._release_buffers()
        self.state_ = FilterState.stack(states)
        self._remember(y, None, dates)
        self.freq_ = self.freq or _infer(dates)
        return self

    def _new_member(self, i: int) -> HybridMember:
        return HybridMember(self.lookback, self.hidden_size, self.dtype,
                            None if self.seed is None else self.seed + i)

    def _train(self, member, i, z, n_train, held_out, epochs, patience, bar) -> None:
        """Epochs of one member; each starts the state-space part where the last one's
        smoothed state began (a Rauch-Tung-Striebel pass), as in Vuong et al."""
        best, waited = (-np.inf, None, None), 0
        for epoch in range(epochs):
            _, _, state, _, filtered = self._run(member, z[:n_train], learn=True)
            member.start = self.state_space.smoothed_start(*filtered)
            if bar is not None:
                bar.update(1)
            if not held_out.any():
                member.best_epoch = epoch
                continue
            mean, var = member.filter(z[n_train:], state, self.state_space, self.sigma_v ** 2,
                                      learn=False)[:2]
            pred, sd = mean[held_out], np.sqrt(var[held_out])
            # a diverged epoch scores -inf (it is never kept) rather than stopping the fit
            ll = metric.log_likelihood(pred, z[n_train:][held_out], sd) \
                if np.isfinite(pred).all() and np.isfinite(sd).all() and (sd > 0).all() \
                else -np.inf
            member.history.append({"member": i, "epoch": epoch, "val_log_likelihood": ll})
            if ll > best[0]:
                best = (ll, member.net.state_dict(), member.start)
                waited, member.best_epoch = 0, epoch
            else:
                waited += 1
            if waited >= patience:
                if bar is not None:
                    bar.update(epochs - 1 - epoch)
                break
        if best[1] is not None:
            member.net.load_state_dict(best[1])
            member.start = best[2]

    def update_counters(self) -> list:
        """Per member: ``{"bounded": n, "layers": net.update_counters()}``, the outliers
        its filter bounded and how often its layers capped, floored or rejected an
        update."""
        return [{"bounded": m.num_bounded, "layers": m.net.update_counters()}
                for m in self.members_]

    # --------------------------------------------------------------- forecasts
    def predict(self, y, covariates=None, dates=None) -> Forecast:
        """One-step-ahead forecasts of every step of ``y``, filtering without learning
        from each member's starting level (the first steps are forecast before the
        level has seen much)."""
        where = "HybridForecaster.predict"
        self._check_fitted("predict")
        if self.panel_ is not None:
            return self._panel_predict(y, covariates, dates, where)
        y, dates = self._check(y, covariates, dates, where)
        z = self._standardise(self._power.apply(y, where))
        (m, s), means, variances = self._scale, [], []
        for member in self.members_:
            mean, var = self._run(member, z, learn=False)[:2]
            means.append(mean)
            variances.append(var)
        mean, var = mixture_moments(np.stack(means), np.stack(variances))
        index = dates if dates is not None else np.arange(len(y))
        return self._in_units(Forecast(Normalizer.unstandardize(mean, m, s),
                                       np.sqrt(var) * s, index,
                                       np.full(len(y), self.sigma_v * s)))

    def forecast(self, horizon: int, y=None, covariates=None, dates=None) -> Forecast:
        """Forecast of the next ``horizon`` steps after the end of ``y`` (default: the
        series seen by ``fit`` and ``update``, from the stored filter state)."""
        where = "HybridForecaster.forecast"
        self._check_fitted("forecast")
        horizon = check_positive_int(horizon, name="horizon", where=where)
        if self.panel_ is not None:
            return self._panel_forecasts(
                lambda m, s: m.forecast(horizon, **({} if s is None else
                                                    {"y": s.y, "dates": s.dates})),
                y, covariates, dates, where, stored=True)
        offset = 0
        if y is None:
            y, dates, offset = self._y, self._dates, self._dropped
            states = [self.state_.row(i) for i in range(len(self.members_))]
        else:
            y, dates = self._check(y, covariates, dates, where)
            z = self._standardise(self._power.apply(y, where))
            states = [self._run(member, z, learn=False)[2] for member in self.members_]
        out = self._forecasts(states, horizon)
        index = future_dates(dates, horizon, self.freq_) if dates is not None else \
            offset + np.arange(len(y), len(y) + horizon)
        return self._in_units(Forecast(out["mean"][0], np.sqrt(out["var"][0]), index,
                                       np.sqrt(out["components"]["noise"][0]),
                                       {k: v[0] for k, v in out["components"].items()}))

    def backtest(self, y, horizon: int | None = None, covariates=None, dates=None, *,
                 start: int | None = None, stride: int = 1, origins=None) -> Backtest:
        """Rolling-origin evaluation: from each origin ``o``, forecast ``y[o:o + horizon]``
        from ``y[:o]`` alone (one filter pass, no learning; the forecaster is left as
        it was). Arguments and result as for :meth:`Forecaster.backtest
        <tagi_lstm.forecast.Forecaster.backtest>` (``start`` defaults to the
        steps seen so far)."""
        where = "HybridForecaster.backtest"
        self._check_fitted("backtest")
        horizon = backtest_horizon(horizon, self.season, where)
        stride = check_positive_int(stride, name="stride", where=where)
        if self.panel_ is not None:
            return self._panel_backtest(
                lambda m, s: m.backtest(s.y, horizon, dates=s.dates, start=start,
                                        stride=stride), y, covariates, dates, origins, where)
        y, dates = self._check(y, covariates, dates, where)
        n = len(y)
        if origins is None:
            start = self.n_seen_ if start is None else start
            origins = np.arange(start, n - horizon + 1, stride)
        origins = np.asarray(origins)
        if origins.ndim != 1 or origins.size == 0 or origins.dtype.kind not in "iu" or \
                origins.min() < self.min_history or origins.max() > n or \
                np.any(np.diff(origins) <= 0):
            raise ValueError(f"{where}: origins must be increasing integers in "
                             f"[{self.min_history}, {n}]; got {origins!r}")
        z = self._standardise(self._power.apply(y, where))
        kept = [FilterState.stack(self._run(m, z[:origins[-1]], learn=False,
                                            keep=origins.tolist())[3])
                for m in self.members_]
        out = self._forecasts(kept, horizon)
        steps = origins[:, None] + np.arange(horizon)
        padded = np.concatenate([y, np.full(max(0, int(steps.max()) + 1 - n), np.nan)])
        index = steps
        if dates is not None:
            extra = max(0, int(steps.max()) + 1 - n)
            all_dates = dates if not extra else np.concatenate(
                [dates, future_dates(dates, extra, self.freq_)])
            index = all_dates[steps]
        return self._in_units(Backtest(origins, index, out["mean"], np.sqrt(out["var"]),
                                       padded[steps], out["components"]))

    def update(self, y_new, covariates_new=None, dates_new=None) -> Forecast:
        """Online learning: forecast each new step one step ahead, then learn from it
        (one filter step per member; the cost per step does not grow with the
        series).

        Returns:
            :class:`Forecast` of the new steps, each made before learning it.
        """
        where = "HybridForecaster.update"
        self._check_fitted("update")
        if self.panel_ is not None:
            return self._panel_update(y_new, covariates_new, dates_new, where)
        y_new, dates_new = self._check(y_new, covariates_new, dates_new, where)
        y_new = self._power.apply(y_new, where)
        if (dates_new is None) != (self._dates is None):
            raise ValueError(f"{where}: give dates_new exactly when fit had dates")
        if dates_new is not None:  # they must follow the dates seen
            check_dates(np.concatenate([self._dates[-1:], dates_new]), where=where)
        z = self._standardise(y_new)
        (m, s), means, variances, states = self._scale, [], [], []
        for i, member in enumerate(self.members_):
            mean, var, state = member.filter(z, self.state_.row(i), self.state_space,
                                             self.sigma_v ** 2, learn=True)[:3]
            means.append(mean)
            variances.append(var)
            states.append(state)
        self.state_ = FilterState.stack(states)
        seen = self.n_seen_
        self._extend(y_new, None, dates_new)
        mean, var = mixture_moments(np.stack(means), np.stack(variances))
        index = dates_new if dates_new is not None else np.arange(seen, seen + len(y_new))
        return self._in_units(Forecast(Normalizer.unstandardize(mean, m, s),
                                       np.sqrt(var) * s, index,
                                       np.full(len(y_new), self.sigma_v * s)))

    # ------------------------------------------------------------- persistence
    def _config(self) -> dict:
        return {"lookback": self.lookback, "hidden_size": self.hidden_size,
                "level_noise": self.level_noise, "sigma_v": self.sigma_v,
                "trend_noise": self.trend_noise, "seasonal_noise": self.seasonal_noise,
                "transform": self.transform, "season": self.season, "freq": self.freq,
                "ensemble": self.ensemble,
                "max_history": self.max_history, "seed": self.seed, "dtype": self.dtype.name}

    def save(self, filename) -> None:
        """Save configuration, scaling, filter state, the series seen and the networks
        to ``.npz``, atomically (:meth:`Forecaster.load
        <tagi_lstm.forecast.Forecaster.load>` reads it back too)."""
        self._check_fitted("save")
        save_npz(filename, self._arrays())

    def _arrays(self) -> dict:
        """Everything :meth:`save` writes, as named arrays."""
        if self.panel_ is not None:
            return self._panel_arrays()
        state = {"config": self._config(), "scale": list(self._scale), "freq_": self.freq_,
                 "state": self.state_.as_lists(),
                 "members": [{"best_epoch": m.best_epoch, "start": [a.tolist() for a in m.start],
                              "bounded": m.num_bounded, "counters": m.net._counter_lists()}
                             for m in self.members_], "dropped": self._dropped}
        arrays = {"__hybrid__": np.array(json.dumps(state)), "y": self._y}
        if self._dates is not None:
            arrays["dates"] = self._dates.astype("datetime64[s]").astype(np.int64)
        for i, member in enumerate(self.members_):
            arrays.update({f"member{i}:{k}": v for k, v in member.net._param_arrays().items()})
        return arrays

    @classmethod
    def load(cls, filename) -> HybridForecaster:
        """A forecaster written by :meth:`save`."""
        return load_any(filename, "HybridForecaster.load", cls)

    @classmethod
    def _from_arrays(cls, data) -> HybridForecaster:
        """The forecaster :meth:`_arrays` described (``data``: a mapping with ``files``)."""
        where = "HybridForecaster.load"
        state = json.loads(str(data["__hybrid__"]))
        self = cls(**state["config"])
        check_scale(*state["scale"], where)
        h, L, n = self.hidden_size, self.lookback, self.ensemble
        if len(state["members"]) != n:
            raise ValueError(f"{where}: the file is damaged: {len(state['members'])} members "
                             f"saved for ensemble={n}")
        for i in range(n):
            check_sizes(data, {**layer_sizes(f"member{i}:LSTM.0", LSTM, 1, h),
                               **layer_sizes(f"member{i}:Linear.1", Linear, h * L, 1)}, where)
        _upgrade_local_level(state)
        k = self.state_space.size
        shapes = {"x": (n, k), "cov": (n, k, k), "mu_z": (n, L), "var_z": (n, L)}
        for name, shape in shapes.items():
            arr = np.asarray(state["state"][name], dtype=np.float64)
            variances = np.diagonal(arr, axis1=1, axis2=2) if name == "cov" else arr
            if arr.shape != shape or not np.isfinite(arr).all() or (
                    name in ("cov", "var_z") and (variances < 0).any()):
                raise ValueError(f"{where}: the file is damaged: the filter state {name} "
                                 f"must be {shape} finite values (variances >= 0)")
        for i, info in enumerate(state["members"]):
            member = self._new_member(i)
            prefix = f"member{i}:"
            member.net._load_param_arrays({k[len(prefix):]: data[k] for k in data.files
                                           if k.startswith(prefix)})
            member.best_epoch = info["best_epoch"]
            member.start = tuple(np.array(a, dtype=np.float64) for a in info["start"])
            if member.start[0].shape != (k,) or member.start[1].shape != (k, k):
                raise ValueError(f"{where}: the file is damaged: member {i}'s start state "
                                 f"must have {k} values")
            member.num_bounded = int(info.get("bounded", 0))
            member.net._restore_counters(info.get("counters", {}))
            self.members_.append(member)
        self._scale = tuple(state["scale"])
        self.freq_ = state["freq_"]
        self.state_ = FilterState(*(np.array(state["state"][a]) for a in FilterState.FIELDS))
        self._y = data["y"]
        self._dates = data["dates"].astype("datetime64[s]") if "dates" in data else None
        self._dropped = int(state.get("dropped", 0))
        return self


def _upgrade_local_level(state: dict) -> None:
    """Files written before the trend and seasonal components kept a scalar level
    (``level``, ``level_var``; ``start = [mean, var]``): the same state as a
    one-element :class:`StateSpace` state."""
    filt = state["state"]
    if "level" in filt:
        filt["x"] = [[v] for v in filt.pop("level")]
        filt["cov"] = [[[v]] for v in filt.pop("level_var")]
        for info in state["members"]:
            info["start"] = [[info["start"][0]], [[info["start"][1]]]]


def _infer(dates):
    """The dates' frequency, or None when it cannot be told."""
    if dates is None:
        return None
    try:
        return infer_frequency(dates)
    except ValueError:
        return None
