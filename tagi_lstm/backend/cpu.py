"""CPU backend: NumPy arrays, BLAS ``matmul`` for the sums, Numba for the moments.

Every function here is a kernel the layers call with buffers they own; none
allocates an array. The kernels trust their inputs: shapes and values are
checked once at the public boundary (:mod:`tagi_lstm._validation`).

Index conventions shared with the CUDA backend:

* sequence buffers are ``(batch, seq_len, features)``, C-contiguous;
* gate blocks are stacked in the order forget, input, cell candidate, output
  (``f, i, g, o``), each ``no`` wide;
* the covariance sums of an LSTM step are stacked after the four variance
  sums, in the order ``S_ig, S_fo, S_io, S_go`` (see :mod:`tagi_lstm.layers.lstm`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import EVEN_EXP, RELU, SIGMOID, TANH
from ._blas import gemm
from ._vmath import vsigmoid, vtanh
from ._workers import split as split_rows  # noqa: F401 - part of the backend interface

name = "cpu"
xp = np
#: Capabilities the layers ask for instead of a backend's name: arrays live in host
#: memory (NumPy); small layers may run a whole window / all sums in one fused kernel
#: (``lstm_forward_window``, ``linear_forward_small`` ...).
HOST_MEMORY = True
FUSED_SMALL_KERNELS = True

# error_model="numpy": no zero-division checks, whose branches stop LLVM from
# vectorising the loops.
_JIT = dict(cache=True, nogil=True, error_model="numpy", _nrt=False)


def asarray(x, dtype=None):
    """A NumPy array on this device (no copy when ``x`` already is one)."""
    return np.asarray(x, dtype=dtype)


def to_numpy(x):
    """A NumPy copy of ``x``."""
    return np.array(x)


def synchronize():
    """Nothing to wait for on the CPU."""


# --------------------------------------------------------------------------
# Validation helpers (no temporaries, unlike ``np.isfinite(x).all()``)
# --------------------------------------------------------------------------
@njit(**_JIT)
def all_finite(x):
    """True when no element of ``x`` (any shape or layout) is NaN or infinite."""
    for v in x.flat:
        if not math.isfinite(v):
            return False
    return True


@njit(**_JIT)
def min_value(x):
    """Smallest element of ``x`` (any shape or layout; NaN elements are ignored)."""
    m = np.inf
    for v in x.flat:
        if v < m:
            m = v
    return m


# --------------------------------------------------------------------------
# Elementwise moments
# --------------------------------------------------------------------------
@njit(**_JIT)
def _square_moments(mu, var, ms, m2):
    for k in range(mu.shape[0]):
        m = mu[k] * mu[k]
        m2[k] = m
        ms[k] = m + var[k]


def square_moments(mu, var, ms, m2):
    """``m2 = mu**2`` and ``ms = mu**2 + var`` (second moment), elementwise."""
    _square_moments(mu.reshape(-1), var.reshape(-1), ms.reshape(-1), m2.reshape(-1))


@njit(**_JIT)
def _activation_forward(kind, mu_z, var_z, mu_a, var_a, jcb):
    half = mu_z.dtype.type(0.5)
    for k in range(mu_z.shape[0]):
        z = mu_z[k]
        if kind == EVEN_EXP and k % 2 == 1:
            # log-normal moments of exp(z); jcb = cov(z, a) / var_z
            m = math.exp(z + half * var_z[k])
            mu_a[k] = m
            jcb[k] = m
            var_a[k] = m * m * math.expm1(var_z[k])
            continue
        if kind == RELU:
            if z > 0.0:
                a, j = z, 1.0
            else:
                a, j = 0.0, 0.0
        elif kind == SIGMOID:
            a = vsigmoid(z)
            j = a * (1.0 - a)
        elif kind == TANH:
            a = vtanh(z)
            j = 1.0 - a * a
        else:
            a, j = z, 1.0
        mu_a[k] = a
        jcb[k] = j
        var_a[k] = j * j * var_z[k]


def activation_forward(kind, mu_z, var_z, mu_a, var_a, jcb):
    """Locally linearised activation: ``mu_a = phi(mu_z)``, ``var_a = J**2 var_z``
    (``EVEN_EXP``: the identity on even flat positions, exact log-normal moments of
    ``exp`` on odd ones, see :class:`~tagi_lstm.nn.EvenExp`)."""
    _activation_forward(kind, mu_z.reshape(-1), var_z.reshape(-1), mu_a.reshape(-1),
                        var_a.reshape(-1), jcb.reshape(-1))


@njit(**_JIT)
def _scale_deltas(jcb, dmu, dvar, dmu_in, dvar_in):
    for k in range(jcb.shape[0]):
        j = jcb[k]
        dmu_in[k] = j * dmu[k]
        dvar_in[k] = j * j * dvar[k]


def scale_deltas(jcb, dmu, dvar, dmu_in, dvar_in):
    """Deltas through a diagonal Jacobian: ``J dmu`` and ``J**2 dvar``."""
    _scale_deltas(jcb.reshape(-1), dmu.reshape(-1), dvar.reshape(-1), dmu_in.reshape(-1),
                  dvar_in.reshape(-1))


# --------------------------------------------------------------------------
# Observation update and parameter update
# --------------------------------------------------------------------------
@njit(**_JIT)
def _observation_deltas(mu, var, y, var_obs, dmu, dvar):
    n_missing = 0
    for k in range(mu.shape[0]):
        if math.isnan(y[k]):
            dmu[k] = 0.0
            dvar[k] = 0.0
            n_missing += 1
        else:
            s = var[k] + var_obs[k]
            dmu[k] = (y[k] - mu[k]) / s
            dvar[k] = -1.0 / s
    return n_missing


def observation_deltas(mu, var, y, var_obs, dmu, dvar) -> int:
    """Kalman-style deltas of the output for ``y = z + v``; NaN ``y`` gives zeros.

    Returns the number of missing (NaN) observations that were skipped.
    """
    return int(_observation_deltas(mu.reshape(-1), var.reshape(-1), y.reshape(-1),
                                   var_obs.reshape(-1), dmu.reshape(-1), dvar.reshape(-1)))


@njit(**_JIT)
def _heteros_deltas(mu, var, y, dmu, dvar):
    # constants in the arrays' type (a float literal would compute float32 in float64)
    one, two, three, four = (mu.dtype.type(1.0), mu.dtype.type(2.0), mu.dtype.type(3.0),
                             mu.dtype.type(4.0))
    n_missing = 0
    for p in range(y.shape[0]):
        z, w = 2 * p, 2 * p + 1
        if math.isnan(y[p]):
            dmu[z] = 0.0
            dvar[z] = 0.0
            dmu[w] = 0.0
            dvar[w] = 0.0
            n_missing += 1
            continue
        m_z, s_z, m_w, s_w = mu[z], var[z], mu[w], var[w]
        err = y[p] - m_z
        s_y = s_z + m_w
        m_v = m_w * err / s_y
        s_v = m_w - m_w * m_w / s_y
        var_w_prior = three * s_w + two * m_w * m_w
        mean_w_post = m_v * m_v + s_v
        var_w_post = two * s_v * s_v + four * m_v * m_v * s_v
        dmu[z] = err / s_y
        dvar[z] = -one / s_y
        dmu[w] = (mean_w_post - m_w) / var_w_prior
        dvar[w] = (var_w_post - var_w_prior) / (var_w_prior * var_w_prior)
    return n_missing


def heteros_deltas(mu, var, y, dmu, dvar) -> int:
    """Deltas of ``(mean, noise variance)`` output pairs given ``y`` (AGVI, see
    :meth:`~tagi_lstm.OutputUpdater.update_heteros`); NaN ``y`` gives zeros.

    Returns the number of missing (NaN) observations that were skipped.
    """
    return int(_heteros_deltas(mu.reshape(-1), var.reshape(-1), y.reshape(-1),
                               dmu.reshape(-1), dvar.reshape(-1)))


@njit(**_JIT)
def capped_update(mu, var, dmu, dvar, cap_factor, var_floor):
    """Apply parameter deltas, each capped at ``sqrt(var) / cap_factor``.

    A variance that would fall to zero or below is set to ``var_floor``.
    Returns ``(n_capped, n_floored)``.
    """
    n_capped = 0
    n_floored = 0
    for k in range(mu.shape[0]):
        bar = math.sqrt(var[k]) / cap_factor
        d = dmu[k]
        if d > bar:
            d = bar
            n_capped += 1
        elif d < -bar:
            d = -bar
            n_capped += 1
        mu[k] += d
        d = dvar[k]
        if d > bar:
            d = bar
            n_capped += 1
        elif d < -bar:
            d = -bar
            n_capped += 1
        v = var[k] + d
        if v <= 0.0:
            v = var_floor
            n_floored += 1
        var[k] = v
    return n_capped, n_floored



@njit(**_JIT)
def weight_delta_scale(var, acc_mu, acc_var, dmu, dvar):
    """Parameter deltas from the batch sums: ``dmu = s acc_mu``, ``dvar = s**2 acc_var``
    (flat arrays; ``acc_*`` may be longer than ``var``)."""
    for k in range(var.shape[0]):
        s = var[k]
        dmu[k] = s * acc_mu[k]
        dvar[k] = s * s * acc_var[k]


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------
@njit(**_JIT)
def _lstm_gate_products(mu_w, no, n, q):
    # q rows: [mu_w**2 (4 no) ; W_i*W_g ; W_f*W_o ; W_i*W_o ; W_g*W_o]
    for r in range(4 * no):
        for k in range(n):
            w = mu_w[r, k]
            q[r, k] = w * w
    for j in range(no):
        for k in range(n):
            wf = mu_w[j, k]
            wi = mu_w[no + j, k]
            wg = mu_w[2 * no + j, k]
            wo = mu_w[3 * no + j, k]
            q[4 * no + j, k] = wi * wg
            q[5 * no + j, k] = wf * wo
            q[6 * no + j, k] = wi * wo
            q[7 * no + j, k] = wg * wo


def lstm_gate_products(mu_w, q):
    """Fill ``q`` (8 no, n) with the squared gate weights and the four gate-pair products."""
    no = mu_w.shape[0] // 4
    _lstm_gate_products(mu_w, no, mu_w.shape[1], q)


@njit(**_JIT)
def lstm_weights_transposed(w, s_w, q, wt, s_wt, qt):
    """``q`` as :func:`lstm_gate_products` fills it, and ``wt``, ``s_wt``, ``qt``:
    the transposes of ``w``, ``s_w``, ``q``, rows ``(n, 4 no)`` / ``(n, 8 no)``.

    The window kernels run their loop products over rows of these; BLAS runs
    the per-step products of few batch rows about a fifth faster with the
    weights as contiguous ``(no, 4 no)`` blocks than as transposed views.
    """
    no = w.shape[0] // 4
    _lstm_gate_products(w, no, w.shape[1], q)
    for k in range(w.shape[1]):
        for r in range(4 * no):
            wt[k, r] = w[r, k]
            s_wt[k, r] = s_w[r, k]
        for r in range(8 * no):
            qt[k, r] = q[r, k]


@njit(**_JIT)
def lstm_load_input(mu_x, var_x, has_var, mu_a, var_a, ms_a, m2_a, mu_c, var_c):
    """Start a window: ``x_t`` into the first ``ni`` columns of ``a_t = [x_t; h_{t-1}]``
    for every step (``var_x`` read only when ``has_var``), ``h_0 = c_0 = 0``."""
    B, T, ni = mu_x.shape
    no = mu_c.shape[2]
    for b in range(B):
        for t in range(T):
            for k in range(ni):
                m = mu_x[b, t, k]
                v = var_x[b, t, k] if has_var else 0.0
                mu_a[b, t, k] = m
                var_a[b, t, k] = v
                m2_a[b, t, k] = m * m
                ms_a[b, t, k] = m * m + v
        for j in range(no):
            mu_a[b, 0, ni + j] = 0.0
            var_a[b, 0, ni + j] = 0.0
            m2_a[b, 0, ni + j] = 0.0
            ms_a[b, 0, ni + j] = 0.0
            mu_c[b, 0, j] = 0.0
            var_c[b, 0, j] = 0.0


@njit(**_JIT)
def lstm_load_state(mu_h0, var_h0, mu_c0, var_c0, mu_a, var_a, ms_a, m2_a, mu_c, var_c):
    """Initial states: ``h_0`` into the last columns of ``a_0``, ``c_0`` into ``c``."""
    B, no = mu_h0.shape
    ni = mu_a.shape[2] - no
    for b in range(B):
        for j in range(no):
            m = mu_h0[b, j]
            v = var_h0[b, j]
            mu_a[b, 0, ni + j] = m
            var_a[b, 0, ni + j] = v
            m2_a[b, 0, ni + j] = m * m
            ms_a[b, 0, ni + j] = m * m + v
            mu_c[b, 0, j] = mu_c0[b, j]
            var_c[b, 0, j] = var_c0[b, j]


@njit(**_JIT)
def lstm_save_state(mu_h, var_h, mu_c, var_c, st_mu_h, st_var_h, st_mu_c, st_var_c):
    """Copy the last step's ``(h, c)`` means and variances into the state buffers."""
    B, T, no = mu_h.shape
    for b in range(B):
        for j in range(no):
            st_mu_h[b, j] = mu_h[b, T - 1, j]
            st_var_h[b, j] = var_h[b, T - 1, j]
            st_mu_c[b, j] = mu_c[b, T, j]
            st_var_c[b, j] = var_c[b, T, j]


