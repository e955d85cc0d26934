"""Data scaling and the observation-noise schedule (pytagi's names)."""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_real
from .config import SCALE_EPS


def exponential_scheduler(curr_v: float, min_v: float, decaying_factor: float,
                          curr_iter: int) -> float:
    """Decay a value geometrically, never below a floor.

    Returns ``max(curr_v * decaying_factor ** curr_iter, min_v)``. Called once
    per epoch with ``curr_iter = epoch`` the decay compounds, as in pytagi's
    examples where it schedules the observation-noise standard deviation.
    """
    where = "exponential_scheduler"
    curr_v = check_real(curr_v, name="curr_v", where=where)
    min_v = check_real(min_v, name="min_v", where=where)
    if min_v < 0:
        raise ValueError(f"{where}: min_v must be >= 0 (a floor for a noise level); got "
                         f"{min_v}")
    decaying_factor = check_real(decaying_factor, name="decaying_factor", where=where,
                                 positive=True)
    if isinstance(curr_iter, bool) or not isinstance(curr_iter, (int, np.integer)):
        raise TypeError(f"{where}: curr_iter must be an integer; got {curr_iter!r}")
    if curr_iter < 0:
        raise ValueError(f"{where}: curr_iter must be >= 0; got {curr_iter}")
    return float(max(curr_v * decaying_factor ** curr_iter, min_v))


class Normalizer:
    """Standardisation helpers (pytagi's ``Normalizer``; all static).

    ``standardize(x, mu, std) = (x - mu) / (std + eps)`` and its inverses, with
    ``eps = 1e-10`` (:data:`tagi_lstm.config.SCALE_EPS`) as in pytagi.
    Compute ``mu`` and ``std`` on the training part only.
    """

    def __init__(self, method: str | None = None):
        self.method = method

    @staticmethod
    def compute_mean_std(data):
        """Column means and standard deviations of ``data``, NaN ignored."""
        where = "Normalizer.compute_mean_std"
        arr = check_array(data, name="data", where=where, allow_nan=True)
        if arr.size == 0:
            raise ValueError(f"{where}: data holds no values")
        observed = (~np.isnan(arr)).sum(axis=0)
        if np.any(observed == 0):
            raise ValueError(f"{where}: data has a column with no observed (non-NaN) value")
        return np.nanmean(arr, axis=0), np.nanstd(arr, axis=0)

    @staticmethod
    def standardize(data, mu, std):
        """``(data - mu) / (std + eps)``."""
        data, mu, std = _scaling("Normalizer.standardize", data, mu, std)
        return (data - mu) / (std + SCALE_EPS)

    @staticmethod
    def unstandardize(norm_data, mu, std):
        """``norm_data * (std + eps) + mu``, the inverse of :meth:`standardize`."""
        data, mu, std = _scaling("Normalizer.unstandardize", norm_data, mu, std,
                                 data_name="norm_data")
        return data * (std + SCALE_EPS) + mu

    @staticmethod
    def unstandardize_std(norm_std, std):
        """A standard deviation back in original units, ``norm_std * (std + eps)``."""
        where = "Normalizer.unstandardize_std"
        norm_std = check_array(norm_std, name="norm_std", where=where, nonnegative=True,
                               allow_nan=True)
        std = check_array(std, name="std", where=where, nonnegative=True)
        return norm_std * (std + SCALE_EPS)


def _scaling(where, data, mu, std, data_name="data"):
    """Checked ``(data, mu, std)``: numbers (NaN data kept: missing), ``std >= 0``."""
    data = check_array(data, name=data_name, where=where, allow_nan=True)
    mu = check_array(mu, name="mu", where=where)
    std = check_array(std, name="std", where=where, nonnegative=True)
    return data, mu, std


class Utils:
    """pytagi's ``Utils`` helpers that LSTM scripts call, with the same signatures."""

    def create_rolling_window(self, data, output_col, input_seq_len: int,
                              output_seq_len: int, num_features: int, stride: int):
        """Input/output windows of a series, flattened as pytagi returns them.

        Window ``k`` reads rows ``k*stride ... k*stride + input_seq_len - 1`` of every
        column (time-major: all features of a step together) and the next
        ``output_seq_len`` rows of the ``output_col`` columns
        (:func:`tagi_lstm.data.rolling_windows` does the cutting).

        Args:
            data: ``(time, num_features)`` array (or a 1-D series when
                ``num_features`` is 1).
            output_col: indices of the predicted columns.
            input_seq_len, output_seq_len: steps in and out.
            num_features: columns of ``data``.
            stride: steps between consecutive windows.

        Returns:
            ``(x, y)``: ``(windows, input_seq_len * num_features)`` and
            ``(windows, output_seq_len * len(output_col))``.
        """
        from ._validation import check_positive_int
        from .data import rolling_windows

        where = "Utils.create_rolling_window"
        num_features = check_positive_int(num_features, name="num_features", where=where)
        data = check_array(data, name="data", where=where, allow_nan=True)
        if data.ndim == 1 and num_features == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[1] != num_features:
            raise ValueError(f"{where}: data must be (time, num_features={num_features}); got "
                             f"shape {data.shape}")
        cols = np.atleast_1d(np.asarray(output_col))
        if cols.dtype.kind not in "iu" or cols.size == 0 or cols.min() < 0 or \
                cols.max() >= num_features:
            raise ValueError(f"{where}: output_col must hold column indices in "
                             f"[0, {num_features}); got {output_col!r}")
        x, y = rolling_windows(data, input_seq_len, output_seq_len, stride,
                               output_col=tuple(int(c) for c in cols))
        return x.reshape(len(x), -1), y
