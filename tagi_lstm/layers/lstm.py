"""Bayesian LSTM layer with true recurrence inside the window."""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_int
from ..backend import (
    LSTM_BACKWARD_BUFFERS,
    LSTM_FORWARD_BUFFERS,
    LSTM_WINDOW_BACKWARD_BUFFERS,
    LSTM_WINDOW_FORWARD_PREFIX,
)
from ..config import WINDOW_MAX_WORK
from ..random import get_rng
from ._sequence import SequenceSteps
from .base import BaseLayer

_INIT_STATES = ("zeros", "random")



def check_proj_size(proj_size, hidden_size: int) -> int:
    """``proj_size`` as an int in ``0..hidden_size - 1``, else a clear error."""
    if isinstance(proj_size, bool) or not isinstance(proj_size, int):
        raise TypeError(f"LSTM: proj_size must be a non-negative integer; got "
                        f"{type(proj_size).__name__} {proj_size!r}")
    if proj_size < 0 or proj_size >= hidden_size:
        raise ValueError(f"LSTM: proj_size must be 0 (no projection) or between 1 and "
                         f"output_size - 1 = {hidden_size - 1}; got {proj_size}")
    return int(proj_size)


class LSTM(SequenceSteps, BaseLayer):
    r"""Long short-term memory layer with Gaussian weights and states (TAGI).

    At each step ``t`` of a window of ``seq_len`` steps the four gates read
    ``a_t = [x_t ; h_{t-1}]`` (input features first, ``n = input_size +
    output_size`` values):

    .. math::

        f_t &= \sigma(W_f a_t + b_f), \quad
        i_t  = \sigma(W_i a_t + b_i), \quad
        g_t  = \tanh(W_g a_t + b_g), \quad
        o_t  = \sigma(W_o a_t + b_o), \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad
        h_t  = o_t \odot \tanh(c_t).

    Every quantity is a Gaussian carried by its mean and variance
    (docs/theory.rst §4): the gate pre-activations by the linear-layer moments, the
    gates by local linearisation (Jacobians ``J_f, J_i, J_g, J_o`` kept), the
    products by the Gaussian product rule with the covariances that shared
    inputs create,

    .. math::

        C_{ig} &= J_i J_g \textstyle\sum_k m_{W_i,k} m_{W_g,k} s_{a,k}, \\
        C_{o,\tanh c} &= J_{\tanh c} J_o \left(J_f m_{c_{t-1}} S_{fo}
            + J_i m_g S_{io} + J_g m_i S_{go}\right),
        \quad S_{xo} = \textstyle\sum_k m_{W_x,k} m_{W_o,k} s_{a,k},

    and ``h_t``, ``c_t`` (means and variances) recur into step ``t + 1``
    exactly as ``torch.nn.LSTM`` recurs. The backward pass runs through time
    (docs/theory.rst §6): the delta on ``c_t`` collects ``m_o J_{tanh c}`` times the
    delta on ``h_t`` and ``m_{f,t+1}`` times the delta on ``c_{t+1}``; the
    gates send their deltas to ``x_t`` and ``h_{t-1}`` through the weight
    means (squared for variances), and the delta reaching ``h_{t-1}`` adds to
    the one the layer above sent. Weight and bias deltas are summed over
    batch and time.

    The sums over ``x_t`` for all steps are one matrix product before the
    recurrence; the sums over ``h_{t-1}`` are three per step (mean, variance,
    and the squared weights with the four gate-pair covariance sums).

    Args:
        input_size: features per step of the input, ``H_in``.
        output_size: hidden units, ``H_out`` (features per step of the output).
        seq_len: steps per window ``L``; every input row holds ``L`` steps.
        bias: learn the gate biases.
        gain_weight: scales the initial weight standard deviation.
        gain_bias: scales the initial bias standard deviation.
        init_method: ``"He"`` or ``"Xavier"``, with ``fan_in = input_size +
            output_size``, ``fan_out = output_size`` (docs/theory.rst §7).
        stateful: carry the last step's ``(h, c)`` of each row into the next
            call as its initial state (with the posterior update the
            backward pass gives it). Otherwise every call starts from
            ``init_state``.
        init_state: initial ``(h_0, c_0)`` when none is carried or set:
            ``"zeros"`` (means and variances zero) or ``"random"`` (means drawn
            from ``N(0, 1)`` at every call, variances zero).
        proj_size: if positive, the recurrence and the output use the
            projected state ``r_t = W_hr h_t`` of this size, as in
            ``torch.nn.LSTM`` (builds a
            :class:`~tagi_lstm.layers.projection.ProjectedLSTM`).
        bidirectional: add a reverse-direction twin; each step outputs the
            forward then the reverse state (builds a
            :class:`~tagi_lstm.layers.bidirectional.BidirectionalLSTM`).
        return_sequences: output every step (default) or, if False, each
            row's last valid step only (for a fully connected head on the
            last hidden state).

    Windows of different lengths (right-padded to ``seq_len``) are given to
    :meth:`~tagi_lstm.Sequential.forward` as ``lengths``; padded steps change
    no state and no parameter and output mean 0, variance 0.

    Shape:
        - Input: ``(batch, seq_len * input_size)`` or
          ``(batch, seq_len, input_size)``; each row time-major,
          ``[x_0 features, x_1 features, ...]``.
        - Output: ``(batch, seq_len * output_size)``, the hidden state of
          every step, time-major, so ``Linear(output_size * seq_len, k)`` can
          follow; ``(batch, output_size)`` with ``return_sequences=False``.
        - States (``get_lstm_states`` / ``set_lstm_states`` of
          :class:`~tagi_lstm.Sequential`): ``(batch, output_size)`` each.

    Attributes:
        mu_w, var_w: flat; ``reshape(4, output_size, input_size + output_size)``
            gives the gate blocks in ``f, i, g, o`` order, input columns first.
        mu_b, var_b: flat; ``reshape(4, output_size)``.
    """

    def __new__(cls, *args, proj_size: int = 0, bidirectional: bool = False, **kwargs):
        # The options that change the layer's structure are subclasses.
        if cls is LSTM and bidirectional:
            from .bidirectional import BidirectionalLSTM

            cls = BidirectionalLSTM
        elif cls is LSTM and not isinstance(proj_size, bool) and isinstance(proj_size, int) \
                and proj_size > 0:
            from .projection import ProjectedLSTM

            cls = ProjectedLSTM
        return super().__new__(cls)

    def __init__(self, input_size: int, output_size: int, seq_len: int, bias: bool = True,
                 gain_weight: float = 1.0, gain_bias: float = 1.0, init_method: str = "He",
                 *, stateful: bool = False, init_state: str = "zeros", proj_size: int = 0,
                 bidirectional: bool = False, return_sequences: bool = True):
        self.input_size = check_positive_int(input_size, name="input_size", where="LSTM")
        self.output_size = check_positive_int(output_size, name="output_size", where="LSTM")
        self.seq_len = check_positive_int(seq_len, name="seq_len", where="LSTM")
        self.proj_size = check_proj_size(proj_size, output_size)
        self.bidirectional = bool(bidirectional)
        self.return_sequences = bool(return_sequences)
        super().__init__(bias, gain_weight, gain_bias, init_method)
        if init_state not in _INIT_STATES:
            raise ValueError(f"{self.where}: init_state must be one of {_INIT_STATES}; got "
                             f"{init_state!r}")
        self.stateful = bool(stateful)
        self.init_state = init_state
        self._state = None
        self._use_state_next = False
        self.init_weight_bias()

    def get_layer_info(self) -> str:
        return f"LSTM({self.input_size},{self.output_size})"

    @property
    def in_width(self) -> int:
        return self.seq_len * self.input_size

    @property
    def step_width(self) -> int:
        """Output features per step."""
        return self.output_size

    @property
    def out_width(self) -> int:
        return self.step_width * (self.seq_len if self.return_sequences else 1)

    def _state_widths(self):
        """Widths of the ``h`` and ``c`` states."""
        return self.output_size, self.output_size

    def _param_shapes(self):
        return self.parameter_shapes(self.input_size, self.output_size)

    @staticmethod
    def parameter_shapes(input_size: int, output_size: int):
        """``((weights, fan_in, fan_out), biases)`` of ``LSTM(input_size, output_size)``,
        known before any layer is built (files are checked against it)."""
        n, no = input_size + output_size, output_size
        return (4 * no * n, n, no), 4 * no

    # ---------------------------------------------------------------- buffers
    def _alloc_steps(self, B: int, T: int, ni: int, n_rec: int, no: int):
        """The buffers of the step kernels, shared with the projected layer: ``a_t =
        [x_t ; recurrent input]`` of width ``ni + n_rec``, the gate sums, gates, cell
        states, ``tanh(c)``, hidden states, gate-pair products and the backward's gate
        and input deltas. Returns ``e(*shape)``, an uninitialised buffer maker."""
        xp, dt = self._bk.xp, self._dtype
        n = ni + n_rec

        def e(*shape):
            return xp.empty(shape, dt)

        # a_t: means, variances, second moments, squared means
        self._mu_a, self._var_a, self._ms_a, self._m2_a = (e(B, T, n) for _ in range(4))
        # gate sums over x_t for every step, and over the recurrent input for one step
        self._zx_mu, self._zx_var = e(B, T, 4 * no), e(B, T, 4 * no)
        self._zx_cov = xp.zeros((B, T, 8 * no), dt)
        self._r_mu, self._r_var, self._r_cov = e(B, 4 * no), e(B, 4 * no), e(B, 8 * no)
        # the kernels take every term; absent ones (no bias) are zeros
        self._no_bias = xp.zeros(4 * no, dt)
        # gates, cell states (index t holds c_{t-1}), tanh(c), hidden states
        self._mu_ga, self._var_ga, self._jcb_ga = (e(B, T, 4 * no) for _ in range(3))
        self._mu_c, self._var_c = e(B, T + 1, no), e(B, T + 1, no)
        self._mu_ca, self._var_ca, self._jcb_ca = (e(B, T, no) for _ in range(3))
        self._mu_h, self._var_h = e(B, T, no), e(B, T, no)
        # squared weight means and gate-pair products, (8 no, n)
        self._q = e(8 * no, n)
        # backward: gate deltas, cell-state deltas, input deltas
        self._dz_mu, self._dz_var = e(B, T, 4 * no), e(B, T, 4 * no)
        self._dmu_c, self._dvar_c = e(B, no), e(B, no)
        self._dmu_in, self._dvar_in = e(B, T, ni), e(B, T, ni)
        return e

    def _alloc(self, batch_size: int) -> None:
        xp, dt = self._bk.xp, self._dtype
        B, T, ni, no = batch_size, self.seq_len, self.input_size, self.output_size
        n = ni + no
        e = self._alloc_steps(B, T, ni, no, no)
        self._zx_cov_zero = True
        self._scalars = xp.asarray([1.0, 0.0], dtype=dt)  # alpha, beta of the BLAS calls
        self._row_views = {}
        self._dmu_hrec, self._dvar_hrec = e(B, no), e(B, no)
        # batch (and time) sums for the parameter deltas, laid out as the
        # parameter vector (weights then biases) so one kernel scales them all
        n_w = 4 * no * n
        self._acc_mu, self._acc_var = e(n_w + 4 * no), e(n_w + 4 * no)
        self._acc_w_mu = self._acc_mu[:n_w].reshape(4 * no, n)
        self._acc_w_var = self._acc_var[:n_w].reshape(4 * no, n)
        self._acc_b_mu, self._acc_b_var = self._acc_mu[n_w:], self._acc_var[n_w:]
        # parameter views
        self._w = self._mu_w.reshape(4 * no, n)
        self._s_w = self._var_w.reshape(4 * no, n)
        self._mu_b_or_0 = self._mu_b if self.bias else self._no_bias
        self._var_b_or_0 = self._var_b if self.bias else self._no_bias
        # the window kernels exist for the CPU; a GPU wants many threads per launch
        self._window = self._bk.FUSED_SMALL_KERNELS and B * n * no <= WINDOW_MAX_WORK
        # transposed weights and gate products, refilled by every forward (both paths)
        self._wt, self._s_wt, self._qt = e(n, 4 * no), e(n, 4 * no), e(n, 8 * no)
        # the kernels' buffer arguments, from the contract's tables
        self._forward_bufs = self._buffers(LSTM_FORWARD_BUFFERS)
        if self._window:
            for buf in (self._r_mu, self._r_var, self._r_cov):
                buf[...] = 0
            self._acc_t_mu, self._acc_t_var = e(n, 4 * no), e(n, 4 * no)
            self._window_args = self._buffers(LSTM_WINDOW_FORWARD_PREFIX,
                                              {"mu_b": self._mu_b_or_0,
                                               "var_b": self._var_b_or_0}) \
                + self._forward_bufs
            self._window_back_args = self._buffers(LSTM_WINDOW_BACKWARD_BUFFERS)
        self._batch_size = B

    def _buffers(self, names, special=None) -> tuple:
        """The buffers ``names`` lists (see :mod:`tagi_lstm.backend`), attribute
        ``_<name>`` each unless ``special`` maps the name to another array."""
        special = special or {}
        return tuple(special[n] if n in special else getattr(self, "_" + n) for n in names)

    # ----------------------------------------------------------------- states
    def _initial_state(self, batch_size: int) -> bool:
        """Load given or carried ``h_0, c_0`` over the zeros that
        ``lstm_load_input`` wrote; True when they stay exactly zero."""
        start = self._start_state(batch_size)
        if start is None:
            return True
        self._bk.lstm_load_state(*start, self._mu_a, self._var_a, self._ms_a, self._m2_a,
                                 self._mu_c, self._var_c)
        return False

    def _start_state(self, batch_size: int):
        """``(mu_h, var_h, mu_c, var_c)`` to start from, carried, set or drawn;
        ``None`` for zeros."""
        no_h, no_c = self._state_widths()
        carry = self._state is not None and (self.stateful or self._use_state_next)
        self._use_state_next = False
        if carry:
            mu_h, var_h, mu_c, var_c = self._state
            if mu_h.shape[0] != batch_size:
                raise ValueError(
                    f"{self.where}: the carried LSTM states hold {mu_h.shape[0]} rows but the "
                    f"batch has {batch_size}; call reset_lstm_states() or set_lstm_states() "
                    f"with one state per row")
        elif self.init_state == "random":
            xp = self._bk.xp
            mu_h = xp.asarray(get_rng().standard_normal((batch_size, no_h)), dtype=self._dtype)
            mu_c = xp.asarray(get_rng().standard_normal((batch_size, no_c)), dtype=self._dtype)
            var_h, var_c = xp.zeros_like(mu_h), xp.zeros_like(mu_c)
        else:
            return None
        return mu_h, var_h, mu_c, var_c

    def _save_final_state(self) -> None:
        """Keep the last (valid) step's ``(h, c)`` as the layer's current states."""
        self._state_buffers()
        if self._lengths is None:
            self._bk.lstm_save_state(self._mu_h, self._var_h, self._mu_c, self._var_c,
                                     *self._state)
        else:
            self._gather_final_state(self._mu_h, self._var_h, self._mu_c, self._var_c,
                                     self._state)

    def _state_buffers(self):
        """``self._state``, made to hold buffers for this batch size."""
        B = self._batch_size
        if self._state is None or self._state[0].shape[0] != B:
            xp = self._bk.xp
            no_h, no_c = self._state_widths()
            self._state = tuple(xp.empty((B, w), self._dtype) for w in (no_h, no_h, no_c, no_c))
        return self._state

    def reset_states(self) -> None:
        """Forget carried or set states; the next call starts from ``init_state``."""
        self._state = None
        self._use_state_next = False

    def get_states(self):
        """``(mu_h, var_h, mu_c, var_c)`` of the last step, NumPy ``(batch, output_size)``."""
        no_h, no_c = self._state_widths()
        if self._state is None:
            return tuple(np.zeros((0, w), self._dtype) for w in (no_h, no_h, no_c, no_c))
        return tuple(self._bk.to_numpy(s) for s in self._state)

    def set_states(self, mu_h, var_h, mu_c, var_c) -> None:
        """Initial ``(h, c)`` means and variances for the next call.

        Each is ``(batch, output_size)`` or flat with ``batch * output_size``
        values. With ``stateful=False`` they apply to the next call only.
        """
        no_h, no_c = self._state_widths()
        arrays = []
        for name, value in (("mu_h", mu_h), ("var_h", var_h), ("mu_c", mu_c),
                            ("var_c", var_c)):
            no = no_h if name.endswith("h") else no_c
            arr = check_array(value, name=name, where=self.where,
                              nonnegative=name.startswith("var"), backend=self._bk)
            if arr.ndim == 1 and arr.size % no == 0 and arr.size:
                arr = arr.reshape(-1, no)
            if arr.ndim != 2 or arr.shape[1] != no:
                raise ValueError(f"{self.where}: {name} must have shape (batch, {no}) or "
                                 f"batch * {no} values; got shape {tuple(arr.shape)}")
            arrays.append(arr)
        if len({a.shape[0] for a in arrays}) != 1:
            raise ValueError(f"{self.where}: mu_h, var_h, mu_c, var_c must have the same "
                             f"batch size; got {[a.shape[0] for a in arrays]}")
        xp = self._bk.xp
        self._state = tuple(xp.array(self._bk.asarray(a), dtype=self._dtype, order="C")
                            for a in arrays)
        self._use_state_next = True

    def _move_states(self, backend, dtype, to_np) -> None:
        if self._state is not None:
            self._state = tuple(backend.asarray(np.ascontiguousarray(to_np(s), dtype=dtype))
                                for s in self._state)

    # ---------------------------------------------------------------- forward
    def forward(self, mu, var):
        """Moments of the hidden states of every step, ``(batch, seq_len * output_size)``
        (or of the last valid step, ``(batch, output_size)``)."""
        B = mu.shape[0]
        if B != self._batch_size:
            self._alloc(B)
        self._check_lengths(B)
        bk = self._bk
        T, ni = self.seq_len, self.input_size
        x_mu = mu.reshape(B, T, ni)
        bk.lstm_load_input(x_mu, x_mu if var is None else var.reshape(B, T, ni), var is not None,
                           self._mu_a, self._var_a, self._ms_a, self._m2_a, self._mu_c,
                           self._var_c)
        zero_start = self._initial_state(B)
        if self._window:
            bk.lstm_forward_window(zero_start, self._w, self._s_w, self._q, *self._window_args,
                                   *self._state_buffers())
            self._zx_cov_zero = False
            if self._lengths is not None:  # the kernel kept step T's states, not each row's last
                self._save_final_state()
        else:
            bk.lstm_weights_transposed(self._w, self._s_w, self._q, self._wt, self._s_wt,
                                       self._qt)
            self._forward_steps(var is not None, zero_start)
            self._save_final_state()
        return self._finish_forward(self._mu_h, self._var_h)

    def _forward_steps(self, has_var, zero_start) -> None:
        """The forward pass with BLAS, rows of the batch split across the CPU workers."""
        if not has_var and not self._zx_cov_zero:
            self._zx_cov[...] = 0
        self._zx_cov_zero = not has_var
        self._bk.split_rows(lambda b0, b1: self._forward_rows(b0, b1, has_var, zero_start),
                            self._batch_size)

    def _rows(self, b0, b1):
        """Views of the buffers for batch rows ``b0:b1``, made once per block:
        ``(forward arguments, backward arguments)`` of the window kernels."""
        views = self._row_views.get((b0, b1))
        if views is None:
            r = slice(b0, b1)
            forward = tuple(buf[r] for buf in self._forward_bufs)
            backward = tuple(buf[r] for buf in self._buffers(LSTM_BACKWARD_BUFFERS))
            views = self._row_views[(b0, b1)] = (forward, backward)
        return views

    def _forward_rows(self, b0, b1, has_var, zero_start) -> None:
        """Rows ``b0:b1`` of the forward pass (one backend call for the window)."""
        self._bk.lstm_forward_steps(zero_start, has_var, self._wt, self._s_wt, self._qt,
                                    self._mu_b_or_0, self._var_b_or_0, *self._rows(b0, b1)[0],
                                    self._scalars)

    # --------------------------------------------------------------- backward
    def backward(self, delta_mu, delta_var, need_input_delta: bool = True):
        """Backward through time; parameter deltas, and input deltas if asked."""
        bk = self._bk
        B, T, ni, no = self._batch_size, self.seq_len, self.input_size, self.output_size
        dmu_out, dvar_out = self._start_backward(delta_mu, delta_var)
        if self._window and self._lengths is None and not self.shares_parameters:
            # the common case, in one kernel call
            bk.lstm_backward_window_full(need_input_delta, dmu_out, dvar_out,
                                         *self._window_back_args, self._mu_h, self._var_h,
                                         self._var_c, self._var_theta, self._dmu_theta,
                                         self._dvar_theta, *self._state)
        else:
            self._final_state_posterior(dmu_out, dvar_out, self._mu_h, self._var_h,
                                        self._state[:2])
            if self._window:
                bk.lstm_backward_window(need_input_delta, dmu_out, dvar_out,
                                        *self._window_back_args)
            else:
                for buf in (self._dmu_c, self._dvar_c, self._dmu_hrec, self._dvar_hrec):
                    buf[...] = 0
                self._backward_steps(self._q[:4 * no], dmu_out, dvar_out, need_input_delta)
            self._scale_param_deltas()
        self._pending_deltas = True
        if not need_input_delta:
            return None, None
        return self._dmu_in.reshape(B, T * ni), self._dvar_in.reshape(B, T * ni)

    def _scale_param_deltas(self) -> None:
        """Parameter deltas from the sums ``_acc_*`` laid out as the parameters
        (docs/theory.rst §6). One direction of a bidirectional layer
        (``shares_parameters``) holds its weights and biases as views into the
        parent's vector: it scales them apart."""
        bk = self._bk
        if not self.shares_parameters:
            bk.weight_delta_scale(self._var_theta, self._acc_mu, self._acc_var,
                                  self._dmu_theta, self._dvar_theta)
            return
        n_w = self._var_w.size
        bk.weight_delta_scale(self._var_w, self._acc_mu, self._acc_var, self._delta_mu_w,
                              self._delta_var_w)
        bk.weight_delta_scale(self._var_b, self._acc_mu[n_w:], self._acc_var[n_w:],
                              self._delta_mu_b, self._delta_var_b)

    def _backward_steps(self, w2, dmu_out, dvar_out, need_input_delta) -> None:
        """The backward pass with BLAS: the recurrence and input deltas with batch
        rows split across the CPU workers, then the parameter sums split by gate rows."""
        bk = self._bk
        bk.split_rows(lambda b0, b1: self._backward_rows(b0, b1, w2, dmu_out, dvar_out,
                                                         need_input_delta), self._batch_size)
        bk.split_rows(self._parameter_sums, 4 * self.output_size)

    def _backward_rows(self, b0, b1, w2, dmu_out, dvar_out, need_input_delta) -> None:
        """Rows ``b0:b1`` of the backward pass through time and of the input deltas."""
        self._bk.lstm_backward_steps(need_input_delta, self._w, w2, dmu_out[b0:b1],
                                     dvar_out[b0:b1], *self._rows(b0, b1)[1], self._scalars)

    def _parameter_sums(self, r0, r1) -> None:
        """Gate rows ``r0:r1`` of the batch-and-time sums for the parameter deltas."""
        xp = self._bk.xp
        B, T, n, no = self._batch_size, self.seq_len, self.input_size + self.output_size, \
            self.output_size
        dz_mu = self._dz_mu.reshape(B * T, 4 * no)[:, r0:r1]
        dz_var = self._dz_var.reshape(B * T, 4 * no)[:, r0:r1]
        xp.matmul(dz_mu.T, self._mu_a.reshape(B * T, n), out=self._acc_w_mu[r0:r1])
        xp.matmul(dz_var.T, self._m2_a.reshape(B * T, n), out=self._acc_w_var[r0:r1])
        xp.sum(dz_mu, axis=0, out=self._acc_b_mu[r0:r1])
        xp.sum(dz_var, axis=0, out=self._acc_b_var[r0:r1])
