r"""The transforms between a series and what its network models: a power transform
that steadies the noise (:class:`Power`), then ordinary and seasonal differencing
(:class:`Differencing`), whose inverse is a linear map.

The network may model ``z_t = (1 - B)^d (1 - B^m)^D y_t`` instead of the
series ``y_t`` itself (``B`` shifts back one step, ``m`` is the season length,
``d, D`` in ``{0, 1}``): ``d = 1`` removes a trend, ``D = 1`` a seasonal
pattern that repeats. Differencing is linear, so the forecast levels are an
affine function of the forecast differences,

.. math::

   y_{T+1:T+H} = A\, z_{T+1:T+H} + b(y_{1:T}),

with a lower-triangular ``A`` of ones on its diagonal that depends only on
``d, D, m, H``; a Gaussian over ``z`` with covariance ``\Sigma`` gives levels
with covariance ``A \Sigma A^\top``, which is how a differenced model's
intervals widen with the horizon.
"""

from __future__ import annotations

import numpy as np


class Differencing:
    """``(1 - B)^order (1 - B^season)^seasonal``, applied and undone.

    Args:
        order: ordinary differences, 0 or 1.
        seasonal: seasonal differences, 0 or 1 (needs ``season``).
        season: season length in steps.
    """

    def __init__(self, order: int = 0, seasonal: int = 0, season: int | None = None):
        self.order, self.seasonal, self.season = int(order), int(seasonal), season
        self.lags = [1] * self.order + [season] * self.seasonal

    @property
    def lost(self) -> int:
        """Leading steps with no transformed value."""
        return sum(self.lags)

    def __bool__(self) -> bool:
        return bool(self.lags)

    def apply(self, y):
        """``z`` of a ``(time,)`` series: ``z[t - lost]`` belongs to ``y[t]``."""
        z = np.asarray(y, dtype=np.float64)
        for lag in self.lags:
            z = z[lag:] - z[:-lag]
        return z

    def _stages(self, y):
        """The series before each differencing step: ``y``, then each partial result."""
        stages = [np.asarray(y, dtype=np.float64)]
        for lag in self.lags[:-1]:
            stages.append(stages[-1][lag:] - stages[-1][:-lag])
        return stages

    def undo(self, z_future, history):
        """Levels ``y[T+1 : T+H+1]`` from future transformed values and the past.

        Args:
            z_future: ``(..., H)`` transformed values of the next ``H`` steps.
            history: ``(T,)`` the series so far (no NaN), or ``None`` for a
                zero past (which gives ``A z``).

        Returns:
            ``(..., H)`` levels.
        """
        out = np.array(z_future, dtype=np.float64)
        if not self.lags:
            return out
        horizon = out.shape[-1]
        stages = self._stages(history) if history is not None else [None] * len(self.lags)
        for lag, past in zip(reversed(self.lags), reversed(stages)):
            # x[T+h] = z[T+h] + x[T+h-lag]; for h < lag that term is in the past of x
            past_tail = np.zeros(lag) if past is None else past[-lag:]
            full = np.concatenate([np.broadcast_to(past_tail, out.shape[:-1] + (lag,)), out],
                                  axis=-1)
            for h in range(horizon):
                full[..., lag + h] += full[..., h]
            out = full[..., lag:]
        return out

    def matrix(self, horizon: int):
        """``A`` of shape ``(H, H)``: the levels' response to the transformed values."""
        return self.undo(np.eye(horizon), None).T

    def history_part(self, y, t):
        """For each step ``t`` of ``y``: ``y[t] - z[t - lost]``, the part of ``y[t]`` that
        the past fixes (``t`` an array of positions ``>= lost``)."""
        return np.asarray(y, dtype=np.float64)[t] - self.apply(y)[np.asarray(t) - self.lost]


class Power:
    r"""A variance-stabilising transform ``z = g(y)`` of the series, and the exact
    moments of ``y = g^{-1}(Z)`` for a Gaussian forecast ``Z ~ N(m, s^2)`` of ``z``.

    Where a series' noise grows with its level (counts, sales), the network models
    ``z`` with a noise level that is the same everywhere and the forecasts of ``y``
    widen at high levels:

    - ``"sqrt"``: ``z = sqrt(y)`` (``y >= 0``); ``y = Z^2`` has mean ``m^2 + s^2`` and
      variance ``4 m^2 s^2 + 2 s^4``;
    - ``"log"``: ``z = log(y)`` (``y > 0``); ``y = exp(Z)`` is log-normal, with mean
      ``exp(m + s^2 / 2)`` and variance ``(exp(s^2) - 1) exp(2 m + s^2)``.

    Args:
        kind: ``None`` (no transform), ``"sqrt"`` or ``"log"``.
        where: the caller named in the error for any other ``kind``.
    """

    KINDS = (None, "sqrt", "log")

    def __init__(self, kind: str | None = None, where: str = "Power"):
        if kind not in self.KINDS:
            raise ValueError(f"{where}: transform must be one of {self.KINDS}; got {kind!r}")
        self.kind = kind

    def __bool__(self) -> bool:
        return self.kind is not None

    @staticmethod
    def _smallest(y) -> float:
        """The smallest observed value of ``y`` (0 when none is observed)."""
        return float(np.nanmin(y)) if not np.isnan(y).all() else 0.0

    def admits(self, y) -> bool:
        """Whether every observed value of ``y`` lies in the transform's domain."""
        low = self._smallest(np.asarray(y, dtype=np.float64))
        return self.kind is None or low > 0 or (self.kind == "sqrt" and low == 0)

    def apply(self, y, where: str):
        """``g(y)`` of ``(time,)`` values (NaN stays NaN); values outside the
        transform's domain are an error naming the smallest."""
        if self.kind is None:
            return y
        y = np.asarray(y, dtype=np.float64)
        if not self.admits(y):
            need = "positive" if self.kind == "log" else "non-negative"
            raise ValueError(f"{where}: transform={self.kind!r} needs {need} values; the "
                             f"smallest is {self._smallest(y):g}")
        return np.sqrt(y) if self.kind == "sqrt" else np.log(y)

    def values(self, z):
        """``g^{-1}(z)``: values (sample paths) back in the series' units."""
        if self.kind is None:
            return z
        return np.square(z) if self.kind == "sqrt" else np.exp(z)

    def moments(self, mean, std):
        """``(mean, std)`` of ``g^{-1}(Z)``, ``Z ~ N(mean, std^2)``."""
        if self.kind is None:
            return mean, std
        var = np.square(std)
        if self.kind == "sqrt":
            return np.square(mean) + var, np.sqrt(var * (4 * np.square(mean) + 2 * var))
        level = np.exp(mean + var / 2)
        return level, level * np.sqrt(np.expm1(var))