@njit(**_JIT)
def lstm_step_forward(t, ni, no, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_b, var_b,
                      mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h,
                      mu_a, var_a, ms_a, m2_a):
    """Moments of one LSTM step from its gate sums (docs/theory.rst §4, items 2–7).

    Gate pre-activation moments are the x-part sums of step t (``zx_mu``,
    ``zx_var``; ``zx_cov`` adds the input-variance terms and, after the four
    variance blocks, the gate-pair covariance sums ``S_ig, S_fo, S_io, S_go``)
    plus the h-part sums of this step (``r_*``, same layout) plus the bias.
    Absent terms are passed as zeros. Writes the gates, ``c_t`` (at index
    t + 1 of ``mu_c``/``var_c``, whose index t holds ``c_{t-1}``),
    ``tanh(c_t)``, ``h_t``, and ``h_t`` into ``a_{t+1}``.

    Each batch row is a few short loops over contiguous slices that touch
    few arrays each: LLVM vectorises those (one fused loop over ~25 arrays
    would need too many runtime alias checks and stays scalar).
    """
    # Constants in the arrays' type: a float literal would promote float32 loops to float64.
    one, two = mu_b.dtype.type(1.0), mu_b.dtype.type(2.0)
    B, T = mu_h.shape[0], mu_h.shape[1]
    for b in range(B):
        gm, gv, gj = mu_ga[b, t], var_ga[b, t], jcb_ga[b, t]
        zm, zv, zc = zx_mu[b, t], zx_var[b, t], zx_cov[b, t]
        rm, rv, rc = r_mu[b], r_var[b], r_cov[b]
        # Gates: pre-activation moments, then sigmoid (f, i, o) or tanh (g).
        for k in range(4 * no):
            gm[k] = zm[k] + rm[k] + mu_b[k]
        for k in range(4 * no):
            gv[k] = zv[k] + zc[k] + rv[k] + rc[k] + var_b[k]
        m_f, m_i, m_g, m_o = _blocks(gm, no)
        j_f, j_i, j_g, j_o = _blocks(gj, no)
        for k in range(no):
            a = vsigmoid(m_f[k])
            m_f[k] = a
            j_f[k] = a * (one - a)
        for k in range(no):
            a = vsigmoid(m_i[k])
            m_i[k] = a
            j_i[k] = a * (one - a)
        for k in range(no):
            a = vtanh(m_g[k])
            m_g[k] = a
            j_g[k] = one - a * a
        for k in range(no):
            a = vsigmoid(m_o[k])
            m_o[k] = a
            j_o[k] = a * (one - a)
        for k in range(4 * no):
            gv[k] = gj[k] * gj[k] * gv[k]
        s_f, s_i, s_g, s_o = _blocks(gv, no)
        # Bhatia-Davis: a variable in [lower, upper] with mean m has variance at most
        # (upper - m)(m - lower); the linearised J^2 s can exceed it when s is large,
        # and the excess would grow step after step through the recurrence.
        for k in range(no):
            s_f[k] = min(s_f[k], m_f[k] * (one - m_f[k]))
            s_i[k] = min(s_i[k], m_i[k] * (one - m_i[k]))
            s_g[k] = min(s_g[k], one - m_g[k] * m_g[k])
            s_o[k] = min(s_o[k], m_o[k] * (one - m_o[k]))
        # Covariance sums over every shared input of a_t: S_ig, S_fo, S_io, S_go.
        zs_ig, zs_fo, zs_io, zs_go = _blocks(zc[4 * no:], no)
        rs_ig, rs_fo, rs_io, rs_go = _blocks(rc[4 * no:], no)
        # Cell state c_t = f c_{t-1} + i g, with C_ig = J_i J_g S_ig.
        mcp, vcp, mcn, vcn = mu_c[b, t], var_c[b, t], mu_c[b, t + 1], var_c[b, t + 1]
        for j in range(no):
            c_ig = _valid_cov(j_i[j] * j_g[j] * (zs_ig[j] + rs_ig[j]), s_i[j], s_g[j])
            mcn[j] = m_f[j] * mcp[j] + m_i[j] * m_g[j] + c_ig
            vcn[j] = (vcp[j] * m_f[j] * m_f[j] + vcp[j] * s_f[j] + s_f[j] * mcp[j] * mcp[j]
                      + s_g[j] * m_i[j] * m_i[j] + s_i[j] * s_g[j] + s_i[j] * m_g[j] * m_g[j]
                      + c_ig * c_ig + two * c_ig * m_i[j] * m_g[j])
        # tanh(c_t).
        mca, vca, jca = mu_ca[b, t], var_ca[b, t], jcb_ca[b, t]
        for j in range(no):
            a = vtanh(mcn[j])
            ja = one - a * a
            mca[j] = a
            jca[j] = ja
            vca[j] = min(ja * ja * vcn[j], one - a * a)
        # Hidden state h_t = o tanh(c_t), with C_o,tanh(c) through S_fo, S_io, S_go.
        mh, vh = mu_h[b, t], var_h[b, t]
        for j in range(no):
            c_otc = _valid_cov(jca[j] * j_o[j] * (j_f[j] * mcp[j] * (zs_fo[j] + rs_fo[j])
                                                  + j_i[j] * m_g[j] * (zs_io[j] + rs_io[j])
                                                  + j_g[j] * m_i[j] * (zs_go[j] + rs_go[j])),
                               s_o[j], vca[j])
            m = m_o[j] * mca[j] + c_otc
            mh[j] = m
            # h lies in (-1, 1): its variance is at most (1 - m)(1 + m)
            vh[j] = min(vca[j] * m_o[j] * m_o[j] + vca[j] * s_o[j] + s_o[j] * mca[j] * mca[j]
                        + c_otc * c_otc + two * c_otc * m_o[j] * mca[j], one - m * m)
        if t + 1 < T:
            am, av, a2, asq = (mu_a[b, t + 1, ni:], var_a[b, t + 1, ni:], m2_a[b, t + 1, ni:],
                               ms_a[b, t + 1, ni:])
            for j in range(no):
                m, v = mh[j], vh[j]
                am[j] = m
                av[j] = v
                a2[j] = m * m
                asq[j] = m * m + v


