"""Observation update of the network output (docs/theory.rst §5)."""

from __future__ import annotations

from numbers import Real

from ._validation import check_array, is_device_array
from .backend import OnBackend, get_backend
from .config import MAX_INNOVATION
from .states import DeltaStates, HiddenStates


class OutputUpdater(OnBackend):
    r"""Turns observations of the output into deltas for the backward pass.

    For an output unit with prior ``(m_z, s_z)`` observed as ``y = z + v``,
    ``v ~ N(0, s_v)`` (homoscedastic noise of known variance):

    .. math::

        \delta_m = \frac{y - m_z}{s_z + s_v}, \qquad
        \delta_s = -\frac{1}{s_z + s_v},

    so the posterior is ``m_z + s_z delta_m`` and ``s_z + s_z**2 delta_s``.
    A missing observation (NaN in ``mu_obs``) gives zero deltas: nothing is
    learned from it. ``num_missing`` counts the NaNs of the last update.

    Outliers. With ``max_innovation = k``, an observation further than ``k``
    predictive standard deviations from the prediction,
    ``|y - m_z| > k sqrt(s_z + s_v)``, is moved to that bound before the update
    (a Huber-type robust filter): its mean delta is at most
    ``k / sqrt(s_z + s_v)``, so one spike cannot throw the parameters (or, with
    learned noise, the noise level) arbitrarily far, while a lasting shift is
    still followed, ``k`` standard deviations per update. A Gaussian
    observation lies beyond 5 standard deviations with probability 6e-7, so
    the default changes nothing for data the model describes.
    ``num_bounded`` counts the observations bounded in the last update,
    ``total_bounded`` since construction.

    Args:
        model_device: the network's device (``net.device``), as in pytagi.
        max_innovation: the bound ``k`` (``None``: no bound, pytagi's update
            exactly).
    """

    def __init__(self, model_device: str = "cpu",
                 max_innovation: float | None = MAX_INNOVATION):
        self._bk = get_backend(model_device)
        self.device = self._bk.name
        if max_innovation is not None:
            max_innovation = self._positive_scalar(max_innovation, "OutputUpdater",
                                                   "max_innovation")
        self.max_innovation = max_innovation
        self.num_missing = 0
        self.num_bounded = 0
        self.total_bounded = 0
        self._y = None
        self._v = None

    def _output(self, output_states: HiddenStates, where: str):
        """``(mu, var)`` of the network output, checked to exist on this updater's device."""
        mu, var = output_states.mu_a, output_states.var_a
        if mu is None:
            raise RuntimeError(f"{where}: the network has no output yet; call net(x) first")
        if mu.__class__ is not self._bk.xp.ndarray:
            raise ValueError(f"{where}: the updater is on {self.device!r} but the network "
                             f"output is not; build OutputUpdater(net.device)")
        return mu, var

    def update(self, output_states: HiddenStates, mu_obs, var_obs,
               delta_states: DeltaStates) -> None:
        """Write the deltas of ``output_states`` given the observations.

        Args:
            output_states: ``net.output_z_buffer``.
            mu_obs: observations, ``batch * outputs`` values (flat or
                ``(batch, outputs)``); NaN marks a missing one.
            var_obs: observation-noise variances, positive, same size as
                ``mu_obs`` (or one number for all; as in pytagi, an array built
                for a larger batch is accepted when its values are all equal).
            delta_states: ``net.input_delta_z_buffer``; receives the deltas.
        """
        where = "OutputUpdater.update"
        mu, var = self._output(output_states, where)
        bk = self._bk
        y = check_array(mu_obs, name="mu_obs", where=where, size=mu.size, allow_nan=True,
                        backend=bk)
        if self._y is None or self._y.shape != mu.shape or self._y.dtype != mu.dtype:
            self._y = bk.xp.empty(mu.shape, mu.dtype)
            self._v = bk.xp.empty(mu.shape, mu.dtype)
        self._y[...] = self._as_device(y).reshape(mu.shape)
        if isinstance(var_obs, Real) and not isinstance(var_obs, bool):
            self._v.fill(self._positive_scalar(var_obs, where))
        else:
            v = check_array(var_obs, name="var_obs", where=where, positive=True, backend=bk)
            if v.size > mu.size and v.size and bool((v == v.reshape(-1)[0]).all()):
                # pytagi's scripts build var_obs once for the full batch and pass it with
                # the last, shorter batch too: one value throughout is unambiguous
                v = v.reshape(-1)[:mu.size]
            if v.size != mu.size:
                raise ValueError(f"{where}: var_obs must have {mu.size} values, one per "
                                 f"observation (or one number; a longer array only when all "
                                 f"its values are equal); got {v.size}")
            self._v[...] = self._as_device(v).reshape(mu.shape)
        self._bound(mu, var + self._v, self._y)
        delta_states._ensure(mu, bk.xp)
        self.num_missing = bk.observation_deltas(mu, var, self._y, self._v,
                                                 delta_states.delta_mu, delta_states.delta_var)
        delta_states.fresh = True

    def _bound(self, mu, s, y) -> None:
        """Move observations beyond ``max_innovation`` predictive standard deviations
        of ``mu`` (variance ``s``) to that bound, in place; NaNs stay NaN."""
        self.num_bounded = 0
        if self.max_innovation is None:
            return
        xp = self._bk.xp
        half = self.max_innovation * xp.sqrt(s)
        lower, upper = mu - half, mu + half
        outside = int(((y < lower) | (y > upper)).sum())
        if outside:
            xp.clip(y, lower, upper, out=y)
        self.num_bounded = outside
        self.total_bounded += outside

    def update_heteros(self, output_states: HiddenStates, mu_obs,
                       delta_states: DeltaStates) -> None:
        r"""Deltas for a network that also predicts its observation noise (AGVI).

        The output holds pairs ``(z, w)`` per target (an
        :class:`~tagi_lstm.nn.EvenExp` layer last): ``z ~ N(m_z, s_z)`` the
        target's mean and ``w ~ N(m_w, s_w)`` its noise variance, so
        ``y = z + v`` with ``v ~ N(0, w)``. Writing ``W = v**2`` (whose mean is
        ``m_w``), the update runs in three closed-form steps:

        1. ``z`` and ``v`` given ``y`` (Gaussian conditioning, prior predictive
           variance ``s_y = s_z + m_w``)::

               delta_m_z = (y - m_z) / s_y,          delta_s_z = -1 / s_y
               m_v|y = m_w (y - m_z) / s_y,          s_v|y = m_w - m_w**2 / s_y

        2. Moments of ``W = v**2``: prior ``E[W] = m_w`` and, as ``E[v**4] =
           3 E[w**2]``, ``Var[W] = 3 s_w + 2 m_w**2``; posterior from the
           Gaussian ``v | y``: ``E[W|y] = m_v|y**2 + s_v|y`` and
           ``Var[W|y] = 2 s_v|y**2 + 4 m_v|y**2 s_v|y``.
        3. ``w`` follows ``W`` linearly (gain ``s_w / Var[W]``), which in
           delta form is::

               delta_m_w = (E[W|y] - m_w) / Var[W]
               delta_s_w = (Var[W|y] - Var[W]) / Var[W]**2

        A NaN observation gives zero deltas for both outputs of its pair; an
        outlier is bounded first, as in :meth:`update` (with ``s_y``).

        Args:
            output_states: ``net.output_z_buffer``, ``(batch, 2 * targets)``.
            mu_obs: observations, ``batch * targets`` values; NaN marks a
                missing one.
            delta_states: ``net.input_delta_z_buffer``; receives the deltas.
        """
        where = "OutputUpdater.update_heteros"
        mu, var = self._output(output_states, where)
        bk = self._bk
        if mu.ndim != 2 or mu.shape[1] % 2:
            raise ValueError(f"{where}: the output must hold (mean, noise variance) pairs, an "
                             f"even number per row; got shape {tuple(mu.shape)}")
        y = check_array(mu_obs, name="mu_obs", where=where, size=mu.size // 2, allow_nan=True,
                        backend=bk)
        xp = bk.xp
        y = xp.array(self._as_device(y), dtype=mu.dtype).reshape(mu.shape[0], -1)
        self._bound(mu[:, 0::2], var[:, 0::2] + mu[:, 1::2], y)
        delta_states._ensure(mu, xp)
        self.num_missing = bk.heteros_deltas(mu, var, y, delta_states.delta_mu,
                                             delta_states.delta_var)
        delta_states.fresh = True

    def _as_device(self, arr):
        if is_device_array(arr) or self._bk.HOST_MEMORY:
            return arr
        return self._bk.asarray(arr)

    @staticmethod
    def _positive_scalar(value, where: str, name: str = "var_obs") -> float:
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{where}: {name} must be a positive finite number; got "
                            f"{value!r}")
        value = float(value)
        if not value > 0 or value == float("inf"):
            raise ValueError(f"{where}: {name} must be a positive finite number; got {value}")
        return value
