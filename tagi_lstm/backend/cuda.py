"""CUDA backend: CuPy arrays, cuBLAS ``matmul`` for the sums, CUDA C++ kernels for the moments.

Every kernel here is the GPU twin of the function of the same name in
:mod:`tagi_lstm.backend.cpu`: same signature, same return value, same index
conventions and formulas. The kernels are ``extern "C"`` functions in the
``.cu`` files of the repository's top-level ``cuda/`` folder (shipped in the
wheel as ``tagi_lstm._cuda_src``), one per dtype (``NAME_f32``,
``NAME_f64``), compiled with CuPy's ``RawModule`` (NVRTC) at first use, once
per process; CuPy also caches the binaries on disk.

CuPy is imported by :func:`ensure_available`, never by ``import tagi_lstm``.
The wrappers trust their inputs (C-contiguous buffers of the layer's dtype)
except where a layout the layers do not control can arrive.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

import numpy as np

name = "cuda"
#: Capabilities (see ``cpu.py``): device memory; every layer size on the general kernels.
HOST_MEMORY = False
FUSED_SMALL_KERNELS = False

#: The array module (CuPy), bound by :func:`ensure_available`.
xp = None

#: Compiler options of every kernel source (NVRTC here, nvcc in the tests).
COMPILE_OPTIONS = ("-std=c++17",)

#: The kernels each source file ``<stem>.cu`` defines.
KERNEL_SOURCES = {
    "elementwise": ("square_moments", "activation_forward", "scale_deltas"),
    "update": ("observation_deltas", "heteros_deltas", "capped_update", "weight_delta_scale"),
    "lstm": ("lstm_gate_products", "lstm_load_input", "lstm_load_state", "lstm_save_state",
             "lstm_step_forward", "lstm_step_backward", "lstm_final_states"),
    "validation": ("all_finite", "min_value"),
}
_SOURCE_OF = {kernel: stem for stem, kernels in KERNEL_SOURCES.items() for kernel in kernels}
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}

# Threads per block: a whole number of warps, as min_value's shuffles need.
_BLOCK = 256


def ensure_available() -> None:
    """Bind CuPy as :data:`xp`; ``RuntimeError`` saying whether CuPy or a GPU is missing."""
    global xp
    try:
        import cupy
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "cupy":
            raise RuntimeError("CuPy is not installed: pip install 'tagi_lstm[cuda]'") from exc
        raise RuntimeError(f"CuPy is installed but cannot be imported: {exc}") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise RuntimeError(f"CuPy is installed but no CUDA GPU is visible: {exc}") from exc
    if count == 0:
        raise RuntimeError("CuPy is installed but no CUDA GPU is visible: the CUDA runtime "
                           "reports no device")
    xp = cupy


# --------------------------------------------------------------------------
# Kernel sources and compiled modules
# --------------------------------------------------------------------------
def kernel_source_dir():
    """The folder holding the ``.cu`` sources.

    An installed wheel has them as package data of ``tagi_lstm._cuda_src``
    (so does an editable install, which maps that package to ``cuda/``); a
    checkout used without installing has them in ``cuda/`` beside the package.
    """
    try:
        return importlib.resources.files("tagi_lstm._cuda_src")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "cuda"


def source_files() -> dict:
    """``{stem: path}`` of every kernel source file (see :data:`KERNEL_SOURCES`)."""
    root = kernel_source_dir()
    return {stem: root / f"{stem}.cu" for stem in KERNEL_SOURCES}


@functools.cache
def _module(stem: str):
    code = source_files()[stem].read_text(encoding="utf-8")
    return xp.RawModule(code=code, options=COMPILE_OPTIONS)


@functools.cache
def _kernel(kernel: str, dtype: np.dtype):
    return _module(_SOURCE_OF[kernel]).get_function(f"{kernel}_{_SUFFIX[dtype]}")


def _launch(kernel: str, dtype, items: int, *args) -> None:
    """Run the ``dtype`` version of ``kernel`` on ``items`` threads (none for zero)."""
    if items:
        blocks = (items + _BLOCK - 1) // _BLOCK
        _kernel(kernel, np.dtype(dtype))((blocks,), (_BLOCK,), args)


def _i32(value) -> np.int32:
    return np.int32(value)


def _count(value) -> np.int64:
    return np.int64(value)


# --------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------
def asarray(x, dtype=None):
    """A CuPy array on the current GPU (no copy when ``x`` already is one of ``dtype``)."""
    return xp.asarray(x, dtype=dtype)


def to_numpy(x):
    """A NumPy copy of ``x``."""
    if isinstance(x, xp.ndarray):
        return xp.asnumpy(x)
    return np.array(x)


def split_rows(fn, total: int) -> None:
    """Work on all rows at once: the GPU parallelises inside each kernel."""
    fn(0, total)


def synchronize():
    """Wait until the GPU has finished the work queued so far."""
    xp.cuda.Device().synchronize()


# --------------------------------------------------------------------------
# Validation helpers (user arrays: any layout)
# --------------------------------------------------------------------------
def all_finite(x) -> bool:
    """True when no element of ``x`` (float32 or float64) is NaN or infinite."""
    x = xp.ascontiguousarray(x)
    ok = xp.ones(1, np.int32)
    _launch("all_finite", x.dtype, x.size, x, ok, _count(x.size))
    return bool(xp.asnumpy(ok)[0])


def min_value(x) -> float:
    """Smallest element of ``x`` (NaN elements are ignored)."""
    if x.dtype not in _SUFFIX:
        # Integers and booleans hold no NaN to skip.
        return float(x.min())
    x = xp.ascontiguousarray(x)
    result = xp.full(1, np.inf, x.dtype)
    _launch("min_value", x.dtype, x.size, x, result, _count(x.size))
    return float(xp.asnumpy(result)[0])


# --------------------------------------------------------------------------
# Elementwise moments
# --------------------------------------------------------------------------
def square_moments(mu, var, ms, m2):
    """``m2 = mu**2`` and ``ms = mu**2 + var`` (second moment), elementwise."""
    _launch("square_moments", mu.dtype, mu.size, mu, var, ms, m2, _count(mu.size))


def activation_forward(kind, mu_z, var_z, mu_a, var_a, jcb):
    """Locally linearised activation: ``mu_a = phi(mu_z)``, ``var_a = J**2 var_z``."""
    _launch("activation_forward", mu_z.dtype, mu_z.size, _i32(kind), mu_z, var_z, mu_a, var_a,
            jcb, _count(mu_z.size))


def scale_deltas(jcb, dmu, dvar, dmu_in, dvar_in):
    """Deltas through a diagonal Jacobian: ``J dmu`` and ``J**2 dvar``."""
    _launch("scale_deltas", jcb.dtype, jcb.size, jcb, dmu, dvar, dmu_in, dvar_in,
            _count(jcb.size))


# --------------------------------------------------------------------------
# Observation update and parameter update
# --------------------------------------------------------------------------
def observation_deltas(mu, var, y, var_obs, dmu, dvar) -> int:
    """Kalman-style deltas of the output for ``y = z + v``; NaN ``y`` gives zeros.

    Returns the number of missing (NaN) observations that were skipped.
    """
    n_missing = xp.zeros(1, np.int32)
    _launch("observation_deltas", mu.dtype, mu.size, mu, var, y, var_obs, dmu, dvar, n_missing,
            _count(mu.size))
    return int(xp.asnumpy(n_missing)[0])


def heteros_deltas(mu, var, y, dmu, dvar) -> int:
    """Deltas of ``(mean, noise variance)`` output pairs given ``y`` (AGVI); NaN ``y``
    gives zeros. Returns the number of missing (NaN) observations that were skipped."""
    n_missing = xp.zeros(1, np.int32)
    _launch("heteros_deltas", mu.dtype, y.size, mu, var, y, dmu, dvar, n_missing,
            _count(y.size))
    return int(xp.asnumpy(n_missing)[0])


def capped_update(mu, var, dmu, dvar, cap_factor, var_floor):
    """Apply parameter deltas, each capped at ``sqrt(var) / cap_factor``.

    A variance that would fall to zero or below is set to ``var_floor``.
    Returns ``(n_capped, n_floored)``.
    """
    counts = xp.zeros(2, np.int32)
    scalar = mu.dtype.type
    _launch("capped_update", mu.dtype, mu.size, mu, var, dmu, dvar, scalar(cap_factor),
            scalar(var_floor), counts, _count(mu.size))
    n_capped, n_floored = xp.asnumpy(counts).tolist()
    return n_capped, n_floored


def weight_delta_scale(var, acc_mu, acc_var, dmu, dvar):
    """Parameter deltas from the batch sums: ``dmu = s acc_mu``, ``dvar = s**2 acc_var``."""
    _launch("weight_delta_scale", var.dtype, var.size, var, acc_mu, acc_var, dmu, dvar,
            _count(var.size))


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------
def lstm_gate_products(mu_w, q):
    """Fill ``q`` (8 no, n) with the squared gate weights and the four gate-pair products."""
    no, n = mu_w.shape[0] // 4, mu_w.shape[1]
    _launch("lstm_gate_products", mu_w.dtype, no * n, mu_w, q, _i32(no), _i32(n))


def lstm_weights_transposed(w, s_w, q, wt, s_wt, qt):
    """``q`` as :func:`lstm_gate_products` fills it, and the transposes of ``w``,
    ``s_w``, ``q`` (see the CPU kernel of the same name)."""
    lstm_gate_products(w, q)
    wt[...] = w.T
    s_wt[...] = s_w.T
    qt[...] = q.T


def lstm_load_input(mu_x, var_x, has_var, mu_a, var_a, ms_a, m2_a, mu_c, var_c):
    """Start a window: ``x_t`` into the first ``ni`` columns of ``a_t = [x_t; h_{t-1}]``
    for every step (``var_x`` read only when ``has_var``), ``h_0 = c_0 = 0``."""
    _launch("lstm_load_input", mu_a.dtype, mu_x.size, mu_x, var_x, _i32(has_var),
            _i32(mu_x.shape[2]), _i32(mu_a.shape[2]), mu_a, var_a, ms_a, m2_a,
            _count(mu_x.size))
    _load_state(True, mu_c, mu_c, mu_c, mu_c, mu_a, var_a, ms_a, m2_a, mu_c, var_c)


def lstm_load_state(mu_h0, var_h0, mu_c0, var_c0, mu_a, var_a, ms_a, m2_a, mu_c, var_c):
    """Initial states: ``h_0`` into the last columns of ``a_0``, ``c_0`` into ``c``."""
    _load_state(False, mu_h0, var_h0, mu_c0, var_c0, mu_a, var_a, ms_a, m2_a, mu_c, var_c)


def _load_state(zero, mu_h0, var_h0, mu_c0, var_c0, mu_a, var_a, ms_a, m2_a, mu_c, var_c):
    B, L, no = mu_c.shape[0], mu_a.shape[1], mu_c.shape[2]
    _launch("lstm_load_state", mu_a.dtype, B * no, _i32(zero), mu_h0, var_h0, mu_c0, var_c0,
            _i32(mu_a.shape[2] - no), _i32(no), _i32(B), _i32(L), mu_a, var_a, ms_a, m2_a,
            mu_c, var_c)


def lstm_save_state(mu_h, var_h, mu_c, var_c, st_mu_h, st_var_h, st_mu_c, st_var_c):
    """Copy the last step's ``(h, c)`` means and variances into the state buffers."""
    B, L, no = mu_h.shape
    _launch("lstm_save_state", mu_h.dtype, B * no, _i32(no), _i32(B), _i32(L), mu_h, var_h,
            mu_c, var_c, st_mu_h, st_var_h, st_mu_c, st_var_c)


