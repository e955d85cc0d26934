"""Compute backends.

A backend is a module holding ``xp`` (the array library), ``name`` and the
kernels the layers call (``tagi_lstm.backend.cpu`` documents them). The layer
logic is written once against that interface; the CPU backend implements the
kernels with Numba, the CUDA backend with CuPy ``RawModule`` kernels.
"""

from __future__ import annotations

from types import ModuleType

DEVICES = ("cpu", "cuda")

#: The kernel contract: the buffers the LSTM kernels take, named once, in their argument
#: order. A layer builds each tuple from its table (``getattr(layer, "_" + name)``);
#: ``tests/test_backend_contract.py`` checks that every kernel of both backends takes
#: them, in this order, so adding a buffer means editing this table and the kernels.
#: Per-row buffers of every forward kernel (``lstm_forward_steps``,
#: ``lstm_forward_window``, and per step ``lstm_step_forward``).
LSTM_FORWARD_BUFFERS = ("zx_mu", "zx_var", "zx_cov", "r_mu", "r_var", "r_cov", "mu_c",
                        "var_c", "mu_ga", "var_ga", "jcb_ga", "mu_ca", "var_ca", "jcb_ca",
                        "mu_h", "var_h", "mu_a", "var_a", "ms_a", "m2_a")
#: What the fused window forward takes before them.
LSTM_WINDOW_FORWARD_PREFIX = ("wt", "s_wt", "qt", "mu_b", "var_b")
#: Per-row buffers of the backward through time (``lstm_backward_steps``), after the
#: output deltas.
LSTM_BACKWARD_BUFFERS = ("dmu_hrec", "dvar_hrec", "dmu_c", "dvar_c", "mu_ga", "jcb_ga",
                         "mu_c", "mu_ca", "jcb_ca", "dz_mu", "dz_var", "dmu_in", "dvar_in")
#: What the fused window backward kernels take after their deltas.
LSTM_WINDOW_BACKWARD_BUFFERS = ("wt", "qt", "mu_ga", "jcb_ga", "mu_c", "mu_ca", "jcb_ca",
                                "mu_a", "m2_a", "dmu_hrec", "dvar_hrec", "dmu_c", "dvar_c",
                                "dz_mu", "dz_var", "acc_mu", "acc_var", "acc_t_mu",
                                "acc_t_var", "dmu_in", "dvar_in")

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
