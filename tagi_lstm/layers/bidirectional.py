"""Bidirectional Bayesian LSTM: a forward core and a reverse core over the same window."""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from .lstm import LSTM


class BidirectionalLSTM(LSTM):
    r"""Two LSTM directions over each window, their states side by side.

    The forward direction reads ``x_0, x_1, ..., x_{L-1}``; the reverse
    direction, a twin with its own Gaussian parameters, reads the window from
    its end, ``x_{L-1}, ..., x_0`` (for a row of ``L < seq_len`` valid steps,
    its valid part only; padded steps stay last). At step ``t`` the output is

    .. math::

        y_t = [\overrightarrow{h}_t ; \overleftarrow{h}_t]

    (means and variances), ``2 * F`` values with ``F = output_size``, or
    ``proj_size`` with projections. The two directions share no parameter
    and no state, so each is an independent :class:`~tagi_lstm.nn.LSTM`
    (docs/theory.rst §4; :class:`~tagi_lstm.layers.projection.ProjectedLSTM` with
    ``proj_size``); the backward pass runs through time in both directions
    and the deltas they send to ``x_t`` add.

    Build it as ``LSTM(..., bidirectional=True)``; the arguments are those of
    :class:`~tagi_lstm.nn.LSTM`, applied to each direction.

    Shape:
        - Input: ``(batch, seq_len * input_size)``.
        - Output: ``(batch, seq_len * 2F)``, time-major, each step the forward
          then the reverse state; ``(batch, 2F)`` with
          ``return_sequences=False`` (the last valid step: the forward
          direction's final state and the reverse direction's state there,
          as ``output[:, -1]`` of ``torch.nn.LSTM``).
        - States: ``(2, batch, width)`` each, direction 0 forward, 1 reverse
          (``torch.nn.LSTM``'s order); the reverse direction's final state is
          the one after reading ``x_0``.

    Attributes:
        directions: the forward and the reverse core.
        mu_w, var_w: flat, the forward then the reverse weights (each laid
            out as in its core); mu_b, var_b: flat, forward then reverse biases.
    """

    def __init__(self, input_size: int, output_size: int, seq_len: int, bias: bool = True,
                 gain_weight: float = 1.0, gain_bias: float = 1.0, init_method: str = "He",
                 *, stateful: bool = False, init_state: str = "zeros", proj_size: int = 0,
                 bidirectional: bool = True, return_sequences: bool = True):
        if not bidirectional:
            raise ValueError("BidirectionalLSTM: bidirectional must be True; use LSTM for one "
                             "direction")
        args = (input_size, output_size, seq_len, bias, gain_weight, gain_bias, init_method)
        options = dict(stateful=stateful, init_state=init_state, proj_size=proj_size)
        self.directions = (LSTM(*args, **options), LSTM(*args, **options))
        super().__init__(*args, bidirectional=True, return_sequences=return_sequences, **options)

    def get_layer_info(self) -> str:
        proj = f",proj_size={self.proj_size}" if self.proj_size else ""
        return f"LSTM({self.input_size},{self.output_size}{proj},bidirectional)"

    @property
    def step_width(self) -> int:
        return 2 * self.directions[0].step_width

    # ------------------------------------------------------------- parameters
    def init_weight_bias(self) -> None:
        """Draw each direction's parameters afresh (docs/theory.rst §7)."""
        for core in self.directions:
            core._bk, core._dtype = self._bk, self._dtype
            core.init_weight_bias()
        xp = self._bk.xp
        mu = xp.concatenate([c._mu_w for c in self.directions] +
                            [c._mu_b for c in self.directions])
        var = xp.concatenate([c._var_w for c in self.directions] +
                             [c._var_b for c in self.directions])
        self._set_params(mu, var, sum(c.num_weights for c in self.directions))

    def _set_params(self, mu_theta, var_theta, n_w: int) -> None:
        super()._set_params(mu_theta, var_theta, n_w)
        if mu_theta.size:
            self._share_parameters()

    def _share_parameters(self) -> None:
        """Make each direction's parameters and deltas views into this layer's
        vectors, so one capped update (``step``) covers both directions."""
        w0 = b0 = 0
        for core in self.directions:
            n_w, n_b = core.num_weights, core.num_biases
            core._bk, core._dtype, core._batch_size = self._bk, self._dtype, 0
            for name in ("mu_w", "var_w", "delta_mu_w", "delta_var_w"):
                setattr(core, "_" + name, getattr(self, "_" + name)[w0:w0 + n_w])
            for name in ("mu_b", "var_b", "delta_mu_b", "delta_var_b"):
                setattr(core, "_" + name, getattr(self, "_" + name)[b0:b0 + n_b])
            # no vector of its own: its deltas are scaled as weights and biases apart
            core.shares_parameters = True
            core._mu_theta = core._var_theta = core._dmu_theta = core._dvar_theta = None
            w0, b0 = w0 + n_w, b0 + n_b

    # ----------------------------------------------------------------- states
    def set_lengths(self, lengths) -> None:
        super().set_lengths(lengths)
        for core in self.directions:
            core.set_lengths(lengths)

    def reset_states(self) -> None:
        for core in self.directions:
            core.reset_states()

    def get_states(self):
        """``(mu_h, var_h, mu_c, var_c)``, each NumPy ``(2, batch, width)``."""
        per_core = [core.get_states() for core in self.directions]
        return tuple(np.stack([states[k] for states in per_core]) for k in range(4))

    def set_states(self, mu_h, var_h, mu_c, var_c) -> None:
        """Initial states for the next call, each ``(2, batch, width)`` (direction first)."""
        arrays = []
        for name, value in (("mu_h", mu_h), ("var_h", var_h), ("mu_c", mu_c),
                            ("var_c", var_c)):
            arr = check_array(value, name=name, where=self.where, backend=self._bk)
            if arr.ndim != 3 or arr.shape[0] != 2:
                raise ValueError(f"{self.where}: {name} must have shape (2, batch, width), "
                                 f"one state per direction; got shape {tuple(arr.shape)}")
            arrays.append(arr)
        for d, core in enumerate(self.directions):
            core.set_states(*(arr[d] for arr in arrays))

    def _move_states(self, backend, dtype, to_np) -> None:
        for core in self.directions:
            core._move_states(backend, dtype, to_np)

    def release_buffers(self) -> None:
        super().release_buffers()
        for core in self.directions:
            core.release_buffers()

    # ------------------------------------------------------- forward, backward
    def _alloc(self, batch_size: int) -> None:
        xp, dt = self._bk.xp, self._dtype
        B, T, ni, F2 = batch_size, self.seq_len, self.input_size, self.step_width
        self._mu_y, self._var_y = xp.empty((B, T, F2), dt), xp.empty((B, T, F2), dt)
        self._dmu_in, self._dvar_in = xp.empty((B, T, ni), dt), xp.empty((B, T, ni), dt)
        self._batch_size = B

    def _reversal(self):
        """``(rows, steps)`` indices that reverse each row's valid steps in time
        (padded steps stay in place); applying them twice is the identity."""
        xp, B, T = self._bk.xp, self._batch_size, self.seq_len
        t = xp.arange(T)[None, :]
        last = T - 1 if self._lengths is None else xp.asarray(self._lengths)[:, None] - 1
        return xp.arange(B)[:, None], xp.where(t <= last, last - t, t)

    def forward(self, mu, var):
        """Moments of ``[forward h_t ; reverse h_t]`` for every step,
        ``(batch, seq_len * 2F)`` (or of the last valid step, ``(batch, 2F)``)."""
        B = mu.shape[0]
        if B != self._batch_size:
            self._alloc(B)
        self._check_lengths(B)
        T, ni, F = self.seq_len, self.input_size, self.directions[0].step_width
        rows, steps = self._reversal()
        fwd, rev = self.directions
        mu_f, var_f = fwd.forward(mu, var)
        reverse_in = (lambda x: x.reshape(B, T, ni)[rows, steps].reshape(B, T * ni))  # noqa: E731
        mu_r, var_r = rev.forward(reverse_in(mu), None if var is None else reverse_in(var))
        self._mu_y[:, :, :F] = mu_f.reshape(B, T, F)
        self._var_y[:, :, :F] = var_f.reshape(B, T, F)
        self._mu_y[:, :, F:] = mu_r.reshape(B, T, F)[rows, steps]
        self._var_y[:, :, F:] = var_r.reshape(B, T, F)[rows, steps]
        return self._finish_forward(self._mu_y, self._var_y)

    def backward(self, delta_mu, delta_var, need_input_delta: bool = True):
        """Backward through time in both directions; parameter deltas, input deltas if asked."""
        xp = self._bk.xp
        B, T, ni, F = self._batch_size, self.seq_len, self.input_size, \
            self.directions[0].step_width
        dmu, dvar = self._start_backward(delta_mu, delta_var)
        rows, steps = self._reversal()
        fwd, rev = self.directions
        d_f = fwd.backward(xp.ascontiguousarray(dmu[:, :, :F]).reshape(B, T * F),
                           xp.ascontiguousarray(dvar[:, :, :F]).reshape(B, T * F),
                           need_input_delta)
        d_r = rev.backward(dmu[:, :, F:][rows, steps].reshape(B, T * F),
                           dvar[:, :, F:][rows, steps].reshape(B, T * F), need_input_delta)
        self._pending_deltas = True
        if not need_input_delta:
            return None, None
        for out, forward_part, reverse_part in ((self._dmu_in, d_f[0], d_r[0]),
                                                (self._dvar_in, d_f[1], d_r[1])):
            xp.add(forward_part.reshape(B, T, ni), reverse_part.reshape(B, T, ni)[rows, steps],
                   out=out)
        return self._dmu_in.reshape(B, T * ni), self._dvar_in.reshape(B, T * ni)