@njit(inline="always", **_JIT)
def _valid_cov(c, s_a, s_b):
    """A covariance kept within its Cauchy-Schwarz bound ``sqrt(s_a s_b)``."""
    bound = math.sqrt(s_a * s_b)
    return min(max(c, -bound), bound)


@njit(inline="always", **_JIT)
def _blocks(x, no):
    """The four gate blocks f, i, g, o of a stacked vector, as views.

    Indexing each block from zero (rather than ``x[no + j]``) lets LLVM drop
    Numba's negative-index wrap-around and vectorise the loops.
    """
    return x[:no], x[no:2 * no], x[2 * no:3 * no], x[3 * no:4 * no]


@njit(**_JIT)
def lstm_step_backward(t, no, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c, dvar_c, mu_ga,
                       jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var):
    """Deltas of one LSTM step backwards through time (docs/theory.rst §6).

    Reads the deltas on ``h_t`` from the layer above (``dmu_out[:, t]``) and
    from step ``t+1`` (``dmu_hrec``; zeros at the last step) and the delta on
    ``c_t`` carried back from ``c_{t+1}`` (``dmu_c``, overwritten with the
    delta for ``c_{t-1}``); writes the gate pre-activation deltas of step t.
    """
    B = dmu_out.shape[0]
    for b in range(B):
        dmo, dvo, dmr, dvr, dmc_b, dvc_b = (dmu_out[b, t], dvar_out[b, t], dmu_hrec[b],
                                            dvar_hrec[b], dmu_c[b], dvar_c[b])
        m_f, m_i, m_g, m_o = _blocks(mu_ga[b, t], no)
        j_f, j_i, j_g, j_o = _blocks(jcb_ga[b, t], no)
        dzm_f, dzm_i, dzm_g, dzm_o = _blocks(dz_mu[b, t], no)
        dzv_f, dzv_i, dzv_g, dzv_o = _blocks(dz_var[b, t], no)
        mcp, mca, jca = mu_c[b, t], mu_ca[b, t], jcb_ca[b, t]
        for j in range(no):
            dmh = dmo[j] + dmr[j]
            dvh = dvo[j] + dvr[j]
            k_hc = m_o[j] * jca[j]
            dmc = k_hc * dmh + dmc_b[j]
            dvc = k_hc * k_hc * dvh + dvc_b[j]
            a_f = j_f[j] * mcp[j]
            a_i = j_i[j] * m_g[j]
            a_g = j_g[j] * m_i[j]
            a_o = j_o[j] * mca[j]
            dzm_f[j] = a_f * dmc
            dzm_i[j] = a_i * dmc
            dzm_g[j] = a_g * dmc
            dzm_o[j] = a_o * dmh
            dzv_f[j] = a_f * a_f * dvc
            dzv_i[j] = a_i * a_i * dvc
            dzv_g[j] = a_g * a_g * dvc
            dzv_o[j] = a_o * a_o * dvh
            dmc_b[j] = m_f[j] * dmc
            dvc_b[j] = m_f[j] * m_f[j] * dvc


