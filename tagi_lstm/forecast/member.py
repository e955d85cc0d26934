"""One network of a forecaster: its layers, noise level and observation updater."""

from __future__ import annotations

import numpy as np

from ..config import PREDICT_CHUNK
from ..layers import LSTM, EvenExp, Linear
from ..output_updater import OutputUpdater
from ..random import seeded
from ..sequential import Sequential
from ..states import HiddenStates


class Member:
    r"""A Bayesian LSTM that forecasts the next standardised value from a window.

    The network is ``LSTM(num_inputs, hidden, L)``, ``num_layers - 1`` further
    ``LSTM(hidden, hidden, L)`` and ``Linear(hidden * L, outputs)``, with an
    :class:`~tagi_lstm.nn.EvenExp` head for learned (heteroscedastic) noise.

    With ``linear`` a Bayesian linear autoregression on the whole window,
    ``Linear(L * num_inputs, 1)``, runs beside it and the two means add:
    ``z = z_lstm + z_lin`` with ``s_z = s_lstm + s_lin`` (independent
    Gaussians). An observation ``y = z + v`` gives the sum the usual deltas
    (:class:`~tagi_lstm.OutputUpdater`), and each part receives those same
    deltas, because ``cov(z_k, y) = s_k``: the update of a part is
    ``m_k + s_k \delta_m``, exactly its share of the Kalman update of the sum.
    The linear part carries what is linear in the series (trends after
    differencing, seasonal lags) from the first epoch, leaving the LSTM what
    is not.

    Args:
        num_inputs: values per window step (the series and its covariates).
        lookback, hidden_size, num_layers: the architecture.
        noise: ``"fixed"``, ``"scheduled"`` or ``"heteroscedastic"``.
        sigma_v: initial noise standard deviation (standardised units).
        dtype, device: of the networks.
        seed: initial weights, drawn from a generator of their own (``None``:
            from the library's shared generator, :func:`~tagi_lstm.manual_seed`).
        linear: add the linear autoregression.
    """

    def __init__(self, num_inputs: int, lookback: int, hidden_size: int, num_layers: int,
                 noise: str, sigma_v: float, dtype, device: str, seed: int | None,
                 linear: bool = False):
        h, L = hidden_size, lookback
        # a generator of its own: the library's shared one is left alone
        with seeded(seed):
            layers = [LSTM(num_inputs, h, L)] + [LSTM(h, h, L) for _ in range(num_layers - 1)]
            if noise == "heteroscedastic":
                layers += [Linear(h * L, 2), EvenExp()]
            else:
                layers += [Linear(h * L, 1)]
            self.net = Sequential(*layers).to_dtype(dtype)
            self.linear = Sequential(Linear(L * num_inputs, 1)).to_dtype(dtype) if linear \
                else None
        if device != "cpu":
            for net in self.networks:
                net.to_device(device)
        self.updater = OutputUpdater(self.net.device)
        self.noise, self.dtype = noise, np.dtype(dtype)
        self.sigma_v_now = sigma_v
        self.history: list = []
        self.best_epoch: int | None = None

    @property
    def networks(self) -> dict:
        """``{"lstm": net}`` plus ``"linear"`` when there is one."""
        return {"lstm": self.net, **({"linear": self.linear} if self.linear else {})}

    def release_buffers(self) -> None:
        """Free the networks' work buffers (:meth:`Sequential.release_buffers
        <tagi_lstm.Sequential.release_buffers>`) and the last batch's final LSTM
        states (every window starts afresh: none is carried)."""
        for net in self.networks.values():
            net.release_buffers()
            net.reset_lstm_states()

    def state_dict(self) -> dict:
        return {name: net.state_dict() for name, net in self.networks.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.networks.items():
            net.load_state_dict(state[name])

    def _moments(self, mu, var):
        """``(mean, model variance, noise variance)`` of the next value, float64."""
        mu, var = mu.astype(np.float64), var.astype(np.float64)
        if self.noise == "heteroscedastic":
            return mu[:, 0], var[:, 0], mu[:, 1]
        return mu[:, 0], var[:, 0], np.full(len(mu), self.sigma_v_now ** 2)

    def _linear_part(self, x, var_x=None):
        """Mean and variance of the linear autoregression on windows ``x`` (float64)."""
        flat = x.reshape(len(x), -1).astype(self.dtype)
        var = None if var_x is None else var_x.reshape(len(x), -1).astype(self.dtype)
        mu, var = self.linear(flat, var)
        return mu[:, 0].astype(np.float64), var[:, 0].astype(np.float64)

    def predict(self, x, var_x=None):
        """Moments of the next value of each window ``x`` ``(n, L, inputs)``."""
        for net in self.networks.values():
            net.eval()
        parts = []
        for i in range(0, len(x), PREDICT_CHUNK):
            chunk = x[i:i + PREDICT_CHUNK]
            var = None if var_x is None else var_x[i:i + PREDICT_CHUNK]
            mean, model_var, noise = self._moments(*self.net(
                chunk.astype(self.dtype), None if var is None else var.astype(self.dtype)))
            if self.linear is not None:
                lin_mean, lin_var = self._linear_part(chunk, var)
                mean, model_var = mean + lin_mean, model_var + lin_var
            parts.append((mean, model_var, noise))
        return tuple(np.concatenate(p) for p in zip(*parts))

    def predict_jacobian(self, x):
        """:meth:`predict` at known inputs, plus ``(n, L)``: the derivative of each
        mean with respect to the series values of its window.

        TAGI's backward pass is the chain rule at the means, so a unit delta on
        the mean output carried back to the input is that row of the Jacobian
        (the linear part adds its mean weights). Nothing is learned: the
        deltas are never applied (no ``step``).
        """
        net = self.net
        net.train()
        keep, net.input_state_update = net.input_state_update, True
        parts = []
        try:
            for i in range(0, len(x), PREDICT_CHUNK):
                chunk = x[i:i + PREDICT_CHUNK].astype(self.dtype)
                mu, var = net(chunk)
                unit = np.zeros_like(mu)
                unit[:, 0] = 1
                net.set_delta_z(unit, np.zeros_like(mu))
                net.backward()
                jac = net._bk.to_numpy(net.input_delta[0]).reshape(chunk.shape)[:, :, 0]
                mean, model_var, noise = self._moments(mu, var)
                jac = jac.astype(np.float64)
                if self.linear is not None:
                    self.linear.eval()
                    lin_mean, lin_var = self._linear_part(chunk)
                    mean, model_var = mean + lin_mean, model_var + lin_var
                    weights = np.asarray(self.linear.layers[0].mu_w, dtype=np.float64)
                    jac = jac + weights.reshape(chunk.shape[1:])[:, 0]
                parts.append((mean, model_var, noise, jac))
        finally:
            net.input_state_update = keep
            net._discard_deltas()
        return tuple(np.concatenate(p) for p in zip(*parts))

    def learn(self, x, t) -> None:
        """One TAGI update on windows ``x`` with standardised targets ``t`` (NaN skipped)."""
        net = self.net
        net.train()
        net(x.astype(self.dtype))
        out, deltas = net.output_z_buffer, net.input_delta_z_buffer
        if self.linear is not None:
            # the observation sees the sum; its deltas go to both parts unchanged
            self.linear.train()
            self.linear(x.reshape(len(x), -1).astype(self.dtype))
            lin = self.linear.output_z_buffer
            total = HiddenStates()
            total._set(out.mu_a.copy(), out.var_a.copy())
            total.mu_a[:, 0] += lin.mu_a[:, 0]
            total.var_a[:, 0] += lin.var_a[:, 0]
            out = total
        target = t.astype(self.dtype)
        if self.noise == "heteroscedastic":
            self.updater.update_heteros(out, target, deltas)
        else:
            self.updater.update(out, target, self.sigma_v_now ** 2, deltas)
        if self.linear is not None:
            self.linear.set_delta_z(deltas.delta_mu[:, :1].copy(),
                                    deltas.delta_var[:, :1].copy())
            self.linear.backward()
            self.linear.step()
        net.backward()
        net.step()
