"""What a forecaster returns: Gaussian forecasts, their mixture, and backtests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from .. import metric

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


@dataclass
class Forecast:
    """Gaussian forecasts: a mean and a standard deviation per step.

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
    """

    mean: np.ndarray
    std: np.ndarray
    index: np.ndarray
    noise_std: np.ndarray
    components: dict | None = None
    samples: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.mean)

    def __getitem__(self, key) -> Forecast:
        """The forecasts of some steps (a slice or an index array)."""
        parts = None if self.components is None else \
            {k: v[key] for k, v in self.components.items()}
        samples = None if self.samples is None else self.samples[key]
        return Forecast(self.mean[key], self.std[key], self.index[key], self.noise_std[key],
                        parts, samples)

    def interval(self, level: float = 0.9):
        """``(lower, upper)`` bounds of the central ``level`` interval of the Gaussian."""
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
    """

    origins: np.ndarray
    index: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    observed: np.ndarray
    components: dict | None = None
    series: np.ndarray | None = None

    @property
    def horizon(self) -> int:
        return self.mean.shape[1]

    def scores(self, levels=(0.5, 0.9), steps=None) -> dict:
        """Scores per horizon step, pooled over the origins.

        Args:
            levels: central interval levels for coverage and width.
            steps: horizon steps to pool into one figure each, a list of
                1-based step numbers or of lists of them (buckets); default
                every step on its own.

        Returns:
            A dict with ``step`` (the labels), ``n`` (observed values) and
            ``rmse``, ``mae``, ``crps``, ``log_likelihood``, then
            ``coverage_50``, ``width_50``, ``coverage_90``, ``width_90`` ...
            for the ``levels``: one value per step or bucket (NaN where
            nothing was observed).
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
        for j, b in enumerate(buckets):
            mean, std, obs = (a[:, b - 1].reshape(-1) for a in (self.mean, self.std,
                                                                 self.observed))
            seen = ~np.isnan(obs)
            out["n"][j] = int(seen.sum())
            if not seen.any():
                continue
            out["rmse"][j] = metric.rmse(mean, obs)
            out["mae"][j] = metric.mae(mean, obs)
            out["crps"][j] = metric.crps(mean, obs, std)
            out["log_likelihood"][j] = metric.log_likelihood(mean, obs, std)
            for lv in levels:
                tag = f"{100 * lv:g}"
                out[f"coverage_{tag}"][j] = metric.interval_coverage(mean, obs, std, lv)
                out[f"width_{tag}"][j] = float(np.mean(2 * ndtri(0.5 + lv / 2) * std[seen]))
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
