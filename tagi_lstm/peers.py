"""Import pytagi, the reference implementation, where it is installed.

Only the comparison code (optional tests, benchmarks, examples) calls this;
tagi_lstm itself never needs pytagi.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os


def _preload_nccl() -> None:
    """Load ``libnccl.so.2`` from the ``nvidia-nccl-cu12`` wheel, if installed.

    pytagi's extension links against ``libnccl.so.2`` but its wheel does not
    ship it, and the copy that ``nvidia-nccl-cu12`` installs is not on the
    loader's search path. Loading it first with ``RTLD_GLOBAL`` lets the
    extension resolve it without the user setting ``LD_LIBRARY_PATH``.
    """
    try:
        spec = importlib.util.find_spec("nvidia.nccl")
    except ImportError:  # no ``nvidia`` namespace at all
        return
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "lib", "libnccl.so.2")
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            return


def import_pytagi():
    """The ``pytagi`` module with ``pytagi.nn`` loaded.

    Raises:
        ImportError: pytagi is not installed or does not load here; the
            message says why (a missing system library shows up as any error).
    """
    if importlib.util.find_spec("pytagi") is None:
        raise ImportError("pytagi is not installed (pip install pytagi)")
    try:
        _preload_nccl()
        import pytagi
        import pytagi.nn
    except Exception as exc:
        raise ImportError(f"pytagi does not load here: {type(exc).__name__}: {exc}") from exc
    return pytagi
