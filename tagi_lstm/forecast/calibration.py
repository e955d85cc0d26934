r"""Per-horizon variance calibration from a rolling-origin backtest.

A model can be right about how its uncertainty *grows* with the horizon and
still be wrong about its *size* when it meets data it was not trained on (the
noise it learned in-sample is smaller than the errors it makes out of
sample, and parameter variances shrink with every epoch over the same data).
Calibration measures that on data the model has not learned from: for each
horizon step ``h`` the mean squared standardised error of a backtest,

.. math::

   k_h = \frac{1}{|O_h|} \sum_{o \in O_h} \min\!\left(
         \frac{(y_{o+h} - m_{o,h})^2}{s_{o,h}^2},\ c\right),

is the factor by which the predictive variance of step ``h`` is too small
(``k_h > 1``) or too large (``k_h < 1``); it is the maximum-likelihood
scale of a Gaussian forecast. Each squared error is capped at ``c``
(:data:`~tagi_lstm.config.CALIBRATION_CLIP`, a 5-sigma error) so one outlier cannot
dominate, the steps are pooled over a window of neighbouring steps (errors of nearby
horizons are alike and few origins give noisy per-step estimates), and the estimate is
shrunk towards 1 by :data:`~tagi_lstm.config.CALIBRATION_PRIOR_WEIGHT`
pseudo-observations.
"""

from __future__ import annotations

import numpy as np

from ..config import CALIBRATION_CLIP, CALIBRATION_PRIOR_WEIGHT


def variance_factors(backtest, window: int | None = None) -> np.ndarray:
    """``(H,)`` multipliers of the predictive variance of each horizon step.

    Args:
        backtest: a :class:`~tagi_lstm.forecast.Backtest` on data the model did
            not learn from.
        window: steps pooled on each side of a step (default ``H // 6``).

    Returns:
        ``k_h`` per step (see the module docstring).
    """
    z2 = np.minimum(((backtest.observed - backtest.mean) / backtest.std) ** 2, CALIBRATION_CLIP)
    seen = ~np.isnan(z2)
    total, count = np.where(seen, z2, 0.0).sum(axis=0), seen.sum(axis=0)
    horizon = len(total)
    window = horizon // 6 if window is None else window
    factors = np.empty(horizon)
    for h in range(horizon):
        near = slice(max(0, h - window), h + window + 1)
        factors[h] = ((total[near].sum() + CALIBRATION_PRIOR_WEIGHT)
                      / (count[near].sum() + CALIBRATION_PRIOR_WEIGHT))
    return factors
