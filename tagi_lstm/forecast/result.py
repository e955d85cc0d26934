"""What a forecaster returns: Gaussian forecasts, their mixture, and backtests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from .. import metric
from .transform import Power

#: Names of the parts a forecast's variance is split into (see :class:`Forecast`).
COMPONENTS = ("parameters", "fed_back", "noise", "ensemble", "calibration")


def mixture_moments(means, variances, axis: int = 0):
    r"""Mean and variance of an equal-weight mixture of Gaussians.

    For members ``N(m_i, v_i)``, ``i = 1..n``, the mixture has

    .. math::

       m = \frac{1}{n} \sum_i m_i, \qquad
       v = \frac{1}{n} \sum_i v_i + \frac{1}{n} \sum_i (m_i - m)^2,

    the mean of the variances plus the variance of the means (the members'
    disagreement). Both are exact, not approximations.

    Args:
        means, variances: arrays of the same shape; members along ``axis``.
        axis: the members' axis.

    Returns:
        ``(mean, variance)`` with ``axis`` removed.
    """
    means = np.asarray(means, dtype=np.float64)
    variances = np.asarray(variances, dtype=np.float64)
    if means.shape != variances.shape:
        raise ValueError(f"mixture_moments: means and variances must have the same shape; got "
                         f"{means.shape} and {variances.shape}")
    if np.any(variances < 0):
        raise ValueError("mixture_moments: variances must be >= 0; got a negative one")
    mean = means.mean(axis=axis)
    spread = np.mean((means - np.expand_dims(mean, axis)) ** 2, axis=axis)
    return mean, variances.mean(axis=axis) + spread


def mixture_with_parts(means, variances, parts) -> tuple:
    """:func:`mixture_moments` of members whose variances come split into parts.

    Args:
        means, variances: one array per member, all of one shape.
        parts: one ``{name: variances}`` per member (see :class:`Forecast`'s
            ``components``), adding up to that member's variance.

    Returns:
        ``(mean, variance, components)``: each part averaged over the members
        (a part a member lacks counts as zero) and the members' disagreement
        added to ``"ensemble"``, so the components add up to the mixture's
        variance.
    """
    if len(means) == 1:  # one member is its own mixture: the same values, without stacking
        mean, var = (np.asarray(a, dtype=np.float64) for a in (means[0], variances[0]))
        if np.any(var < 0):
            raise ValueError("mixture_moments: variances must be >= 0; got a negative one")
        components = {k: np.asarray(v, dtype=np.float64) for k, v in parts[0].items()}
        components.setdefault("ensemble", np.zeros_like(mean))
        return mean, var, components
    mean, var = mixture_moments(np.stack(means), np.stack(variances))
    zero = np.zeros_like(mean)
    names = list(dict.fromkeys(k for p in parts for k in p))
    components = {k: np.mean([p.get(k, zero) for p in parts], axis=0) for k in names}
    components["ensemble"] = components.get("ensemble", zero) + var - np.mean(variances,
                                                                              axis=0)
    return mean, var, components


#: Bisection steps of :meth:`Mixture.quantile`: each halves the bracket, so 64 leave
#: it below a double's resolution of the bounds.
QUANTILE_STEPS = 64
#: Nodes of the trapezoid rule :meth:`Mixture.crps` takes expectations over a part with:
#: evenly spaced standard scores of its Gaussian.
CRPS_NODES = 1024
#: Steps :meth:`Mixture.crps` integrates at once (bounds its memory).
CRPS_CHUNK = 1024
#: The bracket of :meth:`Mixture.quantile` spans each part's Gaussian this many standard
#: deviations either side of its mean (the mixture's tails beyond hold < 1e-15).
QUANTILE_SPAN = 8.0


def _pdf(u):
    """The standard normal density."""
    return np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi)


def _probability_below(m, s, kind, y):
    """``P(Y <= y)`` for ``Y = g^{-1}(Z)``, ``Z ~ N(m, s^2)``, ``g`` of ``kind``: for
    ``"sqrt"`` ``P(-sqrt y < Z < sqrt y)``, for ``"log"`` ``P(Z < log y)``."""
    if kind is None:
        return ndtr((y - m) / s)
    if kind == "sqrt":
        root = np.sqrt(np.maximum(y, 0.0))
        return np.where(y > 0, ndtr((root - m) / s) - ndtr((-root - m) / s), 0.0)
    return np.where(y > 0, ndtr((np.log(np.maximum(y, np.finfo(float).tiny)) - m) / s), 0.0)


def _below(m, s, kind, y) -> tuple:
    """``(P(Y < y), E[Y 1{Y < y}], E[Y])`` for ``Y = g^{-1}(Z)``, ``Z ~ N(m, s^2)``,
    ``g`` of ``kind``, in closed form."""
    below = _probability_below(m, s, kind, y)
    if kind is None:
        return below, m * below - s * _pdf((y - m) / s), m
    above = y > 0
    if kind == "sqrt":  # Y < y  <=>  -r < Z < r: the second moment of Z between them
        r = np.sqrt(np.where(above, y, 0.0))
        a, b = (-r - m) / s, (r - m) / s
        mean = m * m + s * s
        return below, mean * below + s * (m - r) * _pdf(a) - s * (r + m) * _pdf(b), mean
    t = np.log(np.where(above, y, 1.0))  # log: Y < y  <=>  Z < log y
    mean = np.exp(m + s * s / 2)
    return below, np.where(above, mean * ndtr((t - m - s * s) / s), 0.0), mean


@dataclass(frozen=True)
class Mixture:
    r"""The predictive distribution behind a forecast's mean and standard deviation,
    where it is not the Gaussian of those moments: a weighted mixture of Gaussians
    mapped back through each part's transform,

    .. math::

       Y \sim \sum_k w_k\, g_k^{-1}\big(\mathcal N(m_k, s_k^2)\big),

    with :math:`g_k^{-1}` the identity, :math:`z \mapsto z^2` (``"sqrt"``) or
    :math:`\exp` (``"log"``). A forecaster with ``transform`` gives one part (its
    Gaussian of ``g(y)``); a :class:`~tagi_lstm.forecast.Combination` one per
    forecaster. Its cdf is exact:
    :math:`P(Z^2 \le y) = \Phi(\frac{\sqrt y - m}{s}) - \Phi(\frac{-\sqrt y - m}{s})`
    and :math:`P(e^Z \le y) = \Phi(\frac{\log y - m}{s})`; quantiles are found by
    bisection on it.

    Attributes:
        mean, std: ``(P, ...)`` each part's Gaussian, in its modelled units.
        weight: ``(P, ...)`` each part's weight at each step; they sum to one over
            the parts (a part may weigh nothing at some steps: the first step of a
            combination may mix other forecasters than the later ones).
        kinds: the ``P`` parts' transforms
            (:attr:`~tagi_lstm.forecast.transform.Power.KINDS`).
    """

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    kinds: tuple

    @classmethod
    def gaussian(cls, mean, std, kind: str | None = None) -> Mixture:
        """One part: ``g^{-1}(N(mean, std^2))`` at every step (``kind``: its transform)."""
        mean, std = np.asarray(mean), np.asarray(std)
        return cls(mean[None], std[None], np.ones((1, *mean.shape)), (kind,))

    def __getitem__(self, key) -> Mixture:
        """The distribution of some steps (``key`` indexes the axes after the parts')."""
        key = (slice(None), *(key if isinstance(key, tuple) else (key,)))
        return Mixture(self.mean[key], self.std[key], self.weight[key], self.kinds)

    def cdf(self, y) -> np.ndarray:
        """``P(Y <= y)`` at each step, ``y`` of the steps' shape."""
        y = np.asarray(y, dtype=np.float64)
        total = np.zeros(np.broadcast_shapes(y.shape, self.mean.shape[1:]))
        for m, s, w, kind in zip(self.mean, self.std, self.weight, self.kinds):
            total = total + w * _probability_below(m, s, kind, y)
        return total

    def quantile(self, q) -> np.ndarray:
        """The ``q``-quantile of each step, ``0 < q < 1`` (an array of levels that
        broadcasts against the steps gives a quantile per level and step)."""
        spans = [(m - QUANTILE_SPAN * s, m + QUANTILE_SPAN * s) for m, s in
                 zip(self.mean, self.std)]
        ends = []
        for (low, high), kind in zip(spans, self.kinds):
            if kind == "sqrt":  # |Z| <= max(|low|, |high|), and Z^2 >= 0
                ends.append((np.zeros_like(low), np.maximum(low ** 2, high ** 2)))
            elif kind == "log":
                ends.append((np.exp(low), np.exp(high)))
            else:
                ends.append((low, high))
        lower = np.min([e[0] for e in ends], axis=0)
        upper = np.max([e[1] for e in ends], axis=0)
        for _ in range(QUANTILE_STEPS):
            middle = 0.5 * (lower + upper)
            below = self.cdf(middle) < q
            lower, upper = np.where(below, middle, lower), np.where(below, upper, middle)
        return 0.5 * (lower + upper)

    def crps(self, observed) -> np.ndarray:
        r"""The continuous ranked probability score of each step's distribution against
        ``observed`` (of the steps' shape; NaN where it is NaN).

        :math:`\mathrm{CRPS}(F, y) = E|Y - y| - \tfrac12 E|Y - Y'|` with :math:`Y, Y'`
        independent draws of the mixture (Gneiting & Raftery, JASA 2007). The first
        term is exact: each part's :math:`E|Y_k - y| = E Y_k - y + 2\,(y P(Y_k < y) -
        E[Y_k 1\{Y_k < y\}])`, the partial expectation of a Gaussian, a squared
        Gaussian (the second moment of :math:`Z` on :math:`|Z| < \sqrt y`) or a
        log-normal in closed form. The second does not depend on ``y``:
        :math:`\tfrac12 E|Y - Y'| = E(Y - Y')^+ = \sum_{k,l} w_k w_l\, E_{Y_l}[c_k(Y_l)]`
        with :math:`c_k(y) = E(y - Y_k)^+` closed as above; each expectation over
        part :math:`l` runs over its Gaussian's standard scores by the trapezoid rule
        (:data:`CRPS_NODES` nodes within :data:`QUANTILE_SPAN`), which converges
        fast for a smooth integrand under a Gaussian weight: exact to rounding for
        Gaussians and log-normals, within 1e-9 (relative) of quadrature for squared
        Gaussians and their mixtures with Gaussians (the slowest: a squared Gaussian
        with mass at zero, whose hinge is not smooth there).
        """
        y = np.asarray(observed, dtype=np.float64)
        parts = list(zip(self.mean, self.std, self.weight, self.kinds))
        near = 0.0
        for m, s, w, kind in parts:
            below, partial, mean = _below(m, s, kind, y)
            near = near + w * (mean - y + 2 * (y * below - partial))
        scores = np.linspace(-QUANTILE_SPAN, QUANTILE_SPAN, CRPS_NODES)
        density = np.exp(-0.5 * scores ** 2)
        density /= density.sum()
        flat = [tuple(a.reshape(-1) for a in np.broadcast_arrays(m, s, w)) + (kind,)
                for m, s, w, kind in parts]
        spread = np.zeros(flat[0][0].shape)
        for start in range(0, len(spread), CRPS_CHUNK):
            cut = slice(start, start + CRPS_CHUNK)
            for m_l, s_l, w_l, kind_l in flat:
                draws = Power(kind_l).values(m_l[cut] + s_l[cut] * scores[:, None])
                hinge = 0.0
                for m_k, s_k, w_k, kind_k in flat:
                    below, partial, _ = _below(m_k[cut], s_k[cut], kind_k, draws)
                    hinge = hinge + w_k[cut] * (draws * below - partial)
                spread[cut] += w_l[cut] * (density @ hinge)
        return near - spread.reshape(self.mean.shape[1:])

    @staticmethod
    def concatenate(mixtures: list) -> Mixture | None:
        """The mixtures of consecutive runs of rows joined along the first axis of the
        steps' (None unless every one is a mixture of the same kinds of parts)."""
        if any(m is None for m in mixtures) or len({m.kinds for m in mixtures}) > 1:
            return None
        return Mixture(*(np.concatenate([getattr(m, a) for m in mixtures], axis=1)
                         for a in ("mean", "std", "weight")), mixtures[0].kinds)


def central_interval(mean, std, distribution: Mixture | None, level: float, where: str):
    """``(lower, upper)`` bounds of the central ``level`` interval: of ``distribution``
    where given, else of the Gaussian ``N(mean, std^2)``."""
    if not 0 < level < 1:
        raise ValueError(f"{where}: level must be in (0, 1); got {level}")
    if distribution is not None:
        return distribution.quantile(0.5 - level / 2), distribution.quantile(0.5 + level / 2)
    half = ndtri(0.5 + level / 2) * std
    return mean - half, mean + half


def _coverage(lower, upper, observed) -> float:
    """The share of ``observed`` values within ``[lower, upper]``."""
    return float(np.mean((lower <= observed) & (observed <= upper)))


@dataclass
class Forecast:
    """Forecasts: a mean and a standard deviation per step, and the distribution they
    summarise.

    Attributes:
        mean: ``(n,)`` predictive means, original units.
        std: ``(n,)`` predictive standard deviations, original units.
        index: ``(n,)`` timestamps (``datetime64``) or integer positions of
            the forecast steps.
        noise_std: ``(n,)`` the observation-noise part of one step's
            ``std`` (before any fed-back uncertainty).
        components: ``{name: (n,) variances}`` that add up to ``std ** 2``:
            ``"parameters"`` (the network's weight uncertainty at each step),
            ``"fed_back"`` (uncertainty of earlier forecasts read back as
            inputs, with their covariances), ``"noise"`` (observation noise
            of each step, accumulated through any differencing),
            ``"ensemble"`` (the members' disagreement) and ``"calibration"``
            (what a fitted per-horizon calibration added, negative where it
            narrowed the interval); ``None`` when not computed.
        samples: ``(n, S)`` sample paths when the forecast was sampled, else
            ``None``.
        distribution: the predictive distribution whose exact moments ``mean``
            and ``std`` are, a :class:`Mixture`, where it is not their Gaussian
            (forecasts of a transformed series, combinations of forecasters);
            ``None`` for a Gaussian. Intervals and quantiles are its own.
    """

    mean: np.ndarray
    std: np.ndarray
    index: np.ndarray
    noise_std: np.ndarray
    components: dict | None = None
    samples: np.ndarray | None = field(default=None, repr=False)
    distribution: Mixture | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.mean)

    def __getitem__(self, key) -> Forecast:
        """The forecasts of some steps (a slice or an index array)."""
        parts = None if self.components is None else \
            {k: v[key] for k, v in self.components.items()}
        samples = None if self.samples is None else self.samples[key]
        distribution = None if self.distribution is None else self.distribution[key]
        return Forecast(self.mean[key], self.std[key], self.index[key], self.noise_std[key],
                        parts, samples, distribution)

    def interval(self, level: float = 0.9):
        """``(lower, upper)`` bounds of the central ``level`` interval of each step's
        predictive distribution (the Gaussian ``N(mean, std^2)`` unless
        ``distribution`` says otherwise)."""
        return central_interval(self.mean, self.std, self.distribution, level,
                                "Forecast.interval")

    def quantile(self, q: float) -> np.ndarray:
        """The ``q``-quantile of each step's predictive distribution, ``0 < q < 1``."""
        if not 0 < q < 1:
            raise ValueError(f"Forecast.quantile: q must be in (0, 1); got {q}")
        if self.distribution is not None:
            return self.distribution.quantile(q)
        return self.mean + ndtri(q) * self.std

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
        """:func:`tagi_lstm.metric.scores` of these forecasts against ``observed``; where
        ``distribution`` is set, ``crps`` and the coverages are its own (the log
        likelihood stays that of the Gaussian with the forecasts' moments)."""
        out = metric.scores(self.mean, observed, self.std, levels)
        if self.distribution is None:
            return out
        obs = np.asarray(observed, dtype=np.float64)
        seen = ~np.isnan(obs)
        out["crps"] = float(np.mean(self.distribution.crps(obs)[seen]))
        for level in levels:
            lower, upper = self.interval(level)
            out[f"coverage_{100 * level:g}"] = _coverage(lower[seen], upper[seen], obs[seen])
        return out


