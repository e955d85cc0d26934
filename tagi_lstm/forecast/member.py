"""One network of a forecaster: its layers, noise level and observation updater."""

from __future__ import annotations

import numpy as np

from ..layers import LSTM, EvenExp, Linear
from ..output_updater import OutputUpdater
from ..random import manual_seed
from ..sequential import Sequential

#: Windows per forward pass when many are predicted at once (bounds the buffers' memory).
CHUNK = 256


class Member:
    """A Bayesian LSTM that forecasts the next standardised value from a window.

    The network is ``LSTM(num_inputs, hidden, L)``, ``num_layers - 1`` further
    ``LSTM(hidden, hidden, L)`` and ``Linear(hidden * L, outputs)``, with an
    :class:`~tagi_lstm.nn.EvenExp` head for learned (heteroscedastic) noise.

    Args:
        num_inputs: values per window step (the series and its covariates).
        lookback, hidden_size, num_layers: the architecture.
        noise: ``"fixed"``, ``"scheduled"`` or ``"heteroscedastic"``.
        sigma_v: initial noise standard deviation (standardised units).
        dtype, device: of the network.
        seed: initial weights (``None``: the library's current generator).
    """

    def __init__(self, num_inputs: int, lookback: int, hidden_size: int, num_layers: int,
                 noise: str, sigma_v: float, dtype, device: str, seed: int | None):
        if seed is not None:
            manual_seed(seed)
        h, L = hidden_size, lookback
        layers = [LSTM(num_inputs, h, L)] + [LSTM(h, h, L) for _ in range(num_layers - 1)]
        if noise == "heteroscedastic":
            layers += [Linear(h * L, 2), EvenExp()]
        else:
            layers += [Linear(h * L, 1)]
        self.net = Sequential(*layers).to_dtype(dtype)
        if device != "cpu":
            self.net.to_device(device)
        self.updater = OutputUpdater(self.net.device)
        self.noise, self.dtype = noise, np.dtype(dtype)
        self.sigma_v_now = sigma_v
        self.history: list = []
        self.best_epoch: int | None = None

    def _moments(self, mu, var):
        """``(mean, model variance, noise variance)`` of the next value, float64."""
        mu, var = mu.astype(np.float64), var.astype(np.float64)
        if self.noise == "heteroscedastic":
            return mu[:, 0], var[:, 0], mu[:, 1]
        return mu[:, 0], var[:, 0], np.full(len(mu), self.sigma_v_now ** 2)

    def predict(self, x, var_x=None):
        """Moments of the next value of each window ``x`` ``(n, L, inputs)``."""
        self.net.eval()
        parts = []
        for i in range(0, len(x), CHUNK):
            var = None if var_x is None else var_x[i:i + CHUNK].astype(self.dtype)
            parts.append(self._moments(*self.net(x[i:i + CHUNK].astype(self.dtype), var)))
        return tuple(np.concatenate(p) for p in zip(*parts))

    def predict_jacobian(self, x):
        """:meth:`predict` at known inputs, plus ``(n, L)``: the derivative of each
        mean with respect to the series values of its window.

        TAGI's backward pass is the chain rule at the means, so a unit delta on
        the mean output carried back to the input is that row of the Jacobian.
        Nothing is learned: the deltas are never applied (no ``step``).
        """
        net = self.net
        net.train()
        keep, net.input_state_update = net.input_state_update, True
        parts = []
        try:
            for i in range(0, len(x), CHUNK):
                chunk = x[i:i + CHUNK].astype(self.dtype)
                mu, var = net(chunk)
                unit = np.zeros_like(mu)
                unit[:, 0] = 1
                net.set_delta_z(unit, np.zeros_like(mu))
                net.backward()
                jac = net._bk.to_numpy(net.input_delta[0]).reshape(chunk.shape)[:, :, 0]
                parts.append(self._moments(mu, var) + (jac.astype(np.float64),))
        finally:
            net.input_state_update = keep
        return tuple(np.concatenate(p) for p in zip(*parts))

    def learn(self, x, t) -> None:
        """One TAGI update on windows ``x`` with standardised targets ``t`` (NaN skipped)."""
        net = self.net
        net.train()
        net(x.astype(self.dtype))
        out, deltas = net.output_z_buffer, net.input_delta_z_buffer
        if self.noise == "heteroscedastic":
            self.updater.update_heteros(out, t.astype(self.dtype), deltas)
        else:
            self.updater.update(out, t.astype(self.dtype), self.sigma_v_now ** 2, deltas)
        net.backward()
        net.step()
