"""A stack of TAGI layers run in order: forward, backward, step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._lengths import check_lengths, is_packed_sequence, unpack_sequence
from ._validation import check_array, check_float_dtype, check_positive_int, is_device_array
from .backend import OnBackend, get_backend
from .layers.base import PARAM_NAMES, BaseLayer
from .layers.lstm import LSTM
from .output_updater import OutputUpdater
from .persist import open_npz, save_npz
from .states import DeltaStates, HiddenStates


class Sequential(OnBackend):
    r"""A network of TAGI layers applied in order (pytagi's ``Sequential``).

    Training by TAGI is one pass per batch: ``net(x)`` propagates means and
    variances forward; an :class:`~tagi_lstm.OutputUpdater` turns the
    observations into deltas on the output (``net.input_delta_z_buffer``);
    ``backward()`` carries them to every state and parameter; ``step()``
    applies the parameter deltas. ``update(y, var_obs)`` does the last three
    in one call.

    Args:
        *layers: the layers, e.g. ``LSTM(1, 8, 5), LSTM(8, 8, 5),
            Linear(40, 1)``. Consecutive layers must agree on widths and
            sequence lengths.

    Shape:
        - Input means (and optional variances) in any of three layouts:
          flat 1-D (pytagi's: rows back to back, each time-major), returning
          flat means and variances; ``(batch, in_width)``; or
          ``(batch, seq_len, input_size)`` when the first layer is an LSTM.
          The 2-D and 3-D layouts return ``(batch, outputs)``.
        - ``in_width`` is ``seq_len * input_size`` for a first LSTM layer and
          ``input_size`` for a first Linear layer.
        - Windows of different lengths: right-padded to ``seq_len`` with
          ``lengths`` (``(batch,)``) or ``mask`` (``(batch, seq_len)``) given
          to :meth:`forward`, or a ``torch`` ``PackedSequence`` as the input.

    Attributes:
        layers: the layers, in order.
        output_z_buffer: output means/variances of the last forward.
        input_delta_z_buffer: deltas on the output, read by ``backward()``.
        input_state_update: also compute deltas on the network input
            (``input_delta``) during ``backward()``.
    """

    def __init__(self, *layers: BaseLayer):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Sequential: give at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, BaseLayer):
                raise TypeError(f"Sequential: argument {i} must be a tagi_lstm layer; got "
                                f"{type(layer).__name__}")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("Sequential: the same layer object appears twice; build a new "
                             "layer for each position")
        self._layers = list(layers)
        for i, layer in enumerate(self._layers):
            layer.index = i
        self._check_compatible()
        self._bk = self._layers[0]._bk
        self._dtype = self._layers[0].dtype
        for layer in self._layers:
            if layer._bk is not self._bk or layer.dtype != self._dtype:
                layer._set_backend(self._bk, self._dtype)
        self.training = True
        self.input_state_update = False
        self.input_delta = (None, None)
        self._forget_batch()
        self._has_lengths = False

    # -------------------------------------------------------------- structure
    def _check_compatible(self) -> None:
        width = None
        source = None
        for layer in self._layers:
            if layer.in_width is None:
                continue
            if isinstance(layer, LSTM) and isinstance(source, LSTM) and \
                    source.seq_len != layer.seq_len:
                raise ValueError(
                    f"Sequential: seq_len mismatch: {source.where} produces sequences of "
                    f"{source.seq_len} steps but {layer.where} has seq_len {layer.seq_len}")
            if width is not None and width != layer.in_width:
                detail = (f" ({layer.seq_len} steps x {layer.input_size} features)"
                          if isinstance(layer, LSTM) else "")
                raise ValueError(
                    f"Sequential: {layer.where} expects {layer.in_width} inputs per row"
                    f"{detail} but {source.where} produces {width}")
            width, source = layer.out_width, layer

    @property
    def layers(self):
        return list(self._layers)

    @property
    def device(self) -> str:
        return self._bk.name

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def in_width(self):
        """Input values per row expected by the first sized layer (None if none)."""
        for layer in self._layers:
            if layer.in_width is not None:
                return layer.in_width
        return None

    def get_layer_stack_info(self) -> str:
        return "\n".join(f"{i}: {layer.get_layer_info()}" for i, layer in enumerate(self._layers))

    def __repr__(self) -> str:
        inner = ",\n  ".join(layer.get_layer_info() for layer in self._layers)
        return f"Sequential(\n  {inner}\n)"

    # ------------------------------------------------------------ mode, device
    def train(self) -> Sequential:
        """Training mode: ``backward()`` and ``step()`` are allowed."""
        self.training = True
        for layer in self._layers:
            layer.training = True
        return self

    def eval(self) -> Sequential:
        """Evaluation mode: forward only."""
        self.training = False
        for layer in self._layers:
            layer.training = False
        return self

    def to_device(self, device: str) -> Sequential:
        """Move parameters and states to ``"cpu"`` or ``"cuda"``."""
        backend = get_backend(device)
        self._set_backend(backend, self._dtype)
        return self

    def to_dtype(self, dtype) -> Sequential:
        """Compute in ``float32`` (default) or ``float64``."""
        dt = check_float_dtype(dtype, where="Sequential.to_dtype")
        self._set_backend(self._bk, dt)
        return self

    def double(self) -> Sequential:
        """Compute in float64 (as ``torch.nn.Module.double``)."""
        return self.to_dtype(np.float64)

    def float(self) -> Sequential:
        """Compute in float32 (as ``torch.nn.Module.float``)."""
        return self.to_dtype(np.float32)

    def _set_backend(self, backend, dtype) -> None:
        for layer in self._layers:
            layer._set_backend(backend, dtype)
        self._bk = backend
        self._dtype = np.dtype(dtype)
        self._forget_batch()

    def _discard_deltas(self) -> None:
        """Drop the last backward pass's parameter deltas unapplied (a backward pass
        run for its input deltas alone, as a Jacobian): that pass is over, and a
        ``step`` needs a new forward and backward."""
        for layer in self._layers:
            layer._pending_deltas = False
        self._phase = "step"

    def _forget_batch(self) -> None:
        """Drop the input buffers, the output and delta states (with the input deltas)
        and the updater of the last batch; the next forward starts afresh."""
        self._in_mu = self._in_var = None
        self.input_delta = (None, None)
        self.output_z_buffer = HiddenStates()
        self.input_delta_z_buffer = DeltaStates()
        self._updater = None
        self._phase = "new"

    def release_buffers(self) -> None:
        """Free the work buffers of every layer and of the input, sized for the last
        batch: in a fitted network of long windows they outweigh the parameters many
        times over. The next call allocates them again (the same results); a
        backward pass needs a forward pass first again."""
        for layer in self._layers:
            layer.release_buffers()
        self._forget_batch()

    def set_threads(self, num_threads: int) -> None:
        """CPU threads for training and prediction (process-wide, as in pytagi).

        Large layers split each batch across the threads; BLAS is then kept to
        one thread per worker. Without a call, the first batch chooses: the
        ``OMP_NUM_THREADS`` setting, else a threadpoolctl limit already on
        BLAS, else every core the process may use. Safe to call at any time,
        also while another thread trains.
        """
        n = check_positive_int(num_threads, name="num_threads", where="Sequential.set_threads")
        from .backend import _workers

        _workers.set_count(n)

    # ----------------------------------------------------------------- forward
    def __call__(self, mu_x, var_x=None, *, lengths=None, mask=None):
        return self.forward(mu_x, var_x, lengths=lengths, mask=mask)

    def _load_input(self, mu_x, var_x):
        """Validate the input, copy it into the input buffers; return views and the layout."""
        where = "Sequential.forward"
        mu = check_array(mu_x, name="mu_x", where=where, backend=self._bk)
        width = self.in_width
        first = self._layers[0]
        if mu.ndim == 1:
            w = width if width is not None else mu.size
            if w == 0 or mu.size % w != 0 or mu.size == 0:
                raise ValueError(f"{where}: a flat mu_x must hold a whole number of rows of "
                                 f"{w} values for {first.where}; got {mu.size} values")
            batch = mu.size // w
        elif mu.ndim == 2:
            batch, w = mu.shape
            if width is not None and w != width:
                raise ValueError(f"{where}: {first.where} expects {width} values per row; got "
                                 f"mu_x of shape {tuple(mu.shape)}")
        elif mu.ndim == 3 and isinstance(first, LSTM):
            batch = mu.shape[0]
            w = mu.shape[1] * mu.shape[2]
            if mu.shape[1:] != (first.seq_len, first.input_size):
                raise ValueError(f"{where}: {first.where} expects input of shape (batch, "
                                 f"{first.seq_len}, {first.input_size}); got "
                                 f"{tuple(mu.shape)}")
        else:
            expected = "1-D or (batch, width)" + (
                " or (batch, seq_len, input_size)" if isinstance(first, LSTM) else "")
            raise ValueError(f"{where}: mu_x must be {expected}; got shape {tuple(mu.shape)}")
        if batch == 0:
            raise ValueError(f"{where}: mu_x holds no rows")
        xp = self._bk.xp
        if self._in_mu is None or self._in_mu.shape != (batch, w):
            self._in_mu = xp.empty((batch, w), self._dtype)
            self._in_var = xp.empty((batch, w), self._dtype)
        on_device = is_device_array(mu)
        with np.errstate(over="ignore"):  # an overflowing cast is reported just below
            self._in_mu[...] = self._to_device(mu, on_device).reshape(batch, w)
        self._check_range(self._in_mu, "mu_x", 0.25, where)
        var = None
        if var_x is not None:
            v = check_array(var_x, name="var_x", where=where, shape=mu.shape, nonnegative=True,
                            backend=self._bk)
            with np.errstate(over="ignore"):
                self._in_var[...] = self._to_device(v, is_device_array(v)).reshape(batch, w)
            self._check_range(self._in_var, "var_x", 0.5, where)
            var = self._in_var
        return self._in_mu, var, mu.ndim == 1, on_device

    def _check_range(self, arr, name: str, power: float, where: str) -> None:
        """Inputs whose moments would overflow the network's dtype are an error here, not
        NaN parameters later: the forward and backward passes form products up to the
        fourth power of a mean (the square of a variance), so ``|mu_x|`` must stay below
        ``max ** 0.25`` and ``var_x`` below ``max ** 0.5`` of the dtype."""
        limit = float(np.finfo(self._dtype).max) ** power
        largest = float(self._bk.xp.abs(arr).max())
        if not largest <= limit:
            raise ValueError(f"{where}: {name} holds a value of magnitude {largest:.3g}; in "
                             f"{self._dtype.name} the network's moments would overflow beyond "
                             f"{limit:.3g} (standardise the inputs, or use float64)")

    def _to_device(self, arr, on_device: bool):
        """``arr`` on this network's device, in its dtype (NumPy input to a GPU net)."""
        if on_device or self._bk.HOST_MEMORY:
            return arr
        return self._bk.asarray(arr, dtype=self._dtype)

    def forward(self, mu_x, var_x=None, *, lengths=None, mask=None):
        """Propagate input means (and variances) through every layer.

        Args:
            mu_x: input means (see the class docstring for layouts), or a
                ``torch.nn.utils.rnn.PackedSequence`` of windows of different
                lengths.
            var_x: input variances, same shape as ``mu_x`` (a
                ``PackedSequence`` with a packed ``mu_x``); ``None`` for
                exactly known inputs.
            lengths: valid steps of each row, ``(batch,)`` integers in
                ``1..seq_len``, the rest right padding; ``None`` for full
                windows. Padded steps change no state and no parameter and
                output mean 0, variance 0.
            mask: instead of ``lengths``, ``(batch, seq_len)`` booleans that
                are True on each row's valid steps (a prefix).

        Returns:
            ``(mu, var)`` of the output: flat for a flat input, else
            ``(batch, outputs)``; NumPy arrays unless CuPy arrays came in.
        """
        if is_packed_sequence(mu_x):
            mu_x, var_x, lengths = self._unpack(mu_x, var_x, lengths, mask)
        mu, var, flat, keep_device = self._load_input(mu_x, var_x)
        if lengths is not None or mask is not None or self._has_lengths:
            self._set_lengths(lengths, mask, mu.shape[0])
        for layer in self._layers:
            mu, var = layer.forward(mu, var)
        self.output_z_buffer._set(mu, var)
        self.input_delta_z_buffer._ensure(mu, self._bk.xp)
        self.input_delta_z_buffer.fresh = False
        self._phase = "forward"
        shape = (-1,) if flat else mu.shape
        if keep_device:
            return mu.copy().reshape(shape), var.copy().reshape(shape)
        return self._bk.to_numpy(mu).reshape(shape), self._bk.to_numpy(var).reshape(shape)

    def _first_lstm(self, where: str) -> LSTM:
        first = self._layers[0]
        if not isinstance(first, LSTM):
            raise ValueError(f"{where}: windows of different lengths need an LSTM first "
                             f"layer; the first layer is {first.where}")
        return first

    def _unpack(self, packed, var_x, lengths, mask):
        """Padded means and variances and the lengths of a ``PackedSequence`` input."""
        where = "Sequential.forward"
        if lengths is not None or mask is not None:
            raise ValueError(f"{where}: a PackedSequence carries its lengths; give no "
                             f"lengths or mask with it")
        seq_len = self._first_lstm(where).seq_len
        mu, lengths = unpack_sequence(packed, seq_len, where)
        if var_x is not None:
            if not is_packed_sequence(var_x):
                raise TypeError(f"{where}: with a PackedSequence mu_x, var_x must be a "
                                f"PackedSequence too; got {type(var_x).__name__}")
            var_x, _ = unpack_sequence(var_x, seq_len, where)
        return mu, var_x, lengths

    def _set_lengths(self, lengths, mask, batch: int) -> None:
        """Give the LSTM layers the valid steps of each row (``None``: full windows)
        up to the first that outputs its last step only."""
        where = "Sequential.forward"
        if lengths is not None or mask is not None:
            lengths = check_lengths(lengths, mask, batch, self._first_lstm(where).seq_len,
                                    where)
        sequences = True
        for layer in self._layers:
            if isinstance(layer, LSTM):
                layer.set_lengths(lengths if sequences else None)
                sequences = sequences and layer.return_sequences
        self._has_lengths = lengths is not None

    def get_outputs(self):
        """``(mu, var)`` of the last forward, as NumPy arrays ``(batch, outputs)``."""
        out = self.output_z_buffer
        if out.mu_a is None:
            raise RuntimeError("Sequential.get_outputs: no forward pass yet")
        return self._bk.to_numpy(out.mu_a), self._bk.to_numpy(out.var_a)

    # ---------------------------------------------------------------- backward
    def set_delta_z(self, delta_mu, delta_var) -> None:
        """Set the deltas on the output directly (instead of an OutputUpdater)."""
        where = "Sequential.set_delta_z"
        out = self.output_z_buffer.mu_a
        if out is None:
            raise RuntimeError(f"{where}: call forward first")
        d = self.input_delta_z_buffer
        d._ensure(out, self._bk.xp)
        for name, value, target in (("delta_mu", delta_mu, d.delta_mu),
                                    ("delta_var", delta_var, d.delta_var)):
            arr = check_array(value, name=name, where=where, size=out.size, backend=self._bk)
            target[...] = self._to_device(arr, is_device_array(arr)).reshape(out.shape)
        d.fresh = True

    def backward(self) -> None:
        """Carry the output deltas back to every layer's states and parameters."""
        if not self.training:
            raise RuntimeError("Sequential.backward: the network is in eval mode; call "
                               "net.train() first")
        if self._phase != "forward":
            raise RuntimeError("Sequential.backward: needs a forward pass first (one backward "
                               "per forward)")
        deltas = self.input_delta_z_buffer
        if not deltas.fresh:
            raise RuntimeError("Sequential.backward: no output deltas for this forward pass; "
                               "call OutputUpdater.update(...) or net.update(y, var_obs)")
        dmu, dvar = deltas.delta_mu, deltas.delta_var
        for i in range(len(self._layers) - 1, -1, -1):
            dmu, dvar = self._layers[i].backward(dmu, dvar, i > 0 or self.input_state_update)
        self.input_delta = (dmu, dvar)
        self._phase = "backward"

    def step(self) -> None:
        """Apply every layer's parameter deltas (capped update)."""
        if self._phase != "backward":
            raise RuntimeError("Sequential.step: needs a backward() first (one step per "
                               "backward)")
        for layer in self._layers:
            layer.step()
        self._phase = "step"

    def update(self, y, var_obs) -> None:
        """Observation update, backward and step in one call.

        Args:
            y: observations of the last forward's outputs, ``batch *
                outputs`` values; NaN marks a missing one.
            var_obs: observation-noise variance, one positive number or one
                per observation.
        """
        if self._updater is None:
            self._updater = OutputUpdater(self.device)
        self._updater.update(self.output_z_buffer, y, var_obs, self.input_delta_z_buffer)
        self.backward()
        self.step()

    # ------------------------------------------------------------------ states
    def _lstm_layers(self):
        return {i: layer for i, layer in enumerate(self._layers) if isinstance(layer, LSTM)}

    def reset_lstm_states(self) -> None:
        """Forget carried or set LSTM states; the next call starts afresh."""
        for layer in self._lstm_layers().values():
            layer.reset_states()

    def get_lstm_states(self) -> dict:
        """``{layer index: (mu_h, var_h, mu_c, var_c)}``, the last step's states.

        Each array is ``(batch, output_size)``; after ``backward()`` they hold
        the posterior. Empty ``(0, output_size)`` arrays before any forward.
        """
        return {i: layer.get_states() for i, layer in self._lstm_layers().items()}

    def set_lstm_states(self, states: dict) -> None:
        """Initial states for the next call, ``{layer index: (mu_h, var_h, mu_c, var_c)}``."""
        lstms = self._lstm_layers()
        if not isinstance(states, dict):
            raise TypeError(f"Sequential.set_lstm_states: states must be a dict {{layer index: "
                            f"(mu_h, var_h, mu_c, var_c)}}; got {type(states).__name__}")
        for key, value in states.items():
            if key not in lstms:
                raise ValueError(f"Sequential.set_lstm_states: layer {key!r} is not an LSTM "
                                 f"layer; LSTM layers are at {sorted(lstms)}")
            if not isinstance(value, (tuple, list)) or len(value) != 4:
                raise ValueError(f"Sequential.set_lstm_states: layer {key} needs a 4-tuple "
                                 f"(mu_h, var_h, mu_c, var_c)")
            lstms[key].set_states(*value)

    # -------------------------------------------------------------- parameters
    def _param_layers(self):
        return [(f"{layer.get_layer_name()}.{i}", layer) for i, layer in enumerate(self._layers)
                if layer.num_weights or layer.num_biases]

    def parameters(self):
        """``[(mu_w, var_w, mu_b, var_b), ...]`` for each layer with parameters."""
        return [layer.parameters() for _, layer in self._param_layers()]

    @property
    def num_parameters(self) -> int:
        """Number of Gaussian parameters (each has a mean and a variance)."""
        return sum(layer.num_weights + layer.num_biases for layer in self._layers)

    def state_dict(self) -> dict:
        """``{"LSTM.0": (mu_w, var_w, mu_b, var_b), ...}`` as NumPy copies."""
        return {key: layer.parameters() for key, layer in self._param_layers()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load parameters saved by :meth:`state_dict` (exact keys and sizes)."""
        layers = dict(self._param_layers())
        if not isinstance(state_dict, dict):
            raise TypeError(f"Sequential.load_state_dict: expected a dict; got "
                            f"{type(state_dict).__name__}")
        missing = sorted(set(layers) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(layers))
        if missing or unexpected:
            raise ValueError(f"Sequential.load_state_dict: keys do not match this network; "
                             f"missing {missing}, unexpected {unexpected}")
        for key, layer in layers.items():
            value = state_dict[key]
            if isinstance(value, dict):
                value = tuple(value[k] for k in PARAM_NAMES)
            layer.load_parameters(*value)

    def _architecture(self) -> list:
        return [layer.get_layer_info() + (f"[seq_len={layer.seq_len}]"
                                           if isinstance(layer, LSTM) else "")
                for layer in self._layers]

    def _param_arrays(self) -> dict:
        """The parameters as named arrays ``{"LSTM.0/mu_w": ..., ...}``, for ``.npz`` files."""
        return {f"{key}/{name}": arr for key, params in self.state_dict().items()
                for name, arr in zip(PARAM_NAMES, params)}

    def _load_param_arrays(self, data) -> None:
        """Load parameters from named arrays as :meth:`_param_arrays` writes them."""
        self.load_state_dict({key: tuple(data[f"{key}/{name}"] for name in PARAM_NAMES)
                              for key, _ in self._param_layers()})

    def save(self, filename) -> None:
        """Save the parameters, the architecture (checked on load), the dtype, the update
        counters and the states stateful LSTM layers carry to ``.npz``, atomically
        (:func:`tagi_lstm.persist.save_npz`: a crash mid-save leaves the old file)."""
        meta = {"dtype": self._dtype.name,
                "counters": self._counter_lists()}
        arrays = {"__architecture__": np.array(json.dumps(self._architecture())),
                  "__meta__": np.array(json.dumps(meta)), **self._param_arrays()}
        lstms = self._lstm_layers()
        for index, states in self.get_lstm_states().items():
            # a stateful layer carries them into its next call; once a batch has run
            if lstms[index].stateful and states[0].shape[0]:
                arrays.update({f"__state__/{index}/{k}": np.asarray(v) for k, v in
                               zip(("mu_h", "var_h", "mu_c", "var_c"), states)})
        save_npz(filename, arrays)

    def load(self, filename) -> None:
        """Load what :meth:`save` wrote into this (identically built) network: its
        parameters, dtype, update counters and LSTM states. Every array is checked
        against the architecture before anything is changed."""
        path = Path(filename)
        where = "Sequential.load"
        with open_npz(path, where, "__architecture__", "tagi_lstm network file") as data:
            arch = json.loads(str(data["__architecture__"]))
            if arch != self._architecture():
                raise ValueError(f"{where}: {path} holds {arch}; this network is "
                                 f"{self._architecture()}")
            meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
            for key, layer in self._param_layers():
                sizes = (layer.num_weights, layer.num_weights, layer.num_biases,
                         layer.num_biases)
                for name, size in zip(PARAM_NAMES, sizes):
                    got = data[f"{key}/{name}"] if f"{key}/{name}" in data.files else None
                    if got is None or got.size != size:
                        raise ValueError(f"{where}: {path} is damaged: {key}/{name} should "
                                         f"hold {size} values")
            states = {}
            for index in self._lstm_layers():
                names = [f"__state__/{index}/{k}" for k in ("mu_h", "var_h", "mu_c", "var_c")]
                if all(n in data.files for n in names):
                    states[index] = tuple(data[n] for n in names)
            if "dtype" in meta:
                self.to_dtype(meta["dtype"])
            self._load_param_arrays(data)
        self._restore_counters(meta.get("counters", {}))
        if states:
            self.set_lstm_states(states)

    def get_neg_var_w_counter(self) -> dict:
        """``{layer info: number of variances floored}`` since construction (pytagi's name)."""
        return {layer.get_layer_info(): layer.num_floored for _, layer in self._param_layers()}

    def _counter_lists(self) -> dict:
        """``{"LSTM.0": [capped, floored, rejected], ...}``, as files keep them."""
        return {key: [layer.num_capped, layer.num_floored, layer.num_rejected]
                for key, layer in self._param_layers()}

    def _restore_counters(self, counts: dict) -> None:
        """Set the counters :meth:`_counter_lists` gave (layers it omits keep theirs)."""
        for key, layer in self._param_layers():
            if key in counts:
                layer.num_capped, layer.num_floored, layer.num_rejected = (
                    int(c) for c in counts[key])

    def update_counters(self) -> dict:
        """``{"LSTM.0": {"capped": n, "floored": m, "rejected": r}, ...}``: how often
        the update cap and the variance floor acted, and how many steps were not
        applied because their deltas were not finite, per layer, since
        construction."""
        return {key: {"capped": layer.num_capped, "floored": layer.num_floored,
                      "rejected": layer.num_rejected}
                for key, layer in self._param_layers()}
