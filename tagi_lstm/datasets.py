"""Data sets that load offline: bundled with the package, or inside a dependency."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np


def _read_column(name: str, convert):
    path = resources.files("tagi_lstm") / "bundled" / "toy_time_series" / name
    with path.open("r", newline="") as fh:
        rows = list(csv.reader(fh))
    return np.array([convert(r[0]) for r in rows[1:]])


def load_sine():
    """pytagi's synthetic daily sine series (its LSTM example and unit test).

    Returns:
        dict with ``train`` (924 values) and ``test`` (232 values) float64
        arrays and their dates ``train_dates`` / ``test_dates``
        (``datetime64[D]``). The test part follows the training part in time
        (its first date repeats the last training date, as in pytagi's files).
    """
    return {
        "train": _read_column("x_train_sin_data.csv", float),
        "test": _read_column("x_test_sin_data.csv", float),
        "train_dates": _read_column("train_sin_datetime.csv", np.datetime64),
        "test_dates": _read_column("test_sin_datetime.csv", np.datetime64),
    }


def load_co2():
    """Weekly atmospheric CO2 at Mauna Loa, 1958-03-29 to 2001-12-29 (ppm).

    The record that ships inside statsmodels (``statsmodels.datasets.co2``),
    so it loads offline: 2,284 weekly means with a rising trend, a yearly
    cycle and 59 missing weeks (NaN).

    Returns:
        dict with ``dates`` (``datetime64[D]``, weekly, Saturdays) and
        ``co2`` (float64, NaN where missing).

    Raises:
        ImportError: statsmodels is not installed (``pip install statsmodels``
            or the ``examples`` extra).
    """
    try:
        from statsmodels.datasets import co2
    except ImportError as exc:
        raise ImportError("load_co2 needs statsmodels: pip install statsmodels "
                          "(or tagi_lstm[examples])") from exc
    raw = co2.load().data
    # statsmodels returns a pandas frame when pandas is present, a record array otherwise
    if hasattr(raw, "index"):
        dates, values = np.asarray(raw.index, dtype="datetime64[D]"), raw["co2"].to_numpy()
    else:  # pragma: no cover - statsmodels always depends on pandas today
        dates, values = np.asarray(raw["date"], dtype="datetime64[D]"), raw["co2"]
    return {"dates": dates, "co2": np.asarray(values, dtype=np.float64)}
