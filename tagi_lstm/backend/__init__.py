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

#: The work space of ``member_learn_series`` for one network: the LSTM's window buffers
#: (forward, then what the backward adds) and its final states ...
MEMBER_LSTM_BUFFERS = ("q", "wt", "s_wt", "qt", *LSTM_FORWARD_BUFFERS, "dmu_hrec", "dvar_hrec",
                       "dmu_c", "dvar_c", "dz_mu", "dz_var", "acc_mu", "acc_var", "acc_t_mu",
                       "acc_t_var", "dmu_in", "dvar_in", "st_mu_h", "st_var_h", "st_mu_c",
                       "st_var_c")
#: ... and the head's: the linear layer's output, the output after ``EvenExp`` and its
#: Jacobian, their deltas, the linear layer's sums and input deltas and its parameter
#: deltas.
MEMBER_HEAD_BUFFERS = ("mu_z", "var_z", "mu_o", "var_o", "jcb", "dmu_o", "dvar_o", "dmu_z",
                       "dvar_z", "head_acc_mu", "head_acc_var", "dmu_h", "dvar_h", "head_dmu",
                       "head_dvar")

#: The whole contract: every function a backend provides, with its parameters in order.
#: Both backends define each of them with exactly these parameters (the
#: :data:`FUSED_KERNELS` only where ``FUSED_SMALL_KERNELS`` is set, the CPU), and every
#: CUDA launch passes its ``extern "C"`` kernel the parameters of the same names in the
#: same order; ``tests/test_backend_contract.py`` checks all three against this table.
KERNELS = {
    # arrays
    "asarray": ("x", "dtype"),
    "to_numpy": ("x",),
    "synchronize": (),
    "all_finite": ("x",),
    "min_value": ("x",),
    # elementwise moments, observation and parameter updates
    "square_moments": ("mu", "var", "ms", "m2"),
    "activation_forward": ("kind", "mu_z", "var_z", "mu_a", "var_a", "jcb"),
    "scale_deltas": ("jcb", "dmu", "dvar", "dmu_in", "dvar_in"),
    "observation_deltas": ("mu", "var", "y", "var_obs", "dmu", "dvar"),
    "heteros_deltas": ("mu", "var", "y", "dmu", "dvar"),
    "capped_update": ("mu", "var", "dmu", "dvar", "cap_factor", "var_floor"),
    "weight_delta_scale": ("var", "acc_mu", "acc_var", "dmu", "dvar"),
    # LSTM: weights, states, one step, a window of steps
    "lstm_gate_products": ("mu_w", "q"),
    "lstm_weights_transposed": ("w", "s_w", "q", "wt", "s_wt", "qt"),
    "lstm_load_input": ("mu_x", "var_x", "has_var", "mu_a", "var_a", "ms_a", "m2_a", "mu_c",
                        "var_c"),
    "lstm_load_state": ("mu_h0", "var_h0", "mu_c0", "var_c0", "mu_a", "var_a", "ms_a", "m2_a",
                        "mu_c", "var_c"),
    "lstm_save_state": ("mu_h", "var_h", "mu_c", "var_c", "st_mu_h", "st_var_h", "st_mu_c",
                        "st_var_c"),
    "lstm_step_forward": ("t", "ni", "no", *LSTM_FORWARD_BUFFERS[:6], "mu_b", "var_b",
                          *LSTM_FORWARD_BUFFERS[6:]),
    "lstm_step_backward": ("t", "no", "dmu_out", "dvar_out", *LSTM_BACKWARD_BUFFERS[:11]),
    "lstm_final_states": ("dmu_out", "dvar_out", "mu_ga", "jcb_ca", "mu_h", "var_h", "mu_c",
                          "var_c", "mu_h_post", "var_h_post", "mu_c_post", "var_c_post"),
    "lstm_forward_steps": ("zero_start", "has_var", *LSTM_WINDOW_FORWARD_PREFIX,
                           *LSTM_FORWARD_BUFFERS, "scalars"),
    "lstm_backward_steps": ("need_input", "w", "w2", "dmu_out", "dvar_out",
                            *LSTM_BACKWARD_BUFFERS, "scalars"),
    # fused kernels of small layers (FUSED_KERNELS)
    "lstm_forward_window": ("zero_start", "w", "s_w", "q", *LSTM_WINDOW_FORWARD_PREFIX,
                            *LSTM_FORWARD_BUFFERS, "st_mu_h", "st_var_h", "st_mu_c",
                            "st_var_c"),
    "lstm_backward_window": ("need_input", "dmu_out", "dvar_out",
                             *LSTM_WINDOW_BACKWARD_BUFFERS),
    "lstm_backward_window_full": ("need_input", "dmu_out", "dvar_out",
                                  *LSTM_WINDOW_BACKWARD_BUFFERS, "mu_h", "var_h", "var_c",
                                  "var_theta", "dmu_theta", "dvar_theta", "st_mu_h",
                                  "st_var_h", "st_mu_c", "st_var_c"),
    "linear_forward_small": ("mu_a", "var_a", "w", "s_w", "mu_b", "var_b", "mu_z", "var_z"),
    "linear_backward_small": ("mu_a", "w", "dmu", "dvar", "acc_w_mu", "acc_w_var", "acc_b_mu",
                              "acc_b_var", "need_input", "dmu_in", "dvar_in"),
    # many small forecasting networks, a run of updates each (FUSED_KERNELS)
    "member_learn_series": ("series", "heteroscedastic", "max_innovation", "x", "y",
                            "first", "count", "var_obs", "caps", "var_floor", "x_held",
                            "held_first", "held_count", "mean_held", "var_held", "noise_held",
                            "lstm_mu", "lstm_var", "head_mu", "head_var", "counts", "bounded",
                            "x_batch", "y_batch", "var_batch", *MEMBER_LSTM_BUFFERS, "lstm_dmu",
                            "lstm_dvar", *MEMBER_HEAD_BUFFERS),
}
#: Kernels only a backend with ``FUSED_SMALL_KERNELS`` provides (whole windows and small
#: linear layers in one call, where a GPU would launch many tiny kernels).
FUSED_KERNELS = ("lstm_forward_window", "lstm_backward_window", "lstm_backward_window_full",
                 "linear_forward_small", "linear_backward_small", "member_learn_series")

#: Activation codes of ``activation_forward``, shared by both backends (the CUDA sources
#: hold the same values in ``cuda/elementwise.cu``'s ``enum Activation``).
IDENTITY, RELU, SIGMOID, TANH, EVEN_EXP = 0, 1, 2, 3, 4


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