def lstm_step_forward(t, ni, no, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_b, var_b,
                      mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h,
                      mu_a, var_a, ms_a, m2_a):
    """Moments of one LSTM step from its gate sums (see the CPU kernel of the same name)."""
    B, L = mu_h.shape[0], mu_h.shape[1]
    _launch("lstm_step_forward", mu_h.dtype, B * no, _i32(t), _i32(ni), _i32(no), _i32(B),
            _i32(L), zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_b, var_b, mu_c, var_c,
            mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a)


def lstm_step_backward(t, no, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c, dvar_c, mu_ga,
                       jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var):
    """Deltas of one LSTM step backwards through time (see the CPU kernel of the same
    name)."""
    B, L = dmu_out.shape[0], dmu_out.shape[1]
    _launch("lstm_step_backward", dz_mu.dtype, B * no, _i32(t), _i32(no), _i32(B), _i32(L),
            dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c, dvar_c, mu_ga, jcb_ga, mu_c, mu_ca,
            jcb_ca, dz_mu, dz_var)


def lstm_final_states(dmu_out, dvar_out, mu_ga, jcb_ca, mu_h, var_h, mu_c, var_c, mu_h_post,
                      var_h_post, mu_c_post, var_c_post):
    """Posterior of the last step's ``(h, c)`` given the deltas on ``h_T``."""
    B, L, no = mu_h.shape
    _launch("lstm_final_states", mu_h.dtype, B * no, _i32(no), _i32(B), _i32(L), dmu_out,
            dvar_out, mu_ga, jcb_ca, mu_h, var_h, mu_c, var_c, mu_h_post, var_h_post,
            mu_c_post, var_c_post)


