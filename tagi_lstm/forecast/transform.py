r"""Ordinary and seasonal differencing of a series, and their inverse as a linear map.

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
