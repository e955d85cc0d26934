"""Compute backends.

A backend is a module holding ``xp`` (the array library), ``name`` and the
kernels the layers call (``tagi_lstm.backend.cpu`` documents them). The layer
logic is written once against that interface; the CPU backend implements the
kernels with Numba, the CUDA backend with CuPy ``RawModule`` kernels.
"""

from __future__ import annotations

from types import ModuleType

DEVICES = ("cpu", "cuda")

#: Activation codes of ``activation_forward``, shared by both backends (the CUDA sources
#: hold the same values in ``cuda/elementwise.cu``'s ``enum Activation``).
IDENTITY, RELU, SIGMOID, TANH = 0, 1, 2, 3


def get_backend(device: str) -> ModuleType:
    """The backend module for ``device`` (``"cpu"`` or ``"cuda"``).

    Raises ``ValueError`` for an unknown device and ``RuntimeError`` naming
    what is missing when CUDA is asked for but CuPy or a GPU is absent.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES} (the current GPU is used; choose "
                         f"it with cupy.cuda.Device(n).use()); got {device!r}")
    if device == "cpu":
        from . import cpu

        return cpu
    from . import cuda

    cuda.ensure_available()
    return cuda


class OnBackend:
    """Pickling and deep copies for objects that hold their backend module as ``_bk``.

    A module cannot be pickled; the backend travels as its device name and is
    looked up again on the way back (so a CUDA object needs CuPy and a GPU
    where it is unpickled).
    """

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_bk"] = self._bk.name
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bk = get_backend(state["_bk"])