@njit(**_JIT)
def lstm_final_states(dmu_out, dvar_out, mu_ga, jcb_ca, mu_h, var_h, mu_c, var_c, mu_h_post,
                      var_h_post, mu_c_post, var_c_post):
    """Posterior of the last step's ``(h, c)`` given the deltas on ``h_T``.

    ``cov(c_T, h_T) = m_o J_tanh(c) var_c`` carries the update of ``h_T`` to
    ``c_T``; a variance the update would take below zero is set to zero.
    """
    B, T, no = mu_h.shape
    for b in range(B):
        for j in range(no):
            dm = dmu_out[b, T - 1, j]
            dv = dvar_out[b, T - 1, j]
            s_h = var_h[b, T - 1, j]
            mu_h_post[b, j] = mu_h[b, T - 1, j] + s_h * dm
            var_h_post[b, j] = max(s_h + s_h * s_h * dv, 0.0)
            k = mu_ga[b, T - 1, 3 * no + j] * jcb_ca[b, T - 1, j]
            s_c = var_c[b, T, j]
            mu_c_post[b, j] = mu_c[b, T, j] + s_c * k * dm
            var_c_post[b, j] = max(s_c + s_c * s_c * k * k * dv, 0.0)


# --------------------------------------------------------------------------
# Small layers: the matrix products as loops
# --------------------------------------------------------------------------
# For small layers one BLAS call costs more in overhead (~3 us) than its
# arithmetic. The forward kernel does the products as row updates (out[:] +=
# a_k * row_k of a transposed matrix): the inner loop runs over contiguous
# outputs and vectorises without reassociating any sum. The backward kernel's
# products are short dot products, reassociated so that they vectorise.
@njit(**_JIT)
def lstm_forward_window(zero_start, w, s_w, q, wt, s_wt, qt, mu_b, var_b, zx_mu, zx_var, zx_cov,
                        r_mu, r_var, r_cov, mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca,
                        jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, st_mu_h, st_var_h, st_mu_c,
                        st_var_c):
    """All steps of a window in one call (same results as the per-step path),
    from the weights to the final states in ``st_*``.

    Each step's gate sums run over the whole ``a_t`` (into ``zx_*[:, t]``;
    ``r_*`` must be zeros); ``zero_start`` skips ``h_0 = 0`` at step 0.
    ``wt``, ``s_wt``, ``qt`` are work space for the transposed weights.
    """
    lstm_weights_transposed(w, s_w, q, wt, s_wt, qt)
    B, T, n = mu_a.shape
    no = mu_h.shape[2]
    ni = n - no
    for t in range(T):
        k1 = ni if (t == 0 and zero_start) else n
        for b in range(B):
            zm, zv, zc = zx_mu[b, t], zx_var[b, t], zx_cov[b, t]
            am, asq, av = mu_a[b, t], ms_a[b, t], var_a[b, t]
            zm[:] = 0.0
            zv[:] = 0.0
            zc[:] = 0.0
            for k in range(k1):
                a, a2, v = am[k], asq[k], av[k]
                wk, sk, qk = wt[k], s_wt[k], qt[k]
                for r in range(4 * no):
                    zm[r] += a * wk[r]
                    zv[r] += a2 * sk[r]
                for r in range(8 * no):
                    zc[r] += v * qk[r]
        lstm_step_forward(t, ni, no, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_b, var_b,
                          mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h,
                          mu_a, var_a, ms_a, m2_a)
    lstm_save_state(mu_h, var_h, mu_c, var_c, st_mu_h, st_var_h, st_mu_c, st_var_c)