#: Scores :meth:`Backtest.scores` reports at every horizon step.
BACKTEST_SCORES = ("rmse", "mae", "crps", "log_likelihood")


@dataclass
class Backtest:
    """Forecasts from rolling origins beside what was then observed.

    Row ``i`` is the forecast made at origin ``origins[i]`` (the history was
    ``y[:origins[i]]``) for the next ``H`` steps.

    Attributes:
        origins: ``(O,)`` positions in the series of each first forecast step.
        index: ``(O, H)`` timestamps or positions of the forecast steps.
        mean, std: ``(O, H)`` Gaussian forecasts.
        observed: ``(O, H)`` the values observed at those steps (NaN where
            missing or past the end of the series).
        components: ``{name: (O, H)}`` variance parts (see :class:`Forecast`).
        series: ``(O,)`` the series id of each row, for a panel's backtest
            (``origins`` then count the steps of each row's own series); else None.
        distribution: the forecasts' :class:`Mixture` where they are not the
            Gaussians of their moments (see :class:`Forecast`), else None.
    """

    origins: np.ndarray
    index: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    observed: np.ndarray
    components: dict | None = None
    series: np.ndarray | None = None
    distribution: Mixture | None = field(default=None, repr=False)

    @property
    def horizon(self) -> int:
        return self.mean.shape[1]

    def interval(self, level: float = 0.9):
        """``(lower, upper)`` ``(O, H)`` bounds of each forecast's central ``level``
        interval (see :meth:`Forecast.interval`)."""
        return central_interval(self.mean, self.std, self.distribution, level,
                                "Backtest.interval")

    def scores(self, levels=(0.5, 0.9), steps=None) -> dict:
        """Scores per horizon step, pooled over the origins.

        Args:
            levels: central interval levels for coverage and width.
            steps: horizon steps to pool into one figure each, a list of
                1-based step numbers or of lists of them (buckets); default
                every step on its own.

        Returns:
            A dict with ``step`` (the labels), ``n`` (observed values) and
            ``rmse``, ``mae``, ``crps`` (of ``distribution`` where it is set, else of
            the Gaussians), ``log_likelihood`` (of the Gaussians with the forecasts'
            moments), then ``coverage_50``, ``width_50``,
            ``coverage_90``, ``width_90`` ... of the :meth:`interval` at each of the
            ``levels``: one value per step or bucket (NaN where nothing was
            observed).
        """
        if steps is None:
            steps = list(range(1, self.horizon + 1))
        buckets = [np.atleast_1d(np.asarray(s, dtype=int)) for s in steps]
        for b in buckets:
            if b.size == 0 or b.min() < 1 or b.max() > self.horizon:
                raise ValueError(f"Backtest.scores: steps must lie in 1..{self.horizon}; got "
                                 f"{b.tolist()}")
        out = {"step": [b.tolist() if b.size > 1 else int(b[0]) for b in buckets],
               "n": np.zeros(len(buckets), dtype=int)}
        names = list(BACKTEST_SCORES) + [f"{kind}_{100 * lv:g}" for lv in levels
                                         for kind in ("coverage", "width")]
        for name in names:
            out[name] = np.full(len(buckets), np.nan)
        bounds = {lv: self.interval(lv) for lv in levels}
        exact = None if self.distribution is None else self.distribution.crps(self.observed)
        for j, b in enumerate(buckets):
            mean, std, obs = (a[:, b - 1].reshape(-1) for a in (self.mean, self.std,
                                                                 self.observed))
            seen = ~np.isnan(obs)
            out["n"][j] = int(seen.sum())
            if not seen.any():
                continue
            out["rmse"][j] = metric.rmse(mean, obs)
            out["mae"][j] = metric.mae(mean, obs)
            out["crps"][j] = metric.crps(mean, obs, std) if exact is None else \
                float(np.mean(exact[:, b - 1].reshape(-1)[seen]))
            out["log_likelihood"][j] = metric.log_likelihood(mean, obs, std)
            for lv in levels:
                tag = f"{100 * lv:g}"
                lower, upper = (a[:, b - 1].reshape(-1)[seen] for a in bounds[lv])
                out[f"coverage_{tag}"][j] = _coverage(lower, upper, obs[seen])
                out[f"width_{tag}"][j] = float(np.mean(upper - lower))
        return out

    def to_pandas(self, levels=(0.5, 0.9), steps=None):
        """:meth:`scores` as a pandas ``DataFrame``, one row per step (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Backtest.to_pandas needs pandas: pip install pandas") from exc
        table = self.scores(levels, steps)
        step = table.pop("step")
        return pd.DataFrame(table, index=pd.Index([str(s) for s in step], name="step"))

    def plot(self, levels=(0.5, 0.9), axes=None, label=None):
        """Coverage and width against the horizon
        (:func:`tagi_lstm.plotting.plot_backtest`)."""
        from ..plotting import plot_backtest

        return plot_backtest(self, levels=levels, axes=axes, label=label)
