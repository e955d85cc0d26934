"""Activation layers (local linearisation, docs/theory.rst §2)."""

from __future__ import annotations

from .. import backend
from .base import BaseLayer


class _Activation(BaseLayer):
    """Elementwise ``a = phi(z)`` linearised at the mean.

    ``m_a = phi(m_z)``, ``J = phi'(m_z)``, ``s_a = J**2 s_z``; the backward pass
    scales the deltas by ``J`` (means) and ``J**2`` (variances). Any input
    shape is kept; the layer has no parameters.
    """

    _kind = backend.IDENTITY

    def __init__(self):
        super().__init__(bias=False)
        self._shape = None

    in_width = None
    out_width = None

    def _alloc(self, shape) -> None:
        xp, dt = self._bk.xp, self._dtype
        self._mu_a = xp.empty(shape, dt)
        self._var_a = xp.empty(shape, dt)
        self._jcb = xp.empty(shape, dt)
        self._zeros = xp.zeros(shape, dt)
        self._dmu_in = xp.empty(shape, dt)
        self._dvar_in = xp.empty(shape, dt)
        self._shape = shape
        self._batch_size = shape[0]

    def _set_backend(self, backend, dtype) -> None:
        super()._set_backend(backend, dtype)
        self._shape = None

    def release_buffers(self) -> None:
        if self._shape is not None:
            self._alloc((0,) + tuple(self._shape[1:]))

    def forward(self, mu, var):
        if mu.shape != self._shape:
            self._alloc(mu.shape)
        self._bk.activation_forward(self._kind, mu, self._zeros if var is None else var,
                                    self._mu_a, self._var_a, self._jcb)
        return self._mu_a, self._var_a

    def backward(self, delta_mu, delta_var, need_input_delta: bool = True):
        if not need_input_delta:
            return None, None
        self._bk.scale_deltas(self._jcb, delta_mu, delta_var, self._dmu_in, self._dvar_in)
        return self._dmu_in, self._dvar_in


class ReLU(_Activation):
    """Rectified linear unit, ``a = max(z, 0)``, linearised at the mean:
    ``J = 1`` where ``m_z > 0``, else 0. Input and output: any shape, same shape."""

    _kind = backend.RELU


class Sigmoid(_Activation):
    """Logistic sigmoid, ``a = 1 / (1 + exp(-z))``, ``J = a (1 - a)`` at the mean.
    Input and output: any shape, same shape."""

    _kind = backend.SIGMOID


class Tanh(_Activation):
    """Hyperbolic tangent, ``a = tanh(z)``, ``J = 1 - a**2`` at the mean.
    Input and output: any shape, same shape."""

    _kind = backend.TANH


class EvenExp(_Activation):
    r"""Pairs ``(mean, noise latent)``: the first of each pair unchanged, the
    second through ``exp`` with exact log-normal moments.

    Used as the last layer of a heteroscedastic network (AGVI, Deka, Nguyen &
    Goulet 2024): each target has two outputs, ``z_0`` its mean and ``z_1`` a
    latent whose exponential is the observation-noise variance
    ``sigma_v^2 = exp(z_1)``, positive by construction. For
    ``z_1 ~ N(m, s)`` the exponential is log-normal, so its moments are exact:

    .. math::

        m_a = e^{m + s/2}, \qquad s_a = e^{2m + s}\,(e^{s} - 1), \qquad
        \operatorname{cov}(z_1, a) = s\, m_a .

    The backward pass uses the Jacobian ``J = cov(z_1, a) / s = m_a`` (and
    ``J = 1`` for the mean outputs), so deltas on ``a`` reach ``z_1`` as
    ``J delta_m`` and ``J**2 delta_s``.

    Shape:
        - Input: ``(batch, 2 * targets)``, pairs side by side
          ``[z_0, z_1, z_0', z_1', ...]``.
        - Output: same shape; odd columns hold the noise variance.
    """

    _kind = backend.EVEN_EXP

    def forward(self, mu, var):
        if mu.ndim != 2 or mu.shape[1] % 2:
            raise ValueError(f"{self.where}: expects an even number of outputs per row "
                             f"(mean, noise latent) pairs; got shape {tuple(mu.shape)}")
        return super().forward(mu, var)