# Reassociating the sums lets LLVM vectorise the short dot products below.
@njit(fastmath={"reassoc", "contract"}, **_JIT)
def lstm_backward_window(need_input, dmu_out, dvar_out, wt, qt, mu_ga, jcb_ga, mu_c, mu_ca,
                         jcb_ca, mu_a, m2_a, dmu_hrec, dvar_hrec, dmu_c, dvar_c, dz_mu, dz_var,
                         acc_mu, acc_var, acc_t_mu, acc_t_var, dmu_in, dvar_in):
    """Backward through time of a small layer's window, parameter sums, input deltas.

    Fills ``acc_mu``/``acc_var`` (laid out as the parameter vector: sums of
    ``dz`` times ``a`` or ``a**2`` over batch and time, then sums of ``dz``)
    and, if ``need_input``, the deltas on ``x`` in ``dmu_in``/``dvar_in``.
    ``wt`` and ``qt`` are the transposed weights and gate products the
    forward window left; ``dmu_hrec`` ... ``dvar_c`` and the transposed
    weight sums ``acc_t_*`` ``(n, 4 no)`` are work space.
    """
    B, T, n = mu_a.shape
    no = dmu_c.shape[1]
    ni = n - no
    R = 4 * no
    dmu_hrec[:] = 0.0
    dvar_hrec[:] = 0.0
    dmu_c[:] = 0.0
    dvar_c[:] = 0.0
    for t in range(T - 1, -1, -1):
        lstm_step_backward(t, no, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c, dvar_c, mu_ga,
                           jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var)
        if t > 0:
            for b in range(B):
                _transposed_products(dz_mu[b, t], dz_var[b, t], wt, qt, ni, no, dmu_hrec[b],
                                     dvar_hrec[b])
    # The weight sums are taken transposed, so that the inner loops run over
    # the 4 no gate rows rather than over the few inputs of a small layer.
    n_w = R * n
    acc_b_mu, acc_b_var = acc_mu[n_w:], acc_var[n_w:]
    acc_b_mu[:] = 0.0
    acc_b_var[:] = 0.0
    acc_t_mu[:] = 0.0
    acc_t_var[:] = 0.0
    for b in range(B):
        for t in range(T):
            am, a2, dm, dv = mu_a[b, t], m2_a[b, t], dz_mu[b, t], dz_var[b, t]
            for k in range(n):
                x, x2 = am[k], a2[k]
                row_mu, row_var = acc_t_mu[k], acc_t_var[k]
                for r in range(R):
                    row_mu[r] += x * dm[r]
                    row_var[r] += x2 * dv[r]
            for r in range(R):
                acc_b_mu[r] += dm[r]
                acc_b_var[r] += dv[r]
            if need_input:
                _transposed_products(dz_mu[b, t], dz_var[b, t], wt, qt, 0, ni, dmu_in[b, t],
                                     dvar_in[b, t])
    acc_w_mu, acc_w_var = acc_mu[:n_w].reshape(R, n), acc_var[:n_w].reshape(R, n)
    for r in range(R):
        for k in range(n):
            acc_w_mu[r, k] = acc_t_mu[k, r]
            acc_w_var[r, k] = acc_t_var[k, r]


@njit(**_JIT)
def lstm_backward_window_full(need_input, dmu_out, dvar_out, wt, qt, mu_ga, jcb_ga, mu_c, mu_ca,
                              jcb_ca, mu_a, m2_a, dmu_hrec, dvar_hrec, dmu_c, dvar_c, dz_mu,
                              dz_var, acc_mu, acc_var, acc_t_mu, acc_t_var, dmu_in, dvar_in,
                              mu_h, var_h, var_c, var_theta, dmu_theta, dvar_theta, st_mu_h,
                              st_var_h, st_mu_c, st_var_c):
    """:func:`lstm_backward_window` with the posterior of the final states
    (:func:`lstm_final_states`, into ``st_*``) before it and the parameter
    deltas (:func:`weight_delta_scale`) after it: a whole layer in one call."""
    lstm_final_states(dmu_out, dvar_out, mu_ga, jcb_ca, mu_h, var_h, mu_c, var_c, st_mu_h,
                      st_var_h, st_mu_c, st_var_c)
    lstm_backward_window(need_input, dmu_out, dvar_out, wt, qt, mu_ga, jcb_ga, mu_c, mu_ca,
                         jcb_ca, mu_a, m2_a, dmu_hrec, dvar_hrec, dmu_c, dvar_c, dz_mu, dz_var,
                         acc_mu, acc_var, acc_t_mu, acc_t_var, dmu_in, dvar_in)
    weight_delta_scale(var_theta, acc_mu, acc_var, dmu_theta, dvar_theta)


