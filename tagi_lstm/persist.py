"""Model files that a crash cannot destroy: atomic ``.npz`` writes and checked reads.

:func:`save_npz` writes to a temporary file in the destination's folder,
flushes and fsyncs it, then renames it over the destination with
:func:`os.replace`, which is atomic on POSIX and Windows. A process killed at
any moment leaves either the old file or the new one, never a truncated mix;
the temporary file is removed when the write fails. :func:`open_npz` turns a
missing, truncated or foreign file into one clear error naming it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np


def save_npz(filename, arrays: dict) -> None:
    """Write ``arrays`` to ``filename`` (``.npz``, uncompressed) atomically."""
    path = Path(filename)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; folders cannot be opened on Windows)."""
    if os.name != "posix":  # pragma: no cover - platform dependent
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_npz(filename, where: str, key: str, what: str):
    """Open a ``.npz`` written by :func:`save_npz`; yields the ``NpzFile``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file when it is not a readable ``.npz`` or lacks ``key`` (the marker
    of a ``what``, e.g. ``"saved Forecaster"``; ``None``: any ``.npz``).
    """
    path = Path(filename)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"{where}: {path} is not a readable .npz file (truncated or "
                         f"corrupt?): {exc}") from exc
    if not hasattr(data, "files"):  # np.load gave a plain array: a .npy file
        raise ValueError(f"{where}: {path} is not a {what} (a .npy array, not a .npz)")
    with data:
        if key is not None and key not in data.files:
            raise ValueError(f"{where}: {path} is not a {what}")
        try:
            yield data
        except (zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise ValueError(f"{where}: {path} is damaged (truncated or corrupt?): "
                             f"{exc}") from exc


def layer_sizes(key: str, layer, input_size: int, output_size: int) -> dict:
    """``{"<key>/mu_w": n, ...}``: the array sizes ``layer(input_size, output_size)``
    saves (``layer``: a class with ``parameter_shapes``, e.g. ``LSTM``, ``Linear``)."""
    (w, _, _), b = layer.parameter_shapes(input_size, output_size)
    return {f"{key}/mu_w": w, f"{key}/var_w": w, f"{key}/mu_b": b, f"{key}/var_b": b}


def check_sizes(data, expected: dict, where: str) -> None:
    """Every array ``expected`` names is in ``data`` with that many values: a file whose
    settings and arrays disagree (damaged, or crafted) is refused before anything is
    built from it."""
    for key, size in expected.items():
        if key not in data.files:
            raise ValueError(f"{where}: the file is damaged: {key} is missing")
        if data[key].size != size:
            raise ValueError(f"{where}: the file is damaged: {key} holds {data[key].size} "
                             f"values; its settings need {size}")


def check_scale(mean, std, where: str) -> None:
    """A saved standardisation: finite numbers, a positive standard deviation."""
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise ValueError(f"{where}: the file is damaged: the saved scaling (mean {mean}, "
                         f"standard deviation {std}) is not a finite mean and a positive "
                         f"standard deviation")
