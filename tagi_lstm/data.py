"""Rolling windows over time series, and batches of them."""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_positive_int


def rolling_windows(data, input_seq_len: int, output_seq_len: int = 1, stride: int = 1,
                    output_col=(0,)):
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
        output_col: columns of ``data`` to predict.

    Returns:
        ``x`` of shape ``(windows, input_seq_len, features)`` and ``y`` of
        shape ``(windows, output_seq_len * len(output_col))``.

    Raises:
        ValueError: the series is shorter than one window plus its horizon.
    """
    where = "rolling_windows"
    arr = check_array(data, name="data", where=where, allow_nan=True)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{where}: data must be 1-D or (time, features); got shape {arr.shape}")
    lookback = check_positive_int(input_seq_len, name="input_seq_len", where=where)
    horizon = check_positive_int(output_seq_len, name="output_seq_len", where=where)
    stride = check_positive_int(stride, name="stride", where=where)
    cols = np.atleast_1d(np.asarray(output_col, dtype=int))
    if cols.size == 0 or cols.min() < 0 or cols.max() >= arr.shape[1]:
        raise ValueError(f"{where}: output_col must index the {arr.shape[1]} columns of data; "
                         f"got {list(cols)}")
    n_time = arr.shape[0]
    if n_time < lookback + horizon:
        raise ValueError(f"{where}: the series has {n_time} steps but one window needs "
                         f"input_seq_len + output_seq_len = {lookback + horizon}")
    starts = np.arange(0, n_time - lookback - horizon + 1, stride)
    x = np.stack([arr[s:s + lookback] for s in starts])
    y = np.stack([arr[s + lookback:s + lookback + horizon][:, cols].reshape(-1)
                  for s in starts])
    return x, y


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