@njit(inline="always", **_JIT)
def _transposed_products(dm, dv, wt, qt, k0, nk, out_mu, out_var):
    """``out_mu[k] = sum_r dm[r] W[r, k0 + k]``, ``out_var[k] = sum_r dv[r] W[r, k0 + k]**2``
    for ``k < nk``, reading the transposes (rows of ``wt``, ``qt``)."""
    R = dm.shape[0]
    for k in range(nk):
        wk, w2k = wt[k0 + k], qt[k0 + k]
        s_mu = dm[0] * wk[0]
        s_var = dv[0] * w2k[0]
        for r in range(1, R):
            s_mu += dm[r] * wk[r]
        for r in range(1, R):
            s_var += dv[r] * w2k[r]
        out_mu[k] = s_mu
        out_var[k] = s_var


@njit(**_JIT)
def linear_forward_small(mu_a, var_a, w, s_w, mu_b, var_b, mu_z, var_z):
    """``z = W a + b`` moments (docs/theory.rst §1) with the sums as loops; ``var_a``
    zeros for exact inputs, ``mu_b``/``var_b`` zeros without bias."""
    B, K = mu_a.shape
    J = w.shape[0]
    for b in range(B):
        zm, zv = mu_z[b], var_z[b]
        for j in range(J):
            zm[j] = mu_b[j]
            zv[j] = var_b[j]
        for k in range(K):
            a, v = mu_a[b, k], var_a[b, k]
            a2v = a * a + v
            for j in range(J):
                wjk = w[j, k]
                zm[j] += a * wjk
                zv[j] += a2v * s_w[j, k] + v * wjk * wjk


@njit(**_JIT)
def linear_backward_small(mu_a, w, dmu, dvar, acc_w_mu, acc_w_var, acc_b_mu, acc_b_var,
                          need_input, dmu_in, dvar_in):
    """Parameter sums (``dz a``, ``dz a**2``, ``dz`` over the batch) and, if
    ``need_input``, the input deltas ``W^T dmu`` and ``(W**2)^T dvar``."""
    B, K = mu_a.shape
    J = w.shape[0]
    acc_w_mu[:] = 0.0
    acc_w_var[:] = 0.0
    acc_b_mu[:] = 0.0
    acc_b_var[:] = 0.0
    for b in range(B):
        am = mu_a[b]
        for j in range(J):
            dm, dv = dmu[b, j], dvar[b, j]
            acc_b_mu[j] += dm
            acc_b_var[j] += dv
            awm, awv = acc_w_mu[j], acc_w_var[j]
            for k in range(K):
                awm[k] += dm * am[k]
                awv[k] += dv * am[k] * am[k]
        if need_input:
            dxm, dxv = dmu_in[b], dvar_in[b]
            dxm[:] = 0.0
            dxv[:] = 0.0
            for j in range(J):
                dm, dv = dmu[b, j], dvar[b, j]
                wj = w[j]
                for k in range(K):
                    dxm[k] += dm * wj[k]
                    dxv[k] += dv * wj[k] * wj[k]


# --------------------------------------------------------------------------
# Large layers: the whole window in one call, products by BLAS
# --------------------------------------------------------------------------
@njit(**_JIT)
def lstm_forward_steps(zero_start, has_var, wt, s_wt, qt, mu_b, var_b, zx_mu, zx_var, zx_cov,
                       r_mu, r_var, r_cov, mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca,
                       jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, scalars):
    """Forward pass of a window for a block of batch rows (C-contiguous arrays).

    The x-part sums of every step are one product each; per step, the
    h-part sums (three products, skipped at step 0 when ``zero_start``) and
    :func:`lstm_step_forward`. ``wt``, ``s_wt``, ``qt`` are the transposed
    weights of :func:`lstm_weights_transposed`. ``zx_cov`` must hold zeros
    when not ``has_var``. ``scalars`` is ``[1, 0]`` in the arrays' dtype.
    """
    B, T, n = mu_a.shape
    no = mu_h.shape[2]
    ni = n - no
    rows = B * T
    gemm(mu_a.reshape(rows, n)[:, :ni], wt[:ni], zx_mu.reshape(rows, 4 * no), scalars)
    gemm(ms_a.reshape(rows, n)[:, :ni], s_wt[:ni], zx_var.reshape(rows, 4 * no), scalars)
    if has_var:
        gemm(var_a.reshape(rows, n)[:, :ni], qt[:ni], zx_cov.reshape(rows, 8 * no), scalars)
    w_h, s_w_h, q_h = wt[ni:], s_wt[ni:], qt[ni:]
    for t in range(T):
        if t == 0 and zero_start:
            r_mu[:] = 0.0
            r_var[:] = 0.0
            r_cov[:] = 0.0
        else:
            gemm(mu_a[:, t, ni:], w_h, r_mu, scalars)
            gemm(ms_a[:, t, ni:], s_w_h, r_var, scalars)
            gemm(var_a[:, t, ni:], q_h, r_cov, scalars)
        lstm_step_forward(t, ni, no, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_b, var_b,
                          mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h,
                          mu_a, var_a, ms_a, m2_a)


@njit(**_JIT)
def lstm_backward_steps(need_input, w, w2, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c,
                        dvar_c, mu_ga, jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var, dmu_in,
                        dvar_in, scalars):
    """Backward through time of a window for a block of batch rows.

    Per step, :func:`lstm_step_backward` and the two h-part products that
    carry the gate deltas to ``h_{t-1}``; then, if ``need_input``, the
    deltas on ``x`` for every step in one product each. ``dmu_hrec``,
    ``dvar_hrec``, ``dmu_c``, ``dvar_c`` must be zeros on entry.
    """
    B, T, R = dz_mu.shape
    no = R // 4
    ni = w.shape[1] - no
    w_h, w2_h = w[:, ni:], w2[:, ni:]
    for t in range(T - 1, -1, -1):
        lstm_step_backward(t, no, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c, dvar_c, mu_ga,
                           jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var)
        if t > 0:
            gemm(dz_mu[:, t], w_h, dmu_hrec, scalars)
            gemm(dz_var[:, t], w2_h, dvar_hrec, scalars)
    if need_input:
        gemm(dz_mu.reshape(B * T, R), w[:, :ni], dmu_in.reshape(B * T, ni), scalars)
        gemm(dz_var.reshape(B * T, R), w2[:, :ni], dvar_in.reshape(B * T, ni), scalars)