def lstm_forward_steps(zero_start, has_var, wt, s_wt, qt, mu_b, var_b, zx_mu, zx_var, zx_cov,
                       r_mu, r_var, r_cov, mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca,
                       jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, scalars):
    """Forward pass of a window (see the CPU kernel of the same name): cuBLAS
    products and one step kernel per step."""
    B, T, n = mu_a.shape
    no = mu_h.shape[2]
    ni = n - no
    rows = B * T

    def x_part(buf):
        return buf.reshape(rows, n)[:, :ni]

    xp.matmul(x_part(mu_a), wt[:ni], out=zx_mu.reshape(rows, 4 * no))
    xp.matmul(x_part(ms_a), s_wt[:ni], out=zx_var.reshape(rows, 4 * no))
    if has_var:
        xp.matmul(x_part(var_a), qt[:ni], out=zx_cov.reshape(rows, 8 * no))
    w_h, s_w_h, q_h = wt[ni:], s_wt[ni:], qt[ni:]
    for t in range(T):
        if t == 0 and zero_start:
            r_mu.fill(0)
            r_var.fill(0)
            r_cov.fill(0)
        else:
            xp.matmul(mu_a[:, t, ni:], w_h, out=r_mu)
            xp.matmul(ms_a[:, t, ni:], s_w_h, out=r_var)
            xp.matmul(var_a[:, t, ni:], q_h, out=r_cov)
        lstm_step_forward(t, ni, no, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_b, var_b,
                          mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h,
                          mu_a, var_a, ms_a, m2_a)


def lstm_backward_steps(need_input, w, w2, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c,
                        dvar_c, mu_ga, jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var, dmu_in,
                        dvar_in, scalars):
    """Backward through time of a window (see the CPU kernel of the same name)."""
    B, T, R = dz_mu.shape
    no = R // 4
    ni = w.shape[1] - no
    w_h, w2_h = w[:, ni:], w2[:, ni:]
    for t in range(T - 1, -1, -1):
        lstm_step_backward(t, no, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c, dvar_c, mu_ga,
                           jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var)
        if t > 0:
            xp.matmul(dz_mu[:, t], w_h, out=dmu_hrec)
            xp.matmul(dz_var[:, t], w2_h, out=dvar_hrec)
    if need_input:
        xp.matmul(dz_mu.reshape(B * T, R), w[:, :ni], out=dmu_in.reshape(B * T, ni))
        xp.matmul(dz_var.reshape(B * T, R), w2[:, :ni], out=dvar_in.reshape(B * T, ni))
