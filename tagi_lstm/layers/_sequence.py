"""What every LSTM layer does around its recurrence: variable lengths, last-step output.

Windows of different lengths are right-padded to ``seq_len`` steps. A padded
step comes after every valid step of its row, so the valid steps never read
it; it is computed and then hidden: its outputs are reported as mean 0 and
variance 0 (as ``torch.nn.utils.rnn.pad_packed_sequence`` pads with zeros),
the deltas that reach it are set to zero, so it sends nothing back through
time and adds nothing to any parameter, and the final states are those of
each row's last valid step. The results are those of running each row alone.
"""

from __future__ import annotations

import numpy as np


class SequenceSteps:
    """Mixin of the LSTM layers: lengths, padded steps, all steps or the last.

    The layer provides ``seq_len``, ``return_sequences``, ``step_width``
    (output features per step), ``_bk``, ``_dtype`` and ``_batch_size``.
    """

    _lengths = None

    def set_lengths(self, lengths) -> None:
        """Valid steps of each row for the next calls, or ``None`` for full windows.

        ``lengths`` is a NumPy integer array ``(batch,)`` with values in
        ``1..seq_len``, checked by the caller (:class:`~tagi_lstm.Sequential`).
        """
        if lengths is None:
            self._lengths = None
            return
        xp = self._bk.xp
        lengths = np.asarray(lengths, dtype=np.int64)
        steps = np.arange(self.seq_len)
        self._lengths = lengths
        self._step_mask = xp.asarray((steps < lengths[:, None])[:, :, None], dtype=self._dtype)
        self._last_index = (xp.arange(lengths.size), xp.asarray(lengths - 1))

    def _check_lengths(self, batch_size: int) -> None:
        if self._lengths is not None and self._lengths.size != batch_size:
            raise ValueError(f"{self.where}: lengths hold {self._lengths.size} rows but the "
                             f"batch has {batch_size}")

    def _last_steps(self):
        """``(rows, steps)`` index arrays of each row's last valid step."""
        if self._lengths is not None:
            return self._last_index
        xp, B = self._bk.xp, self._batch_size
        return xp.arange(B), xp.full(B, self.seq_len - 1)

    def _finish_forward(self, mu, var):
        """Outputs of the layer from the moments of every step ``(batch, seq_len, F)``:
        padded steps zeroed (in place); all steps, or each row's last valid step."""
        B = mu.shape[0]
        if self._lengths is not None:
            mu *= self._step_mask
            var *= self._step_mask
        if self.return_sequences:
            return mu.reshape(B, -1), var.reshape(B, -1)
        rows, steps = self._last_steps()
        return mu[rows, steps], var[rows, steps]

    def _start_backward(self, delta_mu, delta_var):
        """Deltas on every step ``(batch, seq_len, F)`` from the deltas on the
        outputs: zero on padded steps, and on all but the last when only the
        last step is output."""
        B, T, F = self._batch_size, self.seq_len, self.step_width
        if self.return_sequences and self._lengths is None:
            return delta_mu.reshape(B, T, F), delta_var.reshape(B, T, F)
        xp = self._bk.xp
        dmu, dvar = xp.zeros((B, T, F), self._dtype), xp.zeros((B, T, F), self._dtype)
        if self.return_sequences:
            xp.multiply(delta_mu.reshape(B, T, F), self._step_mask, out=dmu)
            xp.multiply(delta_var.reshape(B, T, F), self._step_mask, out=dvar)
        else:
            rows, steps = self._last_steps()
            dmu[rows, steps] = delta_mu
            dvar[rows, steps] = delta_var
        return dmu, dvar

    def _gather_final_state(self, mu_h, var_h, mu_c, var_c, state) -> None:
        """Copy each row's last valid ``(h, c)`` into ``state``; ``mu_c`` holds
        ``c_{t-1}`` at index ``t`` (so ``c_t`` at ``t + 1``)."""
        rows, steps = self._last_steps()
        state[0][...] = mu_h[rows, steps]
        state[1][...] = var_h[rows, steps]
        state[2][...] = mu_c[rows, steps + 1]
        state[3][...] = var_c[rows, steps + 1]

    def _final_state_posterior(self, dmu_h, dvar_h, mu_h, var_h, post_h) -> None:
        """Posterior of the last valid ``(h, c)`` from the deltas on every step's
        ``h`` (``lstm_final_states`` applied to each row's last valid step);
        the ``h`` posterior goes to ``post_h``, the ``c`` posterior to the state."""
        mu_c, var_c = self._state[2], self._state[3]
        if self._lengths is None:
            self._bk.lstm_final_states(dmu_h, dvar_h, self._mu_ga, self._jcb_ca, mu_h, var_h,
                                       self._mu_c, self._var_c, *post_h, mu_c, var_c)
            return
        rows, steps = self._last_steps()
        one = (lambda a: a[rows, steps][:, None])  # noqa: E731 - (batch, 1, width) gathers
        # c_{t-1} and c_t of each row's last valid step t, as a window of one step
        cells = (rows[:, None], self._bk.xp.stack([steps, steps + 1], axis=1))
        self._bk.lstm_final_states(one(dmu_h), one(dvar_h), one(self._mu_ga),
                                   one(self._jcb_ca), one(mu_h), one(var_h), self._mu_c[cells],
                                   self._var_c[cells], *post_h, mu_c, var_c)