# --------------------------------------------------------------------------
# Many small forecasting networks, each a whole TAGI update in one call
# --------------------------------------------------------------------------
@njit(inline="always", **_JIT)
def _bounded(y, m, s, k):
    """``y`` moved to within ``k sqrt(s)`` of ``m`` (``OutputUpdater``'s bound), and
    whether it was moved; NaN stays NaN."""
    half = k * math.sqrt(s)
    lower, upper = m - half, m + half
    if y < lower:
        return lower, 1
    if y > upper:
        return upper, 1
    return y, 0


@njit(inline="always", **_JIT)
def _apply_deltas(mu, var, dmu, dvar, cap_factor, var_floor, counts, at):
    """:meth:`Layer.step <tagi_lstm.layers.base.Layer.step>` on one parameter vector:
    the capped update, or none when a delta is not finite; counts at ``at``."""
    if not (all_finite(dmu) and all_finite(dvar)):
        counts[at + 2] += 1
        return
    n_capped, n_floored = capped_update(mu, var, dmu, dvar, cap_factor, var_floor)
    counts[at] += n_capped
    counts[at + 1] += n_floored


@njit(**_JIT)
def member_learn_series(series, heteroscedastic, max_innovation, x, y, first, count, var_obs,
                        caps, var_floor, x_held, held_first, held_count, mean_held, var_held,
                        noise_held, lstm_mu, lstm_var, head_mu, head_var, counts, bounded,
                        x_batch, y_batch, var_batch, q, wt, s_wt, qt, zx_mu, zx_var, zx_cov,
                        r_mu, r_var, r_cov, mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca,
                        jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, dmu_hrec, dvar_hrec, dmu_c,
                        dvar_c, dz_mu, dz_var, acc_mu, acc_var, acc_t_mu, acc_t_var, dmu_in,
                        dvar_in, st_mu_h, st_var_h, st_mu_c, st_var_c, lstm_dmu, lstm_dvar, mu_z,
                        var_z, mu_o, var_o, jcb, dmu_o, dvar_o, dmu_z, dvar_z, head_acc_mu,
                        head_acc_var, dmu_h, dvar_h, head_dmu, head_dvar):
    """TAGI updates of each listed network ``LSTM -> Linear [-> EvenExp]``, one per
    batch of its windows, exactly as ``Sequential`` forward, ``OutputUpdater``
    (``update`` or ``update_heteros``), ``backward`` and ``step`` make them (the same
    kernels, in the same order); then its forecasts of held-out windows.

    Network ``series[i]`` learns windows ``x[first[i]:first[i] + count[i]]`` ``(., T,
    ni)`` with targets ``y[...]`` (NaN: skipped; bounded at ``max_innovation``
    predictive standard deviations) in consecutive batches of ``B`` rows (the
    work space's batch; a shorter last batch is padded with rows whose targets are
    missing, whose deltas are exactly zero), with noise variance ``var_obs[i]``
    (without ``heteroscedastic``); a batch of ``b`` rows is capped at ``caps[b]``
    (:func:`~tagi_lstm.layers.base.cap_factor`). Its parameters are rows
    ``lstm_mu[series[i]]`` ... (each layer's vector, weights then biases); its
    capped, floored and rejected updates are added to ``counts[series[i]]`` (LSTM,
    then the linear layer), its bounded observations to ``bounded[series[i]]``.
    Then, as the network's ``predict``, it forecasts windows ``x_held[held_first[i]:
    held_first[i] + held_count[i]]``: the output's mean and variance into
    ``mean_held`` and ``var_held``, with ``heteroscedastic`` the noise variance into
    ``noise_held`` (rows of the same indices).
    ``x_batch`` ``(B, T, ni)``, ``y_batch``, ``var_batch`` ``(B,)`` and every other
    array are work space for one network, reused from one update to the next (it
    stays in cache from the forward to the backward).
    """
    B = mu_a.shape[0]
    for i in range(series.shape[0]):
        s = series[i]
        var_batch[:] = var_obs[i]
        for start in range(first[i], first[i] + count[i], B):
            b = _load_windows(x, start, first[i] + count[i] - start, x_batch)
            for p in range(B):
                y_batch[p] = y[start + p] if p < b else np.nan
            _member_update(s, heteroscedastic, max_innovation, x_batch, y_batch, var_batch,
                           caps[b], var_floor, lstm_mu, lstm_var, head_mu, head_var, counts,
                           bounded, q, wt, s_wt, qt, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov,
                           mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h,
                           var_h, mu_a, var_a, ms_a, m2_a, dmu_hrec, dvar_hrec, dmu_c, dvar_c,
                           dz_mu, dz_var, acc_mu, acc_var, acc_t_mu, acc_t_var, dmu_in, dvar_in,
                           st_mu_h, st_var_h, st_mu_c, st_var_c, lstm_dmu, lstm_dvar, mu_z,
                           var_z, mu_o, var_o, jcb, dmu_o, dvar_o, dmu_z, dvar_z, head_acc_mu,
                           head_acc_var, dmu_h, dvar_h, head_dmu, head_dvar)
        end = held_first[i] + held_count[i]
        for start in range(held_first[i], end, B):
            b = _load_windows(x_held, start, end - start, x_batch)
            _member_forward(s, heteroscedastic, x_batch, lstm_mu, lstm_var, head_mu, head_var,
                            q, wt, s_wt, qt, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_c,
                            var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h,
                            mu_a, var_a, ms_a, m2_a, st_mu_h, st_var_h, st_mu_c, st_var_c, mu_z,
                            var_z, mu_o, var_o, jcb)
            for p in range(b):
                if heteroscedastic:
                    mean_held[start + p] = mu_o[p, 0]
                    var_held[start + p] = var_o[p, 0]
                    noise_held[start + p] = mu_o[p, 1]
                else:
                    mean_held[start + p] = mu_z[p, 0]
                    var_held[start + p] = var_z[p, 0]


@njit(inline="always", **_JIT)
def _load_windows(x, start, rows, x_batch):
    """Windows ``x[start:start + b]`` into ``x_batch`` ``(B, T, ni)``, ``b = min(B,
    rows)``, the rest of it zeros; returns ``b``."""
    B = x_batch.shape[0]
    b = min(B, rows)
    for p in range(B):
        for t in range(x_batch.shape[1]):
            for k in range(x_batch.shape[2]):
                x_batch[p, t, k] = x[start + p, t, k] if p < b else 0.0
    return b


