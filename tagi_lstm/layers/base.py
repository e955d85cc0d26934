"""The base of every TAGI layer: Gaussian parameters, their deltas, the update."""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_real
from ..backend import OnBackend, get_backend
from ..config import (
    CAP_FACTOR_LARGE,
    CAP_FACTOR_SINGLE,
    CAP_FACTOR_SMALL,
    CAP_LARGE_BATCH,
    VAR_FLOOR,
)
from ..random import get_rng

_INIT_METHODS = {"he": "He", "xavier": "Xavier"}


#: The four parameter arrays of a layer, in the order every API gives them.
PARAM_NAMES = ("mu_w", "var_w", "mu_b", "var_b")


def cap_factor(batch_size: int) -> float:
    """Divisor k of the update cap ``sqrt(var) / k`` for a batch of this size.

    Larger batches sum more deltas into one update, so they get a tighter cap
    (pytagi's rule: 0.1 for one sample, 2 up to 255, 3 from 256).
    """
    if batch_size <= 1:
        return CAP_FACTOR_SINGLE
    return CAP_FACTOR_SMALL if batch_size < CAP_LARGE_BATCH else CAP_FACTOR_LARGE


def init_scale(init_method: str, fan_in: int, fan_out: int, where: str) -> float:
    """Standard deviation of the initial weight means (docs/theory.rst §7)."""
    method = _INIT_METHODS.get(str(init_method).lower()) if isinstance(init_method, str) else None
    if method is None:
        raise ValueError(f"{where}: init_method must be 'He' or 'Xavier'; got {init_method!r}")
    if method == "He":
        return float(np.sqrt(1.0 / fan_in))
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


#: Views into a layer's parameter and delta vectors (rebuilt by ``_set_params``).
_VIEWS = ("_mu_w", "_mu_b", "_var_w", "_var_b", "_delta_mu_w", "_delta_mu_b", "_delta_var_w",
          "_delta_var_b", "_dmu_theta", "_dvar_theta")


class _Param:
    """A flat parameter array, readable and assignable (values are copied in)."""

    def __set_name__(self, owner, name):
        self.name = name
        self.attr = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return getattr(obj, self.attr)

    def __set__(self, obj, value):
        obj._assign_param(self.name, value)


class _Delta:
    """A flat parameter-delta array, filled by ``backward()`` (read-only)."""

    def __set_name__(self, owner, name):
        self.attr = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return getattr(obj, self.attr)


