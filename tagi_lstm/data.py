"""Time series to training data: windows, batches, splits, gaps, calendar covariates."""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_positive_int


def rolling_windows(data, input_seq_len: int, output_seq_len: int = 1, stride: int = 1,
                    output_col=(0,), covariates=None, targets=None):
    """Cut a multivariate series into (input window, next values) pairs.

    Window ``k`` takes rows ``k*stride ... k*stride + input_seq_len - 1`` of
    every column as input (time-major, all features of a step together) and
    the next ``output_seq_len`` rows of ``output_col`` as targets, as
    pytagi's ``Utils.create_rolling_window`` does.

    Args:
        data: ``(time, features)`` or a 1-D series.
        input_seq_len: steps per input window (lookback).
        output_seq_len: steps to predict after each window (horizon).
        stride: steps between consecutive windows.
        output_col: columns of ``data`` (or of ``targets``) to predict.
        covariates: optional ``(time, k)`` features known in advance
            (calendar terms, ...). Each input step carries the covariates of
            the *next* time step, the one it helps predict, so the last step
            of a window sees those of the first target.
        targets: optional ``(time,)`` or ``(time, m)`` series the targets are
            read from instead of ``data`` (e.g. the raw series with its NaNs
            while ``data`` holds the gap-filled inputs).

    Returns:
        ``x`` of shape ``(windows, input_seq_len, features + k)`` and ``y``
        of shape ``(windows, output_seq_len * len(output_col))``.

    Raises:
        ValueError: the series is shorter than one window plus its horizon,
            or ``covariates`` / ``targets`` do not have one row per step.
    """
    where = "rolling_windows"
    arr = _as_2d(data, "data", where)
    source = arr if targets is None else _as_2d(targets, "targets", where)
    if source.shape[0] != arr.shape[0]:
        raise ValueError(f"{where}: targets must have one row per step of data "
                         f"({arr.shape[0]}); got {source.shape[0]}")
    lookback = check_positive_int(input_seq_len, name="input_seq_len", where=where)
    horizon = check_positive_int(output_seq_len, name="output_seq_len", where=where)
    stride = check_positive_int(stride, name="stride", where=where)
    cols = np.atleast_1d(np.asarray(output_col, dtype=int))
    if cols.size == 0 or cols.min() < 0 or cols.max() >= source.shape[1]:
        raise ValueError(f"{where}: output_col must index the {source.shape[1]} target "
                         f"columns; got {list(cols)}")
    n_time = arr.shape[0]
    if n_time < lookback + horizon:
        raise ValueError(f"{where}: the series has {n_time} steps but one window needs "
                         f"input_seq_len + output_seq_len = {lookback + horizon}")
    if covariates is not None:
        cov = _as_2d(covariates, "covariates", where, allow_nan=False)
        if cov.shape[0] != n_time:
            raise ValueError(f"{where}: covariates must have one row per step of data "
                             f"({n_time}); got {cov.shape[0]}")
        # step t is paired with the covariates of step t + 1 (the last row has no successor
        # inside the series, and no window uses it as an input step)
        shifted = np.concatenate([cov[1:], np.full((1, cov.shape[1]), np.nan)])
        arr = np.concatenate([arr, shifted], axis=1)
    starts = np.arange(0, n_time - lookback - horizon + 1, stride)
    x = np.stack([arr[s:s + lookback] for s in starts])
    y = np.stack([source[s + lookback:s + lookback + horizon][:, cols].reshape(-1)
                  for s in starts])
    return x, y


def _as_2d(data, name, where, allow_nan=True):
    arr = check_array(data, name=name, where=where, allow_nan=allow_nan)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{where}: {name} must be 1-D or (time, features); got shape "
                         f"{arr.shape}")
    return arr


def fill_missing(series, method: str = "ffill"):
    """Fill the NaNs of input series by a causal rule, or reject them.

    Inputs of a network must be numbers; targets may stay NaN (they are
    skipped in updates). The rules never look ahead, so a one-step forecast
    never sees the value it predicts:

    - ``"ffill"``: each NaN takes the last observed value of its column;
      NaNs before the first observation take that first observation.
    - ``"raise"``: any NaN is a ``ValueError`` naming how many and where the
      first one is.

    Args:
        series: ``(time,)`` or ``(time, features)``.
        method: ``"ffill"`` or ``"raise"``.

    Returns:
        A float64 copy with the same shape and no NaN.
    """
    where = "fill_missing"
    if method not in ("ffill", "raise"):
        raise ValueError(f"{where}: method must be 'ffill' or 'raise'; got {method!r}")
    arr = np.array(check_array(series, name="series", where=where, allow_nan=True),
                   dtype=np.float64)
    missing = np.isnan(arr)
    if not missing.any():
        return arr
    if method == "raise":
        first = int(np.argwhere(missing)[0][0])
        raise ValueError(f"{where}: the input series has {int(missing.sum())} missing (NaN) "
                         f"value(s), the first at step {first}; fill them or use "
                         f"fill='ffill'")
    flat = arr.reshape(arr.shape[0], -1)
    for col in flat.T:
        observed = np.flatnonzero(~np.isnan(col))
        if observed.size == 0:
            raise ValueError(f"{where}: a column of the series has no observed value")
        last = np.maximum.accumulate(np.where(np.isnan(col), 0, np.arange(col.size)))
        col[:] = col[np.where(np.isnan(col[last]), observed[0], last)]
    return arr