@njit(**_JIT)
def _member_forward(s, heteroscedastic, xb, lstm_mu, lstm_var, head_mu, head_var, q, wt, s_wt,
                    qt, zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_c, var_c, mu_ga, var_ga,
                    jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, st_mu_h,
                    st_var_h, st_mu_c, st_var_c, mu_z, var_z, mu_o, var_o, jcb):
    """Forward pass of network ``s`` on the batch ``xb`` ``(B, T, ni)``: the linear
    head's output in ``mu_z``, ``var_z``, after ``EvenExp`` in ``mu_o``, ``var_o``."""
    B, T, n = mu_a.shape
    no = mu_h.shape[2]
    R, J, K = 4 * no, mu_z.shape[1], T * no
    n_w, n_hw = R * n, J * K
    lstm_load_input(xb, xb, False, mu_a, var_a, ms_a, m2_a, mu_c, var_c)
    lstm_forward_window(True, lstm_mu[s, :n_w].reshape((R, n)),
                        lstm_var[s, :n_w].reshape((R, n)), q, wt, s_wt, qt,
                        lstm_mu[s, n_w:], lstm_var[s, n_w:], zx_mu, zx_var, zx_cov, r_mu,
                        r_var, r_cov, mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca,
                        jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, st_mu_h, st_var_h,
                        st_mu_c, st_var_c)
    linear_forward_small(mu_h.reshape((B, K)), var_h.reshape((B, K)),
                         head_mu[s, :n_hw].reshape((J, K)), head_var[s, :n_hw].reshape((J, K)),
                         head_mu[s, n_hw:], head_var[s, n_hw:], mu_z, var_z)
    if heteroscedastic:
        _activation_forward(EVEN_EXP, mu_z.reshape(B * J), var_z.reshape(B * J),
                            mu_o.reshape(B * J), var_o.reshape(B * J), jcb.reshape(B * J))


@njit(**_JIT)
def _member_update(s, heteroscedastic, max_innovation, xb, yb, var_obs, cap, var_floor, lstm_mu,
                   lstm_var, head_mu, head_var, counts, bounded, q, wt, s_wt, qt, zx_mu, zx_var,
                   zx_cov, r_mu, r_var, r_cov, mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca, var_ca,
                   jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, dmu_hrec, dvar_hrec, dmu_c,
                   dvar_c, dz_mu, dz_var, acc_mu, acc_var, acc_t_mu, acc_t_var, dmu_in, dvar_in,
                   st_mu_h, st_var_h, st_mu_c, st_var_c, lstm_dmu, lstm_dvar, mu_z, var_z, mu_o,
                   var_o, jcb, dmu_o, dvar_o, dmu_z, dvar_z, head_acc_mu, head_acc_var, dmu_h,
                   dvar_h, head_dmu, head_dvar):
    """One TAGI update of network ``s`` on the batch ``xb`` ``(B, T, ni)``, targets
    ``yb`` ``(B,)`` (bounded in place), noise variances ``var_obs`` ``(B,)``."""
    B, T, n = mu_a.shape
    no = mu_h.shape[2]
    J, K = mu_z.shape[1], T * no
    n_hw = J * K
    k_bound = mu_a.dtype.type(max_innovation)
    _member_forward(s, heteroscedastic, xb, lstm_mu, lstm_var, head_mu, head_var, q, wt, s_wt, qt,
                    zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_c, var_c, mu_ga, var_ga,
                    jcb_ga, mu_ca, var_ca, jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a, st_mu_h,
                    st_var_h, st_mu_c, st_var_c, mu_z, var_z, mu_o, var_o, jcb)
    if heteroscedastic:
        for p in range(yb.shape[0]):
            yb[p], moved = _bounded(yb[p], mu_o[p, 0], var_o[p, 0] + mu_o[p, 1], k_bound)
            bounded[s] += moved
        _heteros_deltas(mu_o.reshape(B * J), var_o.reshape(B * J), yb,
                        dmu_o.reshape(B * J), dvar_o.reshape(B * J))
        _scale_deltas(jcb.reshape(B * J), dmu_o.reshape(B * J), dvar_o.reshape(B * J),
                      dmu_z.reshape(B * J), dvar_z.reshape(B * J))
    else:
        for p in range(yb.shape[0]):
            yb[p], moved = _bounded(yb[p], mu_z[p, 0], var_z[p, 0] + var_obs[p], k_bound)
            bounded[s] += moved
        _observation_deltas(mu_z.reshape(B * J), var_z.reshape(B * J), yb, var_obs,
                            dmu_z.reshape(B * J), dvar_z.reshape(B * J))
    h_mu = mu_h.reshape((B, K))
    w_head = head_mu[s, :n_hw].reshape((J, K))
    linear_backward_small(h_mu, w_head, dmu_z, dvar_z, head_acc_mu[:n_hw].reshape((J, K)),
                          head_acc_var[:n_hw].reshape((J, K)), head_acc_mu[n_hw:],
                          head_acc_var[n_hw:], True, dmu_h, dvar_h)
    weight_delta_scale(head_var[s], head_acc_mu, head_acc_var, head_dmu, head_dvar)
    lstm_backward_window_full(False, dmu_h.reshape((B, T, no)), dvar_h.reshape((B, T, no)),
                              wt, qt, mu_ga, jcb_ga, mu_c, mu_ca, jcb_ca, mu_a, m2_a,
                              dmu_hrec, dvar_hrec, dmu_c, dvar_c, dz_mu, dz_var, acc_mu,
                              acc_var, acc_t_mu, acc_t_var, dmu_in, dvar_in, mu_h, var_h,
                              var_c, lstm_var[s], lstm_dmu, lstm_dvar, st_mu_h, st_var_h,
                              st_mu_c, st_var_c)
    _apply_deltas(lstm_mu[s], lstm_var[s], lstm_dmu, lstm_dvar, cap, var_floor, counts[s], 0)
    _apply_deltas(head_mu[s], head_var[s], head_dmu, head_dvar, cap, var_floor, counts[s], 3)