class BaseLayer(OnBackend):
    """Base class of TAGI layers.

    A layer maps Gaussian inputs (means ``mu``, variances ``var``, shape
    ``(batch, in_width)``) to Gaussian outputs of shape ``(batch, out_width)``
    in :meth:`forward`, maps deltas on its outputs to deltas on its inputs in
    :meth:`backward` while accumulating its parameter deltas, and applies
    those to its parameters in :meth:`step`.

    Parameters (weights ``w`` and biases ``b``) are independent Gaussians held
    as flat arrays ``mu_w``, ``var_w``, ``mu_b``, ``var_b``; after
    ``backward()`` their deltas are in ``delta_mu_w``, ``delta_var_w``,
    ``delta_mu_b``, ``delta_var_b``. The update adds each delta capped at
    ``sqrt(var) / k`` (:func:`cap_factor`) and floors a variance that would
    fall to zero or below at :data:`VAR_FLOOR`; ``num_capped`` and
    ``num_floored`` count how often that happened. A step whose deltas are
    not all finite (an overflow upstream) is not applied, so no NaN ever
    reaches a parameter; ``num_rejected`` counts those steps.
    """

    mu_w = _Param()
    var_w = _Param()
    mu_b = _Param()
    var_b = _Param()
    delta_mu_w = _Delta()
    delta_var_w = _Delta()
    delta_mu_b = _Delta()
    delta_var_b = _Delta()

    def __init__(self, bias: bool = False, gain_weight: float = 1.0, gain_bias: float = 1.0,
                 init_method: str = "He"):
        self.bias = bool(bias)
        self.gain_weight = check_real(gain_weight, name="gain_weight", where=self.get_layer_name(),
                                      positive=True)
        self.gain_bias = check_real(gain_bias, name="gain_bias", where=self.get_layer_name(),
                                    positive=True)
        self.init_method = init_method
        self.training = True
        self.num_capped = 0
        self.num_floored = 0
        self.num_rejected = 0
        #: True for a layer whose parameters are views into another layer's vector (a
        #: direction of a bidirectional LSTM): it has no vector of its own, and its
        #: owner applies the update.
        self.shares_parameters = False
        self.index = None
        self._bk = get_backend("cpu")
        self._dtype = np.dtype(np.float32)
        self._batch_size = 0
        self._pending_deltas = False
        empty = self._bk.xp.zeros(0, self._dtype)
        self._set_params(empty, empty, 0)

    # ------------------------------------------------------------------ info
    def get_layer_info(self) -> str:
        """Short description, e.g. ``"Linear(40,1)"`` (pytagi's format)."""
        return f"{self.get_layer_name()}()"

    def get_layer_name(self) -> str:
        """The layer's class name, e.g. ``"LSTM"``."""
        return type(self).__name__

    def __repr__(self) -> str:
        return self.get_layer_info()

    @property
    def where(self) -> str:
        """How error messages name this layer: its position and description."""
        prefix = f"layer {self.index} " if self.index is not None else ""
        return prefix + self.get_layer_info()

    @property
    def num_weights(self) -> int:
        return int(self._mu_w.size)

    @property
    def num_biases(self) -> int:
        return int(self._mu_b.size)

    @property
    def device(self) -> str:
        return self._bk.name

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    # ----------------------------------------------------------- parameters
    def _param_shapes(self):
        """``((weight count, fan_in, fan_out), bias count)``; layers with parameters override."""
        return (0, 1, 1), 0

    def init_weight_bias(self) -> None:
        """Draw the parameters afresh (docs/theory.rst §7): means ``N(0, scale**2)``,
        variances ``(gain * scale)**2``; ``scale`` set by ``init_method``."""
        (n_w, fan_in, fan_out), n_b = self._param_shapes()
        n_b = n_b if self.bias else 0
        scale = init_scale(self.init_method, fan_in, fan_out, self.where)
        rng = get_rng()
        mu = np.concatenate([rng.normal(0.0, scale, n_w), rng.normal(0.0, scale, n_b)])
        var = np.concatenate([np.full(n_w, (self.gain_weight * scale) ** 2),
                              np.full(n_b, (self.gain_bias * scale) ** 2)])
        self._set_params(self._bk.asarray(mu, dtype=self._dtype),
                         self._bk.asarray(var, dtype=self._dtype), n_w)

    def _set_params(self, mu_theta, var_theta, n_w: int) -> None:
        """Hold all parameters in one vector (weights then biases) so one kernel
        call updates them; ``mu_w``, ``mu_b`` ... are views into it. Deltas are
        reset, and buffers derived from the parameters are rebuilt lazily."""
        xp = self._bk.xp
        self._mu_theta, self._var_theta = mu_theta, var_theta
        self._dmu_theta, self._dvar_theta = xp.zeros_like(mu_theta), xp.zeros_like(var_theta)
        self._mu_w, self._mu_b = mu_theta[:n_w], mu_theta[n_w:]
        self._var_w, self._var_b = var_theta[:n_w], var_theta[n_w:]
        self._delta_mu_w, self._delta_mu_b = self._dmu_theta[:n_w], self._dmu_theta[n_w:]
        self._delta_var_w, self._delta_var_b = self._dvar_theta[:n_w], self._dvar_theta[n_w:]
        self._pending_deltas = False
        self._batch_size = 0

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        own = not self.shares_parameters
        # (a layer sharing its owner's vector leaves the update to the owner)
        if self._batch_size or (own and (self._pending_deltas or not self._mu_theta.size)):
            return state  # a batch or an update in flight (or no parameters): kept whole
        # Released: the work buffers ``_alloc`` builds, the views into the parameter
        # vector and the spent deltas are rebuilt on the way back, so a pickle holds
        # the parameters once instead of beside a dozen arrays of their size.
        probe = object.__new__(type(self))
        probe.__dict__.update(self.__dict__)
        probe._alloc(0)
        for name, value in probe.__dict__.items():
            if self.__dict__.get(name) is not value:
                state.pop(name, None)
        if own:  # a layer sharing its owner's vector gets its views from the owner
            for name in _VIEWS:
                state.pop(name)
            state["_n_w"] = int(self._mu_w.size)
        return state

    def __setstate__(self, state: dict) -> None:
        # a copy holds mu_w, mu_b ... as arrays of their own: make them views again
        # (a layer without a vector of its own gets its views from its owner's)
        state = dict(state)
        n_w = state.pop("_n_w", None)
        super().__setstate__(state)
        if self.shares_parameters:
            return
        if n_w is not None:  # released when pickled (see __getstate__)
            self._set_params(self._mu_theta, self._var_theta, n_w)
            self._batch_size = -1  # the next forward allocates, whatever its batch
            return
        deltas = (self._dmu_theta, self._dvar_theta, self._pending_deltas)
        self._set_params(self._mu_theta, self._var_theta, self._mu_w.size)
        self._dmu_theta[...], self._dvar_theta[...] = deltas[:2]
        self._pending_deltas = deltas[2]

    def _assign_param(self, name: str, value) -> None:
        current = getattr(self, "_" + name)
        arr = check_array(value, name=name, where=self.where, size=current.size,
                          nonnegative=name.startswith("var"), backend=self._bk)
        current[...] = self._bk.asarray(arr, dtype=self._dtype).reshape(current.shape)

    def parameters(self):
        """``(mu_w, var_w, mu_b, var_b)`` as NumPy copies."""
        return tuple(self._bk.to_numpy(p) for p in (self._mu_w, self._var_w, self._mu_b,
                                                    self._var_b))

    def load_parameters(self, mu_w, var_w, mu_b, var_b) -> None:
        """Set all four parameter arrays (validated, copied in)."""
        for name, value in zip(PARAM_NAMES, (mu_w, var_w, mu_b, var_b)):
            self._assign_param(name, value)

    # ---------------------------------------------------------------- update
    def step(self) -> None:
        """Apply the parameter deltas of the last ``backward()`` (capped update)."""
        if not self._mu_theta.size:
            return
        if not self._pending_deltas:
            raise RuntimeError(f"{self.where}: step() needs a backward() first (each "
                               f"backward() is applied once)")
        self._pending_deltas = False
        bk = self._bk
        if not (bk.all_finite(self._dmu_theta) and bk.all_finite(self._dvar_theta)):
            # an overflow upstream: applying it would turn the parameters NaN for good
            self.num_rejected += 1
            return
        n_cap, n_floor = bk.capped_update(self._mu_theta, self._var_theta, self._dmu_theta,
                                          self._dvar_theta, cap_factor(self._batch_size),
                                          VAR_FLOOR)
        self.num_capped += n_cap
        self.num_floored += n_floor

    # ------------------------------------------------------- device, dtype
    def _set_backend(self, backend, dtype) -> None:
        """Move parameters to ``backend`` in ``dtype``; buffers are rebuilt lazily."""
        to_np = self._bk.to_numpy
        mu, var = (backend.asarray(np.asarray(to_np(p), dtype=dtype))
                   for p in (self._mu_theta, self._var_theta))
        n_w = self._mu_w.size
        self._bk = backend
        self._dtype = np.dtype(dtype)
        self._set_params(mu, var, n_w)
        self._move_states(backend, dtype, to_np)

    def _move_states(self, backend, dtype, to_np) -> None:
        """Layers that keep states across calls move them here."""

    def release_buffers(self) -> None:
        """Shrink the work buffers to an empty batch. They are sized for the last
        batch and can outweigh the parameters many times over (a window LSTM's
        hold every step of every row), which matters when many fitted networks
        are kept or sent between processes; the next forward allocates them
        again, with the same results. Carried states are kept."""
        if self._batch_size:
            self._alloc(0)

    # ---------------------------------------------------- forward / backward
    in_width: int = 0
    out_width: int = 0

    def forward(self, mu, var):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, delta_mu, delta_var, need_input_delta: bool = True):  # pragma: no cover
        raise NotImplementedError