def chronological_split(data, validation: float = 0.15, test: float = 0.15):
    """Split along time into training, validation and test parts, in order.

    Args:
        data: any array (or sequence) whose first axis is time.
        validation, test: fractions of the steps that go to the validation
            and test parts, taken from the end (test last); each in
            ``[0, 1)``, together below 1.

    Returns:
        ``(train, validation, test)``, consecutive slices of ``data``.
    """
    where = "chronological_split"
    for name, frac in (("validation", validation), ("test", test)):
        if not 0 <= frac < 1:
            raise ValueError(f"{where}: {name} must be a fraction in [0, 1); got {frac}")
    n = len(data)
    n_test = int(round(n * test))
    n_val = int(round(n * validation))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{where}: no steps left for training ({n} steps, validation "
                         f"{validation}, test {test})")
    return data[:n_train], data[n_train:n_train + n_val], data[n_train + n_val:]


#: Period of each calendar feature, in the unit :func:`time_features` measures it.
CALENDAR_PERIODS = {"hour": 24.0, "dayofweek": 7.0, "dayofyear": 365.2425, "month": 12.0}


def time_features(dates, features=("dayofyear",)):
    r"""Calendar covariates as sine/cosine pairs, smooth across period ends.

    For a feature with phase ``u`` in ``[0, P)`` (hour of day with
    fractions, day of week Monday = 0, day of year with fractions, month
    with fractions) the columns are ``sin(2 pi u / P)`` and
    ``cos(2 pi u / P)``.

    Args:
        dates: ``(time,)`` timestamps (``numpy.datetime64``, strings NumPy
            parses, or a pandas ``DatetimeIndex``).
        features: names from ``"hour"``, ``"dayofweek"``, ``"dayofyear"``,
            ``"month"``.

    Returns:
        ``(time, 2 * len(features))`` float64 array.
    """
    where = "time_features"
    if np.asarray(dates).dtype.kind in "biufc":
        raise TypeError(f"{where}: dates must be timestamps (datetime64, date strings or a "
                        f"DatetimeIndex); got numbers of dtype {np.asarray(dates).dtype}")
    try:
        stamps = np.asarray(dates, dtype="datetime64[s]")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: dates must be timestamps; got {exc}") from exc
    if stamps.ndim != 1:
        raise ValueError(f"{where}: dates must be 1-D; got shape {stamps.shape}")
    unknown = [f for f in features if f not in CALENDAR_PERIODS]
    if unknown or not len(features):
        raise ValueError(f"{where}: features must be among {sorted(CALENDAR_PERIODS)}; got "
                         f"{list(features)}")
    seconds = stamps.astype(np.int64).astype(np.float64)
    days = np.floor(seconds / 86400.0)
    year_start = stamps.astype("datetime64[Y]").astype("datetime64[s]")
    month_start = stamps.astype("datetime64[M]")
    next_month = (month_start + 1).astype("datetime64[s]")
    month_start = month_start.astype("datetime64[s]")
    phase = {
        "hour": (seconds % 86400.0) / 3600.0,
        "dayofweek": (days + 3) % 7,  # 1970-01-01 was a Thursday
        "dayofyear": (stamps - year_start).astype(np.float64) / 86400.0,
        "month": (stamps.astype("datetime64[M]").astype(np.int64) % 12
                  + (stamps - month_start).astype(np.float64)
                  / (next_month - month_start).astype(np.float64)),
    }
    cols = []
    for name in features:
        angle = 2 * np.pi * phase[name] / CALENDAR_PERIODS[name]
        cols += [np.sin(angle), np.cos(angle)]
    return np.stack(cols, axis=1)


def batches(x, y, batch_size: int, shuffle: bool = False, drop_last: bool = False, rng=None):
    """Yield ``(x_batch, y_batch)`` pairs of ``batch_size`` rows in order.

    Args:
        x, y: arrays with the same first dimension.
        batch_size: rows per batch.
        shuffle: visit rows in a random order (``rng``, default the
            library's generator).
        drop_last: skip a last batch with fewer rows.
    """
    batch_size = check_positive_int(batch_size, name="batch_size", where="batches")
    if len(x) != len(y):
        raise ValueError(f"batches: x has {len(x)} rows but y has {len(y)}")
    order = np.arange(len(x))
    if shuffle:
        if rng is None:
            from .random import get_rng

            rng = get_rng()
        rng.shuffle(order)
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        if drop_last and len(idx) < batch_size:
            return
        yield x[idx], y[idx]
