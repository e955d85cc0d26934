"""Bayesian LSTM whose recurrence and output use a projected state (``proj_size > 0``)."""

from __future__ import annotations

import numpy as np

from ..backend import KERNELS
from ..random import get_rng
from .base import init_scale
from .lstm import LSTM


class ProjectedLSTM(LSTM):
    r"""LSTM layer with a Gaussian projection of the hidden state (``torch.nn.LSTM``'s
    ``proj_size``).

    Each step computes ``h_t`` exactly as :class:`~tagi_lstm.nn.LSTM` does
    (docs/theory.rst §4), then projects it with a Gaussian matrix ``W_hr`` of shape
    ``(proj_size, output_size)``:

    .. math::

        r_t = W_{hr} h_t, \qquad
        m_{r} = m_{W_{hr}} m_h, \qquad
        s_{r} = s_{W_{hr}} (m_h^2 + s_h) + m_{W_{hr}}^2 s_h,

    the moments of a linear layer (docs/theory.rst §1, ``W_hr`` independent of
    ``h_t``, no bias). The gates of step ``t`` read ``a_t = [x_t ; r_{t-1}]``
    (``n = input_size + proj_size`` values), and ``r_t`` is the layer's
    output and its recurrent state ``h``; ``c_t`` keeps ``output_size``
    values. As everywhere in TAGI, the elements of ``r_{t-1}`` enter the next
    step as independent Gaussians (the covariances that ``W_hr`` creates
    between them are dropped), so the gate-pair covariance sums of docs/theory.rst §4
    run over the diagonal variances of ``a_t``.

    Backward through time, the delta on ``r_t`` (from the layer above and
    from the gates of step ``t + 1``) reaches ``h_t`` through the weight
    means, ``delta_m_h = m_{W_hr}^T delta_m_r``, ``delta_s_h = (m_{W_hr}^2)^T
    delta_s_r``, then the gates as in the plain layer; ``W_hr`` gets
    ``Δm = s_W Σ m_h delta_m_r`` and ``Δs = s_W^2 Σ m_h^2 delta_s_r`` over batch
    and time. Every step is a few backend calls (matrix products, the step
    kernels of the plain layer), on the CPU and the GPU alike.

    Why not the plain layer's fused window kernels: they carry ``h_t`` into
    ``a_{t+1}`` inside the kernel, while here ``r_t = W_hr h_t`` must be formed
    between two steps. The per-step kernel (the one maths of §4, shared with
    the plain layer) is therefore called with ``ni = 0``, so the copy of
    ``h_t`` it writes into ``a_{t+1}`` lands in scratch buffers, and the
    projection then writes ``r_t`` where the next step reads it.

    Args:
        proj_size: size of ``r_t``, between 1 and ``output_size - 1``.
        others: as :class:`~tagi_lstm.nn.LSTM` (build it as
            ``LSTM(..., proj_size=p)``).

    Shape:
        - Input: ``(batch, seq_len * input_size)``.
        - Output: ``(batch, seq_len * proj_size)``, or ``(batch, proj_size)``
          with ``return_sequences=False``.
        - States: ``h`` is ``(batch, proj_size)`` (the last ``r_t``), ``c`` is
          ``(batch, output_size)``.

    Attributes:
        mu_w, var_w: flat; the first ``4 * output_size * (input_size +
            proj_size)`` values are the gate weights, ``reshape(4,
            output_size, input_size + proj_size)`` (``f, i, g, o``, input
            columns first), the last ``proj_size * output_size`` are ``W_hr``.
        mu_b, var_b: flat gate biases, ``reshape(4, output_size)``.
    """

    def __init__(self, input_size: int, output_size: int, seq_len: int, bias: bool = True,
                 gain_weight: float = 1.0, gain_bias: float = 1.0, init_method: str = "He",
                 *, proj_size: int, **options):
        if isinstance(proj_size, int) and not isinstance(proj_size, bool) and proj_size == 0:
            raise ValueError("ProjectedLSTM: proj_size must be positive; use LSTM for no "
                             "projection")
        super().__init__(input_size, output_size, seq_len, bias, gain_weight, gain_bias,
                         init_method, proj_size=proj_size, **options)

    def get_layer_info(self) -> str:
        return f"LSTM({self.input_size},{self.output_size},proj_size={self.proj_size})"

    @property
    def step_width(self) -> int:
        return self.proj_size

    def _state_widths(self):
        return self.proj_size, self.output_size

    def _param_shapes(self):
        ni, no, p = self.input_size, self.output_size, self.proj_size
        return (4 * no * (ni + p) + p * no, ni + p, no), 4 * no

    def init_weight_bias(self) -> None:
        """Draw the parameters afresh (docs/theory.rst §7): the gates with ``fan_in =
        input_size + proj_size``, ``fan_out = output_size``; ``W_hr`` with
        ``fan_in = output_size``, ``fan_out = proj_size``."""
        ni, no, p = self.input_size, self.output_size, self.proj_size
        n_gate, n_proj, n_b = 4 * no * (ni + p), p * no, 4 * no if self.bias else 0
        s_gate = init_scale(self.init_method, ni + p, no, self.where)
        s_proj = init_scale(self.init_method, no, p, self.where)
        rng = get_rng()
        mu = np.concatenate([rng.normal(0.0, s_gate, n_gate), rng.normal(0.0, s_proj, n_proj),
                             rng.normal(0.0, s_gate, n_b)])
        var = np.concatenate([np.full(n_gate, (self.gain_weight * s_gate) ** 2),
                              np.full(n_proj, (self.gain_weight * s_proj) ** 2),
                              np.full(n_b, (self.gain_bias * s_gate) ** 2)])
        self._set_params(self._bk.asarray(mu, dtype=self._dtype),
                         self._bk.asarray(var, dtype=self._dtype), n_gate + n_proj)

    # ---------------------------------------------------------------- buffers
    def _alloc(self, batch_size: int) -> None:
        xp, dt = self._bk.xp, self._dtype
        B, T, ni, no, p = batch_size, self.seq_len, self.input_size, self.output_size, \
            self.proj_size
        n = ni + p
        # a_t = [x_t ; r_{t-1}]: the recurrent input is the projected state
        e = self._alloc_steps(B, T, ni, p, no)
        # the step kernel copies h_t forward for the plain recurrence; here r_t recurs
        self._h_copy = tuple(e(B, T, no) for _ in range(4))
        self._h_ms, self._h_sq = e(B, no), e(B, T, no)
        # projected states r_t and one step's worth of them
        self._mu_p, self._var_p = e(B, T, p), e(B, T, p)
        self._p_mu, self._p_var, self._p_tmp = e(B, p), e(B, p), e(B, p)
        self._w_hr2 = e(p, no)
        # backward, beyond the step buffers: deltas of h and of the projected states
        self._dh_mu, self._dh_var = e(B, T, no), e(B, T, no)
        self._dh_tmp = e(B, no)
        self._dp_mu, self._dp_var = e(B, T, p), e(B, T, p)
        self._dp_rec_mu, self._dp_rec_var = e(B, p), e(B, p)
        self._zero_h = xp.zeros((B, no), dt)
        self._h_post = (e(B, no), e(B, no))
        # batch-and-time sums laid out as the parameter vector
        n_gate, n_proj = 4 * no * n, p * no
        self._acc_mu = e(n_gate + n_proj + 4 * no)
        self._acc_var = e(n_gate + n_proj + 4 * no)
        self._acc_w_mu = self._acc_mu[:n_gate].reshape(4 * no, n)
        self._acc_w_var = self._acc_var[:n_gate].reshape(4 * no, n)
        self._acc_p_mu = self._acc_mu[n_gate:n_gate + n_proj].reshape(p, no)
        self._acc_p_var = self._acc_var[n_gate:n_gate + n_proj].reshape(p, no)
        self._acc_b_mu = self._acc_mu[n_gate + n_proj:]
        self._acc_b_var = self._acc_var[n_gate + n_proj:]
        # parameter views
        self._w = self._mu_w[:n_gate].reshape(4 * no, n)
        self._s_w = self._var_w[:n_gate].reshape(4 * no, n)
        self._w_hr = self._mu_w[n_gate:].reshape(p, no)
        self._s_w_hr = self._var_w[n_gate:].reshape(p, no)
        self._mu_b_or_0 = self._mu_b if self.bias else self._no_bias
        self._var_b_or_0 = self._var_b if self.bias else self._no_bias
        self._batch_size = B

    # ---------------------------------------------------------------- forward
    def forward(self, mu, var):
        """Moments of ``r_t`` for every step, ``(batch, seq_len * proj_size)``
        (or of the last valid step, ``(batch, proj_size)``)."""
        B = mu.shape[0]
        if B != self._batch_size:
            self._alloc(B)
        self._check_lengths(B)
        xp, bk = self._bk.xp, self._bk
        T, ni, no = self.seq_len, self.input_size, self.output_size
        n = ni + self.proj_size
        self._mu_a[:, :, :ni] = mu.reshape(B, T, ni)
        self._var_a[:, :, :ni] = 0 if var is None else var.reshape(B, T, ni)
        start = self._start_state(B)
        for buf, value in zip((self._mu_a[:, 0, ni:], self._var_a[:, 0, ni:], self._mu_c[:, 0],
                               self._var_c[:, 0]), start or (0, 0, 0, 0)):
            buf[...] = value
        bk.square_moments(self._mu_a, self._var_a, self._ms_a, self._m2_a)
        bk.lstm_gate_products(self._w, self._q)
        xp.square(self._w_hr, out=self._w_hr2)
        rows = B * T
        xp.matmul(self._mu_a.reshape(rows, n)[:, :ni], self._w[:, :ni].T,
                  out=self._zx_mu.reshape(rows, 4 * no))
        xp.matmul(self._ms_a.reshape(rows, n)[:, :ni], self._s_w[:, :ni].T,
                  out=self._zx_var.reshape(rows, 4 * no))
        if var is None:
            self._zx_cov[...] = 0
        else:
            xp.matmul(self._var_a.reshape(rows, n)[:, :ni], self._q[:, :ni].T,
                      out=self._zx_cov.reshape(rows, 8 * no))
        w_h, s_w_h, q_h = self._w[:, ni:].T, self._s_w[:, ni:].T, self._q[:, ni:].T
        for t in range(T):
            if t == 0 and start is None:
                for buf in (self._r_mu, self._r_var, self._r_cov):
                    buf[...] = 0
            else:
                xp.matmul(self._mu_a[:, t, ni:], w_h, out=self._r_mu)
                xp.matmul(self._ms_a[:, t, ni:], s_w_h, out=self._r_var)
                xp.matmul(self._var_a[:, t, ni:], q_h, out=self._r_cov)
            # ni = 0: the kernel's copy of h_t goes to the scratch buffers
            bk.lstm_step_forward(*self._buffers(KERNELS["lstm_step_forward"], {
                "t": t, "ni": 0, "no": no, "mu_b": self._mu_b_or_0, "var_b": self._var_b_or_0,
                **dict(zip(("mu_a", "var_a", "ms_a", "m2_a"), self._h_copy))}))
            self._project(t)
        self._save_final_state()
        return self._finish_forward(self._mu_p, self._var_p)

    def _project(self, t: int) -> None:
        """``r_t = W_hr h_t`` (linear-layer moments), into the outputs and ``a_{t+1}``."""
        xp = self._bk.xp
        ni = self.input_size
        mu_h, var_h = self._mu_h[:, t], self._var_h[:, t]
        xp.matmul(mu_h, self._w_hr.T, out=self._p_mu)
        xp.multiply(mu_h, mu_h, out=self._h_ms)
        self._h_ms += var_h
        xp.matmul(self._h_ms, self._s_w_hr.T, out=self._p_var)
        xp.matmul(var_h, self._w_hr2.T, out=self._p_tmp)
        self._p_var += self._p_tmp
        self._mu_p[:, t] = self._p_mu
        self._var_p[:, t] = self._p_var
        if t + 1 < self.seq_len:
            self._mu_a[:, t + 1, ni:] = self._p_mu
            self._var_a[:, t + 1, ni:] = self._p_var
            xp.multiply(self._p_mu, self._p_mu, out=self._p_tmp)
            self._m2_a[:, t + 1, ni:] = self._p_tmp
            self._p_tmp += self._p_var
            self._ms_a[:, t + 1, ni:] = self._p_tmp

    def _save_final_state(self) -> None:
        self._state_buffers()
        self._gather_final_state(self._mu_p, self._var_p, self._mu_c, self._var_c, self._state)

    # --------------------------------------------------------------- backward
    def backward(self, delta_mu, delta_var, need_input_delta: bool = True):
        """Backward through time and through ``W_hr``; parameter deltas, input deltas if asked."""
        xp, bk = self._bk.xp, self._bk
        B, T, ni, no, p = self._batch_size, self.seq_len, self.input_size, self.output_size, \
            self.proj_size
        n = ni + p
        dmu_out, dvar_out = self._start_backward(delta_mu, delta_var)
        w2 = self._q[:4 * no]
        w_h, w2_h = self._w[:, ni:], w2[:, ni:]
        for buf in (self._dp_rec_mu, self._dp_rec_var, self._dmu_c, self._dvar_c):
            buf[...] = 0
        for t in range(T - 1, -1, -1):
            # delta on r_t: from the layer above and from the gates of step t + 1
            xp.add(dmu_out[:, t], self._dp_rec_mu, out=self._p_mu)
            xp.add(dvar_out[:, t], self._dp_rec_var, out=self._p_var)
            self._dp_mu[:, t] = self._p_mu
            self._dp_var[:, t] = self._p_var
            xp.matmul(self._p_mu, self._w_hr, out=self._dh_tmp)
            self._dh_mu[:, t] = self._dh_tmp
            xp.matmul(self._p_var, self._w_hr2, out=self._dh_tmp)
            self._dh_var[:, t] = self._dh_tmp
            bk.lstm_step_backward(*self._buffers(KERNELS["lstm_step_backward"], {
                "t": t, "no": no, "dmu_out": self._dh_mu, "dvar_out": self._dh_var,
                "dmu_hrec": self._zero_h, "dvar_hrec": self._zero_h}))
            if t > 0:
                xp.matmul(self._dz_mu[:, t], w_h, out=self._dp_rec_mu)
                xp.matmul(self._dz_var[:, t], w2_h, out=self._dp_rec_var)
        self._projected_state_posterior(dmu_out, dvar_out)
        rows = B * T
        dz_mu, dz_var = self._dz_mu.reshape(rows, 4 * no), self._dz_var.reshape(rows, 4 * no)
        dp_mu, dp_var = self._dp_mu.reshape(rows, p), self._dp_var.reshape(rows, p)
        xp.matmul(dz_mu.T, self._mu_a.reshape(rows, n), out=self._acc_w_mu)
        xp.matmul(dz_var.T, self._m2_a.reshape(rows, n), out=self._acc_w_var)
        xp.matmul(dp_mu.T, self._mu_h.reshape(rows, no), out=self._acc_p_mu)
        xp.multiply(self._mu_h, self._mu_h, out=self._h_sq)
        xp.matmul(dp_var.T, self._h_sq.reshape(rows, no), out=self._acc_p_var)
        xp.sum(dz_mu, axis=0, out=self._acc_b_mu)
        xp.sum(dz_var, axis=0, out=self._acc_b_var)
        self._scale_param_deltas()
        self._pending_deltas = True
        if not need_input_delta:
            return None, None
        xp.matmul(dz_mu, self._w[:, :ni], out=self._dmu_in.reshape(rows, ni))
        xp.matmul(dz_var, w2[:, :ni], out=self._dvar_in.reshape(rows, ni))
        return self._dmu_in.reshape(B, T * ni), self._dvar_in.reshape(B, T * ni)

    def _projected_state_posterior(self, dmu_out, dvar_out) -> None:
        """Posterior of the last valid ``(r, c)``: ``r`` by its own deltas, ``c``
        through ``cov(c, h)`` with the delta that ``r`` sends to ``h``."""
        xp = self._bk.xp
        self._final_state_posterior(self._dh_mu, self._dh_var, self._mu_h, self._var_h,
                                    self._h_post)
        rows, steps = self._last_steps()
        mu_r, var_r = self._mu_p[rows, steps], self._var_p[rows, steps]
        self._state[0][...] = mu_r + var_r * dmu_out[rows, steps]
        self._state[1][...] = xp.maximum(var_r + var_r * var_r * dvar_out[rows, steps], 0)
