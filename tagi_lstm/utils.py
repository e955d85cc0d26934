"""Data scaling and the observation-noise schedule (pytagi's names)."""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_real

_EPS = 1e-10


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
    decaying_factor = check_real(decaying_factor, name="decaying_factor", where=where)
    if curr_iter < 0:
        raise ValueError(f"{where}: curr_iter must be >= 0; got {curr_iter}")
    return float(max(curr_v * decaying_factor ** curr_iter, min_v))


class Normalizer:
    """Standardisation helpers (pytagi's ``Normalizer``; all static).

    ``standardize(x, mu, std) = (x - mu) / (std + 1e-10)`` and its inverses.
    Compute ``mu`` and ``std`` on the training part only.
    """

    def __init__(self, method: str | None = None):
        self.method = method

    @staticmethod
    def compute_mean_std(data):
        """Column means and standard deviations of ``data``, NaN ignored."""
        arr = check_array(data, name="data", where="Normalizer.compute_mean_std",
                          allow_nan=True)
        return np.nanmean(arr, axis=0), np.nanstd(arr, axis=0)

    @staticmethod
    def standardize(data, mu, std):
        """``(data - mu) / (std + 1e-10)``."""
        return (np.asarray(data) - mu) / (np.asarray(std) + _EPS)

    @staticmethod
    def unstandardize(norm_data, mu, std):
        """``norm_data * (std + 1e-10) + mu``, the inverse of :meth:`standardize`."""
        return np.asarray(norm_data) * (np.asarray(std) + _EPS) + mu

    @staticmethod
    def unstandardize_std(norm_std, std):
        """A standard deviation back in original units, ``norm_std * (std + 1e-10)``."""
        return np.asarray(norm_std) * (np.asarray(std) + _EPS)
