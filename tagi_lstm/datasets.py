"""Data sets that ship with the package (they load offline)."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np


def _read_column(name: str, convert):
    path = resources.files("tagi_lstm") / "data" / "toy_time_series" / name
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
