"""Baselines a forecast should beat."""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_int
from ..data import fill_missing
from .result import Forecast


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
