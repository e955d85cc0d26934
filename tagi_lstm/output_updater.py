"""Observation update of the network output (DESIGN §2.5)."""

from __future__ import annotations

from numbers import Real

from ._validation import check_array, is_device_array
from .backend import get_backend
from .states import DeltaStates, HiddenStates


class OutputUpdater:
    r"""Turns observations of the output into deltas for the backward pass.

    For an output unit with prior ``(m_z, s_z)`` observed as ``y = z + v``,
    ``v ~ N(0, s_v)`` (homoscedastic noise of known variance):

    .. math::

        \delta_m = \frac{y - m_z}{s_z + s_v}, \qquad
        \delta_s = -\frac{1}{s_z + s_v},

    so the posterior is ``m_z + s_z delta_m`` and ``s_z + s_z**2 delta_s``.
    A missing observation (NaN in ``mu_obs``) gives zero deltas: nothing is
    learned from it. ``num_missing`` counts the NaNs of the last update.

    Args:
        model_device: the network's device (``net.device``), as in pytagi.
    """

    def __init__(self, model_device: str = "cpu"):
        self._bk = get_backend(model_device)
        self.device = self._bk.name
        self.num_missing = 0
        self._y = None
        self._v = None

    def update(self, output_states: HiddenStates, mu_obs, var_obs,
               delta_states: DeltaStates) -> None:
        """Write the deltas of ``output_states`` given the observations.

        Args:
            output_states: ``net.output_z_buffer``.
            mu_obs: observations, ``batch * outputs`` values (flat or
                ``(batch, outputs)``); NaN marks a missing one.
            var_obs: observation-noise variances, positive, same size as
                ``mu_obs`` (or one number for all).
            delta_states: ``net.input_delta_z_buffer``; receives the deltas.
        """
        where = "OutputUpdater.update"
        mu, var = output_states.mu_a, output_states.var_a
        if mu is None:
            raise RuntimeError(f"{where}: the network has no output yet; call net(x) first")
        bk = self._bk
        if mu.__class__ is not bk.xp.ndarray:
            raise ValueError(f"{where}: the updater is on {self.device!r} but the network "
                             f"output is not; build OutputUpdater(net.device)")
        y = check_array(mu_obs, name="mu_obs", where=where, size=mu.size, allow_nan=True,
                        backend=bk)
        if self._y is None or self._y.shape != mu.shape or self._y.dtype != mu.dtype:
            self._y = bk.xp.empty(mu.shape, mu.dtype)
            self._v = bk.xp.empty(mu.shape, mu.dtype)
        self._y[...] = self._as_device(y).reshape(mu.shape)
        if isinstance(var_obs, Real) and not isinstance(var_obs, bool):
            self._v.fill(self._positive_scalar(var_obs, where))
        else:
            v = check_array(var_obs, name="var_obs", where=where, size=mu.size, positive=True,
                            backend=bk)
            self._v[...] = self._as_device(v).reshape(mu.shape)
        delta_states._ensure(mu, bk.xp)
        self.num_missing = bk.observation_deltas(mu, var, self._y, self._v,
                                                 delta_states.delta_mu, delta_states.delta_var)
        delta_states.fresh = True

    def _as_device(self, arr):
        if is_device_array(arr) or self._bk.name == "cpu":
            return arr
        return self._bk.asarray(arr)

    @staticmethod
    def _positive_scalar(value, where: str) -> float:
        value = float(value)
        if not value > 0 or value == float("inf"):
            raise ValueError(f"{where}: var_obs must be a positive finite number; got {value}")
        return value
