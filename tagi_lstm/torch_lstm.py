"""A Bayesian LSTM called the way ``torch.nn.LSTM`` is called."""

from __future__ import annotations

import numpy as np

from ._lengths import is_packed_sequence, unpack_sequence
from ._validation import check_array, check_positive_int
from .layers.lstm import LSTM
from .sequential import Sequential

# torch stacks the gates i, f, g, o; ours are f, i, g, o. The swap is its own inverse.
_TORCH_GATES = (1, 0, 2, 3)


class TorchLSTM:
    r"""Multi-layer Bayesian LSTM with ``torch.nn.LSTM``'s constructor, layouts and call.

    ``TorchLSTM(input_size, hidden_size, num_layers, ...)`` stacks
    ``num_layers`` :class:`~tagi_lstm.nn.LSTM` layers (each bidirectional
    and projected as asked) in a :class:`~tagi_lstm.Sequential`, ``net``.
    Every weight, bias and state is a Gaussian (docs/theory.rst §4), so each output
    of the call is a pair ``(mean, variance)`` of arrays in the shape
    ``torch.nn.LSTM`` gives the tensor of the same name. Windows may have
    any length ``L`` from call to call.

    Args:
        input_size: ``H_in``, features per step of the input.
        hidden_size: ``H_cell``, units of the cell state.
        num_layers: LSTM layers stacked; layer ``k > 0`` reads the outputs of
            layer ``k - 1``.
        bias: learn the gate biases (torch's two bias vectors are one here).
        batch_first: input and output are ``(N, L, ·)`` rather than ``(L, N, ·)``.
        dropout: must be 0; TAGI carries its uncertainty in the variances.
        bidirectional: each layer also reads the window backwards, ``D = 2``.
        proj_size: if positive, ``H_out = proj_size`` and ``h_t = W_hr h_t``
            (:class:`~tagi_lstm.layers.projection.ProjectedLSTM`); else
            ``H_out = hidden_size``.
        gain_weight, gain_bias, init_method: initial variances (docs/theory.rst §7).
        stateful: carry each row's final states into the next call (KnowIt's
            ``tracking``), with the posterior the last update gave them.
        init_state: ``"zeros"`` or ``"random"`` initial states when none is
            given or carried.

    Shape (call ``net(input, hx)``):
        - input: ``(L, N, H_in)``, ``(N, L, H_in)`` with ``batch_first``,
          ``(L, H_in)`` unbatched, or a ``torch`` ``PackedSequence``; its
          variances ``var_input`` alike (default: exact inputs).
        - hx: ``(h_0, c_0)``, ``(D * num_layers, N, H_out)`` and
          ``(D * num_layers, N, H_cell)`` (no ``N`` axis unbatched); each a
          means array (variances zero) or a ``(mean, variance)`` pair.
          Default: ``init_state``, or the carried states when ``stateful``.
        - lengths: optional ``(N,)`` valid steps of each row (right padding).
        - Returns ``output, (h_n, c_n)``: ``output`` is ``(mean, variance)`` of
          shape ``(L, N, D * H_out)`` (``(N, L, D * H_out)`` with
          ``batch_first``, ``(L, D * H_out)`` unbatched; a pair of
          ``PackedSequence`` for a packed input), zero on padded steps;
          ``h_n`` and ``c_n`` are ``(mean, variance)`` of shape
          ``(D * num_layers, N, H_out)`` and ``(D * num_layers, N, H_cell)``,
          layer by layer, forward direction before reverse.

    Training: after a call, ``update(y, var_obs)`` observes ``y`` (the
    output's layout; NaN for unobserved values) and runs the backward pass
    and the capped parameter update, as :meth:`Sequential.update`.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, *, gain_weight: float = 1.0, gain_bias: float = 1.0,
                 init_method: str = "He", stateful: bool = False, init_state: str = "zeros"):
        where = "TorchLSTM"
        self.input_size = check_positive_int(input_size, name="input_size", where=where)
        self.hidden_size = check_positive_int(hidden_size, name="hidden_size", where=where)
        self.num_layers = check_positive_int(num_layers, name="num_layers", where=where)
        if dropout != 0:
            raise ValueError(f"{where}: dropout must be 0 (a TAGI network carries its "
                             f"uncertainty in its variances); got {dropout!r}")
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        layers = []
        for k in range(self.num_layers):
            n_in = self.input_size if k == 0 else self.num_directions * (proj_size or hidden_size)
            layers.append(LSTM(n_in, self.hidden_size, 1, bias, gain_weight, gain_bias,
                               init_method, stateful=stateful, init_state=init_state,
                               proj_size=proj_size, bidirectional=self.bidirectional))
        self.proj_size = layers[0].proj_size
        self.net = Sequential(*layers)
        self._layout = None

    @property
    def output_width(self) -> int:
        """``D * H_out``, features per step of the output."""
        return self.net.layers[-1].step_width

    def __repr__(self) -> str:
        proj = f", proj_size={self.proj_size}" if self.proj_size else ""
        return (f"TorchLSTM({self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}, bidirectional={self.bidirectional}{proj})")

    # ---------------------------------------------------------------- forward
    def __call__(self, input, hx=None, *, var_input=None, lengths=None):  # noqa: A002
        return self.forward(input, hx, var_input=var_input, lengths=lengths)

    def forward(self, input, hx=None, *, var_input=None, lengths=None):  # noqa: A002
        """``output, (h_n, c_n)`` as ``(mean, variance)`` pairs (see the class docstring)."""
        where = "TorchLSTM.forward"
        packed = is_packed_sequence(input)
        if packed:
            if lengths is not None:
                raise ValueError(f"{where}: a PackedSequence carries its lengths; give no "
                                 f"lengths with it")
            steps = int(input.batch_sizes.shape[0])
            mu, lengths = unpack_sequence(input, steps, where)
            var = None if var_input is None else unpack_sequence(var_input, steps, where)[0]
            batched = True
        else:
            mu = self._rows_first(input, "input", where)
            var = None if var_input is None else self._rows_first(var_input, "var_input", where)
            if var is not None and var.shape != mu.shape:
                raise ValueError(f"{where}: var_input must have the shape of input "
                                 f"{tuple(np.shape(input))}; got {tuple(np.shape(var_input))}")
            batched = np.ndim(input) == 3
        if mu.shape[2] != self.input_size:
            raise ValueError(f"{where}: input must have {self.input_size} features per step "
                             f"(input_size); got {mu.shape[2]} (input shape "
                             f"{tuple(np.shape(input)) if not packed else tuple(mu.shape)})")
        batch, steps = mu.shape[0], mu.shape[1]
        self._set_seq_len(steps)
        if hx is not None:
            self.net.set_lstm_states(self._states_from_hx(hx, batch, batched, where))
        mu_y, var_y = self.net(mu, var, lengths=lengths)
        self._layout = (batched, packed, lengths, batch, steps)
        width = self.output_width
        output = tuple(self._to_layout(a.reshape(batch, steps, width)) for a in (mu_y, var_y))
        return output, self._final_states(batched)

    def _rows_first(self, x, name, where):
        """``x`` as ``(N, L, features)``, C-contiguous."""
        arr = check_array(x, name=name, where=where, backend=self.net._bk)
        if arr.ndim == 2:
            arr = arr[None]
        elif arr.ndim == 3:
            arr = arr if self.batch_first else arr.transpose(1, 0, 2)
        else:
            layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            raise ValueError(f"{where}: {name} must be {layout} or (L, H_in) unbatched; got "
                             f"shape {tuple(arr.shape)}")
        if arr.shape[1] == 0 or arr.shape[0] == 0:
            raise ValueError(f"{where}: {name} holds no steps or no rows; got shape "
                             f"{tuple(np.shape(x))}")
        return np.ascontiguousarray(arr) if isinstance(arr, np.ndarray) else arr

    def _set_seq_len(self, steps: int) -> None:
        """Let every layer (and direction) take windows of ``steps`` steps."""
        for layer in self.net.layers:
            for part in (layer, *getattr(layer, "directions", ())):
                if part.seq_len != steps:
                    part.seq_len = steps
                    part._batch_size = 0  # buffers are sized by seq_len: rebuild them

    def _to_layout(self, arr):
        """``(N, L, F)`` rows into the layout of the last call's input."""
        batched, packed, lengths, _, _ = self._layout
        if packed:
            import torch
            from torch.nn.utils.rnn import pack_padded_sequence

            return pack_padded_sequence(torch.from_numpy(np.asarray(arr)),
                                        torch.from_numpy(lengths), batch_first=True,
                                        enforce_sorted=False)
        if not batched:
            return arr[0]
        return arr if self.batch_first else arr.transpose(1, 0, 2)

    def _from_layout(self, x, name, where):
        """An array (or ``PackedSequence``) in the last output's layout, as ``(N, L * F)``."""
        batched, packed, _, batch, steps = self._layout
        if packed:
            if not is_packed_sequence(x):
                raise TypeError(f"{where}: {name} must be a PackedSequence like the output")
            arr = unpack_sequence(x, steps, where)[0]
        else:
            arr = np.asarray(x) if not hasattr(x, "__cuda_array_interface__") else x
            if not batched:
                arr = arr[None]
            elif not self.batch_first:
                arr = arr.transpose(1, 0, 2)
        expected = (batch, steps, self.output_width)
        if tuple(arr.shape) != expected:
            raise ValueError(f"{where}: {name} must have the output's shape; got "
                             f"{tuple(np.shape(x))}")
        return arr.reshape(batch, -1)

    # ----------------------------------------------------------------- states
    def _states_from_hx(self, hx, batch, batched, where):
        """``{layer: (mu_h, var_h, mu_c, var_c)}`` from torch's ``(h_0, c_0)``."""
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{where}: hx must be a pair (h_0, c_0)")
        D, n_layers = self.num_directions, self.num_layers
        widths = (self.proj_size or self.hidden_size, self.hidden_size)
        moments = []
        for name, value, width in (("h_0", hx[0], widths[0]), ("c_0", hx[1], widths[1])):
            mean, var = value if isinstance(value, (tuple, list)) else (value, None)
            mean = check_array(mean, name=name, where=where, backend=self.net._bk)
            var = np.zeros(mean.shape) if var is None else check_array(
                var, name=f"{name} variance", where=where, nonnegative=True,
                backend=self.net._bk)
            shape = (D * n_layers, batch, width) if batched else (D * n_layers, width)
            for arr in (mean, var):
                if tuple(arr.shape) != shape:
                    raise ValueError(f"{where}: {name} must have shape {shape} (D * num_layers"
                                     f"{', N' if batched else ''}, {width}); got "
                                     f"{tuple(arr.shape)}")
            if not batched:
                mean, var = mean[:, None], var[:, None]
            moments += [mean, var]
        states = {}
        for k in range(n_layers):
            part = slice(D * k, D * (k + 1))
            states[k] = tuple(m[part] if D == 2 else m[k] for m in moments)
        return states

    def _final_states(self, batched):
        """``(h_n, c_n)`` as ``(mean, variance)`` pairs in torch's shapes."""
        states = self.net.get_lstm_states()
        stacked = []
        for k in range(4):
            per_layer = [states[i][k] for i in range(self.num_layers)]
            arr = (np.concatenate(per_layer) if self.bidirectional else np.stack(per_layer))
            stacked.append(arr if batched else arr[:, 0])
        return (stacked[0], stacked[1]), (stacked[2], stacked[3])

    def reset_lstm_states(self) -> None:
        """Forget carried or given states."""
        self.net.reset_lstm_states()

    # --------------------------------------------------------------- training
    def update(self, y, var_obs) -> None:
        """Observe ``y`` (the last output's layout; NaN: unobserved), then
        backward and step."""
        if self._layout is None:
            raise RuntimeError("TorchLSTM.update: call the network first")
        self.net.update(self._from_layout(y, "y", "TorchLSTM.update"), var_obs)

    def backward(self) -> None:
        """``Sequential.backward`` of ``net`` (deltas set by an OutputUpdater)."""
        self.net.backward()

    def step(self) -> None:
        """``Sequential.step`` of ``net``."""
        self.net.step()

    @property
    def output_z_buffer(self):
        return self.net.output_z_buffer

    @property
    def input_delta_z_buffer(self):
        return self.net.input_delta_z_buffer

    # --------------------------------------------------- mode, device, params
    def train(self) -> TorchLSTM:
        self.net.train()
        return self

    def eval(self) -> TorchLSTM:
        self.net.eval()
        return self

    def double(self) -> TorchLSTM:
        self.net.double()
        return self

    def float(self) -> TorchLSTM:
        self.net.float()
        return self

    def to_device(self, device: str) -> TorchLSTM:
        self.net.to_device(device)
        return self

    @property
    def layers(self):
        return self.net.layers

    def state_dict(self) -> dict:
        return self.net.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.net.load_state_dict(state_dict)

    def torch_state_dict(self) -> dict:
        """The parameter means under ``torch.nn.LSTM``'s names and shapes
        (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
        ``weight_hr_l0``, ``..._reverse``), NumPy arrays; ``bias_hh`` is zero
        (torch adds its two biases, ours is one)."""
        out = {}
        for k, layer in enumerate(self.net.layers):
            for suffix, (w, w_hr, b) in zip(("", "_reverse"), self._direction_params(layer)):
                ni = layer.input_size
                w = w.reshape(4, -1, w.shape[1])[list(_TORCH_GATES)].reshape(w.shape)
                out[f"weight_ih_l{k}{suffix}"] = w[:, :ni].copy()
                out[f"weight_hh_l{k}{suffix}"] = w[:, ni:].copy()
                if b is not None:
                    out[f"bias_ih_l{k}{suffix}"] = b.reshape(4, -1)[list(_TORCH_GATES)].ravel()
                    out[f"bias_hh_l{k}{suffix}"] = np.zeros_like(b)
                if w_hr is not None:
                    out[f"weight_hr_l{k}{suffix}"] = w_hr.copy()
        return out

    def _direction_params(self, layer):
        """``[(W (4 H_cell, n), W_hr or None, b or None), ...]`` per direction, NumPy means."""
        cores = getattr(layer, "directions", (layer,))
        result = []
        for core in cores:
            mu_w, _, mu_b, _ = core.parameters()
            no, p = core.output_size, core.proj_size
            n_gate = 4 * no * (core.input_size + (p or no))
            result.append((mu_w[:n_gate].reshape(4 * no, -1),
                           mu_w[n_gate:].reshape(p, no) if p else None,
                           mu_b if core.bias else None))
        return result
