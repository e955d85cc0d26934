"""Fully connected Bayesian layer."""

from __future__ import annotations

from .._validation import check_positive_int
from ..config import SMALL_MAX_WORK
from .base import BaseLayer


class Linear(BaseLayer):
    r"""Fully connected layer with Gaussian weights, ``z = W a + b``.

    Weights, biases and inputs are independent Gaussians, so the output
    moments are exact (docs/theory.rst §1):

    .. math::

        m_z = m_W m_a + m_b, \qquad
        s_z = s_W (m_a^2 + s_a) + m_W^2 s_a + s_b

    (matrix products over the input index). The backward pass sends the
    deltas of ``z`` to the inputs through the weight means,
    ``delta_m_a = m_W^T delta_m_z`` and ``delta_s_a = (m_W^2)^T delta_s_z``,
    and to the parameters, ``Δm_W = s_W (delta_m_z m_a^T)``,
    ``Δs_W = s_W^2 (delta_s_z (m_a^2)^T)``, summed over the batch.

    Args:
        input_size: features per input row, ``in_features``.
        output_size: features per output row, ``out_features``.
        bias: learn an additive bias.
        gain_weight: scales the initial weight standard deviation.
        gain_bias: scales the initial bias standard deviation.
        init_method: ``"He"`` or ``"Xavier"`` (docs/theory.rst §7).

    Shape:
        - Input: means and variances of shape ``(batch, input_size)``.
        - Output: means and variances of shape ``(batch, output_size)``.

    Attributes:
        mu_w, var_w: flat, ``reshape(output_size, input_size)`` gives ``W``.
        mu_b, var_b: flat, ``(output_size,)``.
    """

    def __init__(self, input_size: int, output_size: int, bias: bool = True,
                 gain_weight: float = 1.0, gain_bias: float = 1.0, init_method: str = "He"):
        self.input_size = check_positive_int(input_size, name="input_size", where="Linear")
        self.output_size = check_positive_int(output_size, name="output_size", where="Linear")
        super().__init__(bias, gain_weight, gain_bias, init_method)
        self.init_weight_bias()

    def get_layer_info(self) -> str:
        return f"Linear({self.input_size},{self.output_size})"

    @property
    def in_width(self) -> int:
        return self.input_size

    @property
    def out_width(self) -> int:
        return self.output_size

    def _param_shapes(self):
        return self.parameter_shapes(self.input_size, self.output_size)

    @staticmethod
    def parameter_shapes(input_size: int, output_size: int):
        """``((weights, fan_in, fan_out), biases)`` of ``Linear(input_size, output_size)``,
        known before any layer is built (files are checked against it)."""
        return (output_size * input_size, input_size, output_size), output_size

    def _alloc(self, batch_size: int) -> None:
        xp, dt = self._bk.xp, self._dtype
        n_in, n_out = self.input_size, self.output_size
        e = lambda *shape: xp.empty(shape, dt)  # noqa: E731
        self._mu_z, self._var_z, self._tmp_z = (e(batch_size, n_out) for _ in range(3))
        self._ms_a, self._m2_a = e(batch_size, n_in), e(batch_size, n_in)
        self._zero_a = xp.zeros((batch_size, n_in), dt)
        self._dmu_in, self._dvar_in = e(batch_size, n_in), e(batch_size, n_in)
        self._mw2 = e(n_out, n_in)
        # batch sums for the parameter deltas, laid out as the parameter vector
        n_w = n_out * n_in
        self._acc_mu, self._acc_var = e(n_w + n_out), e(n_w + n_out)
        self._acc_w_mu = self._acc_mu[:n_w].reshape(n_out, n_in)
        self._acc_w_var = self._acc_var[:n_w].reshape(n_out, n_in)
        self._acc_b_mu, self._acc_b_var = self._acc_mu[n_w:], self._acc_var[n_w:]
        self._w = self._mu_w.reshape(n_out, n_in)
        self._s_w = self._var_w.reshape(n_out, n_in)
        zeros_b = xp.zeros(n_out, dt)
        self._mu_b_or_0 = self._mu_b if self.bias else zeros_b
        self._var_b_or_0 = self._var_b if self.bias else zeros_b
        self._small = (self._bk.FUSED_SMALL_KERNELS
                       and batch_size * n_in * n_out <= SMALL_MAX_WORK)
        self._batch_size = batch_size

    def release_buffers(self) -> None:
        super().release_buffers()
        self._mu_in = None  # the previous layer's output, kept for the backward pass

    def forward(self, mu, var):
        """Moments of ``z`` for inputs ``(mu, var)``; ``var=None`` means exact inputs."""
        if mu.shape[0] != self._batch_size:
            self._alloc(mu.shape[0])
        self._mu_in = mu
        if self._small:
            self._bk.linear_forward_small(mu, self._zero_a if var is None else var, self._w,
                                          self._s_w, self._mu_b_or_0, self._var_b_or_0,
                                          self._mu_z, self._var_z)
            return self._mu_z, self._var_z
        xp, bk, w = self._bk.xp, self._bk, self._w
        xp.square(w, out=self._mw2)
        xp.matmul(mu, w.T, out=self._mu_z)
        if var is None:
            xp.square(mu, out=self._m2_a)
            xp.matmul(self._m2_a, self._s_w.T, out=self._var_z)
        else:
            bk.square_moments(mu, var, self._ms_a, self._m2_a)
            xp.matmul(self._ms_a, self._s_w.T, out=self._var_z)
            xp.matmul(var, self._mw2.T, out=self._tmp_z)
            self._var_z += self._tmp_z
        if self.bias:
            self._mu_z += self._mu_b
            self._var_z += self._var_b
        return self._mu_z, self._var_z

    def backward(self, delta_mu, delta_var, need_input_delta: bool = True):
        """Parameter deltas from the output deltas; input deltas if asked."""
        xp, bk = self._bk.xp, self._bk
        if self._small:
            bk.linear_backward_small(self._mu_in, self._w, delta_mu, delta_var, self._acc_w_mu,
                                     self._acc_w_var, self._acc_b_mu, self._acc_b_var,
                                     need_input_delta, self._dmu_in, self._dvar_in)
        else:
            xp.matmul(delta_mu.T, self._mu_in, out=self._acc_w_mu)
            xp.matmul(delta_var.T, self._m2_a, out=self._acc_w_var)
            xp.sum(delta_mu, axis=0, out=self._acc_b_mu)
            xp.sum(delta_var, axis=0, out=self._acc_b_var)
            if need_input_delta:
                xp.matmul(delta_mu, self._w, out=self._dmu_in)
                xp.matmul(delta_var, self._mw2, out=self._dvar_in)
        bk.weight_delta_scale(self._var_theta, self._acc_mu, self._acc_var, self._dmu_theta,
                              self._dvar_theta)
        self._pending_deltas = True
        if not need_input_delta:
            return None, None
        return self._dmu_in, self._dvar_in
