"""Many members learning together: one kernel call per layer for all their batches.

Fitting one small network per series is mostly Python: a TAGI update of a
16-unit LSTM on 8 windows of 12 steps costs a few hundred microseconds, of
which the arithmetic is a third. :class:`StackedMembers` holds the parameters
of ``S`` members of one architecture side by side, ``(S, P)`` per layer, and
runs a round of updates (one batch per member) through the
``*_series`` kernels of the CPU backend: the Python cost of a round is that of
one update, whatever ``S``, and the members' kernels run on all cores.

Each member runs exactly the kernels it runs alone, on its own rows, so it
ends with bitwise the parameters of its own :meth:`Member.learn
<tagi_lstm.forecast.member.Member.learn>` calls. A batch shorter than the
others (an epoch's last) is padded with rows whose targets are missing: their
deltas are exactly zero, and the update cap is that of the real batch size.

While a member is in a slot its layers' parameters are views of the slot's
rows (its own ``predict`` and ``state_dict`` see every update); it gets
arrays of its own back when another member takes the slot, or on
:meth:`StackedMembers.release`.
"""

from __future__ import annotations

import copy

import numpy as np

from ..backend import LSTM_FORWARD_BUFFERS, LSTM_WINDOW_BACKWARD_BUFFERS
from ..config import SMALL_MAX_WORK, STACK_CHUNK_BYTES, VAR_FLOOR, WINDOW_MAX_WORK
from ..layers import LSTM, EvenExp, Linear
from ..layers.base import cap_factor
from ..output_updater import OutputUpdater
from ..states import DeltaStates, HiddenStates

#: LSTM buffers the series kernels take besides the parameters, one per network.
_LSTM_BUFFERS = tuple(dict.fromkeys(
    ("q", "wt", "s_wt", "qt", *LSTM_FORWARD_BUFFERS, *LSTM_WINDOW_BACKWARD_BUFFERS,
     "mu_h", "var_h", "var_c")))


def stackable(member, batch_size: int) -> bool:
    """Whether ``member`` can learn in a :class:`StackedMembers` with batches of
    ``batch_size``: on the CPU, one LSTM layer and a linear head (no linear
    autoregression), small enough that alone it runs the fused window and small
    linear kernels at that batch size (and so at every smaller one)."""
    layers = member.net.layers
    if member.linear is not None or member.net.device != "cpu" or len(layers) not in (2, 3):
        return False
    lstm, head = layers[0], layers[1]
    if not (isinstance(lstm, LSTM) and isinstance(head, Linear) and lstm.return_sequences
            and not lstm.bidirectional and not lstm.stateful and lstm.init_state != "random"
            and lstm.bias and head.bias):
        return False
    if len(layers) == 3 and not isinstance(layers[2], EvenExp):
        return False
    n, no = lstm.input_size + lstm.output_size, lstm.output_size
    return (batch_size * n * no <= WINDOW_MAX_WORK
            and batch_size * head.input_size * head.output_size <= SMALL_MAX_WORK)


class StackedMembers:
    """Slots for ``slots`` members shaped like ``like``, learning in rounds.

    Args:
        like: a member of the architecture (see :func:`stackable`).
        slots: members learning at once.
        batch_size: most windows per batch.

    Shapes: each round takes, per slot, windows ``(b, L, inputs)`` with ``b <=
    batch_size`` and targets ``(b,)``.
    """

    def __init__(self, like, slots: int, batch_size: int, chunk: int | None = None):
        if not stackable(like, batch_size):
            raise ValueError("StackedMembers: the member's network cannot be stacked "
                             "(see tagi_lstm.forecast.stacked.stackable)")
        net = like.net
        self._bk = net._bk
        lstm, head = net.layers[0], net.layers[1]
        self.heteroscedastic = len(net.layers) == 3
        B, dt = batch_size, lstm._dtype
        # one network's buffers at this batch size, from a copy of its layer
        template = copy.deepcopy(lstm)
        template._alloc(B)
        shapes = {name: getattr(template, "_" + name).shape for name in _LSTM_BUFFERS}
        shapes.update({name: (B, lstm.output_size)
                       for name in ("st_mu_h", "st_var_h", "st_mu_c", "st_var_c")})
        if chunk is None:
            # a chunk's work buffers stay in cache from its forward to its backward
            per_network = sum(np.prod(shape) for shape in shapes.values()) * dt.itemsize
            chunk = max(1, min(slots, STACK_CHUNK_BYTES // per_network))
        C = self.chunk = int(chunk)
        self.slots, self.batch_size, self.dtype = slots, B, dt
        self._members = [None] * slots
        zeros = lambda n, shape: np.zeros((n, *shape), dt)  # noqa: E731
        sizes = [layer._mu_theta.size for layer in (lstm, head)]
        # every slot's parameters; the chunk's gathered from them and scattered back
        self._theta = [{k: zeros(slots, (P,)) for k in ("mu", "var")} for P in sizes]
        self._counts = [np.zeros((slots, 3), np.int64) for _ in sizes]
        self._chunk_theta = [{k: zeros(C, (P,)) for k in ("mu", "var", "dmu", "dvar")}
                             for P in sizes]
        self._chunk_counts = np.zeros((C, 3), np.int64)
        self._lstm = {name: zeros(C, shape) for name, shape in shapes.items()}
        J, K = head.output_size, head.input_size
        self._head = {"mu_z": zeros(C, (B, J)), "var_z": zeros(C, (B, J)),
                      "dmu_in": zeros(C, (B, K)), "dvar_in": zeros(C, (B, K)),
                      "acc_mu": zeros(C, (sizes[1],)), "acc_var": zeros(C, (sizes[1],))}
        self._even = copy.deepcopy(net.layers[2]) if self.heteroscedastic else None
        self._updater = OutputUpdater(net.device)
        self._out, self._deltas = HiddenStates(), DeltaStates()
        self._x = zeros(C, (B, lstm.seq_len, lstm.input_size))
        self._t = np.full((C, B), np.nan, dt)
        self._var_obs = np.ones((C, B), dt)
        self._cap = np.ones(C)

    # ---------------------------------------------------------------- slots
    def _attach(self, slot: int, member) -> None:
        """Put ``member`` in ``slot``: its parameters copied in, its layers made views."""
        if self._members[slot] is member:
            return
        self._detach(slot)
        for layer, theta in zip(member.net.layers, self._theta):
            theta["mu"][slot] = layer._mu_theta
            theta["var"][slot] = layer._var_theta
            layer._set_params(theta["mu"][slot], theta["var"][slot], layer._mu_w.size)
        self._members[slot] = member

    def _detach(self, slot: int) -> None:
        """Give the member in ``slot`` arrays of its own and its update counts."""
        member = self._members[slot]
        if member is None:
            return
        for layer, theta, counts in zip(member.net.layers, self._theta, self._counts):
            layer._set_params(theta["mu"][slot].copy(), theta["var"][slot].copy(),
                              layer._mu_w.size)
            layer.num_capped += int(counts[slot, 0])
            layer.num_floored += int(counts[slot, 1])
            layer.num_rejected += int(counts[slot, 2])
            counts[slot] = 0
        self._members[slot] = None

    def release(self) -> None:
        """Every member gets arrays of its own back."""
        for slot in range(self.slots):
            self._detach(slot)

    # ---------------------------------------------------------------- learn
    def learn(self, requests) -> None:
        """One TAGI update per request ``(slot, member, x, t)``: ``member`` (in
        ``slot``, at most one request per slot) learns windows ``x`` ``(b, L,
        inputs)`` with standardised targets ``t`` ``(b,)`` (NaN skipped), exactly as
        ``member.learn(x, t)`` would. The requests run ``chunk`` at a time."""
        for c0 in range(0, len(requests), self.chunk):
            self._chunk(requests[c0:c0 + self.chunk])

    def _chunk(self, requests) -> None:
        x, t = self._x, self._t
        t.fill(np.nan)
        for i, (slot, member, xb, tb) in enumerate(requests):
            self._attach(slot, member)
            b = len(xb)
            x[i, :b] = xb
            x[i, b:] = 0
            t[i, :b] = tb
            self._cap[i] = cap_factor(b)
            if not self.heteroscedastic:
                self._var_obs[i] = member.sigma_v_now ** 2
        slots = np.array([r[0] for r in requests])
        for theta, chunk in zip(self._theta, self._chunk_theta):
            np.take(theta["mu"], slots, axis=0, out=chunk["mu"][:len(slots)])
            np.take(theta["var"], slots, axis=0, out=chunk["var"][:len(slots)])
        series = np.arange(len(slots))
        self._forward(series)
        self._observe()
        self._backward(series, slots)
        for theta, chunk in zip(self._theta, self._chunk_theta):
            theta["mu"][slots] = chunk["mu"][:len(slots)]
            theta["var"][slots] = chunk["var"][:len(slots)]

    def _split(self, kernel, series, *args) -> None:
        """``kernel(series chunk, *args)``, the listed networks spread over the workers."""
        self._bk.split_rows(lambda i0, i1: kernel(series[i0:i1], *args), len(series))

    def _forward(self, series) -> None:
        bk, buf, head = self._bk, self._lstm, self._head
        C, B = self.chunk, self.batch_size
        rows = lambda a: a.reshape(C * B, *a.shape[2:])  # noqa: E731
        x = rows(self._x)
        bk.lstm_load_input(x, x, False, rows(buf["mu_a"]), rows(buf["var_a"]),
                           rows(buf["ms_a"]), rows(buf["m2_a"]), rows(buf["mu_c"]),
                           rows(buf["var_c"]))
        lstm, lin = self._chunk_theta
        self._split(bk.lstm_forward_window_series, series, True, lstm["mu"], lstm["var"],
                    *(buf[k] for k in ("q", "wt", "s_wt", "qt", *LSTM_FORWARD_BUFFERS,
                                       "st_mu_h", "st_var_h", "st_mu_c", "st_var_c")))
        h_mu, h_var = (buf[k].reshape(C, B, -1) for k in ("mu_h", "var_h"))
        self._split(bk.linear_forward_small_series, series, h_mu, h_var, lin["mu"], lin["var"],
                    head["mu_z"], head["var_z"])
        mu, var = rows(head["mu_z"]), rows(head["var_z"])
        if self._even is not None:
            mu, var = self._even.forward(mu, var)
        self._out._set(mu, var)

    def _observe(self) -> None:
        t = self._t.reshape(-1)
        if self.heteroscedastic:
            self._updater.update_heteros(self._out, t, self._deltas)
        else:
            self._updater.update(self._out, t, self._var_obs.reshape(-1), self._deltas)

    def _backward(self, series, slots) -> None:
        bk, buf, head = self._bk, self._lstm, self._head
        C, B = self.chunk, self.batch_size
        dmu, dvar = self._deltas.delta_mu, self._deltas.delta_var
        if self._even is not None:
            dmu, dvar = self._even.backward(dmu, dvar)
        lstm, lin = self._chunk_theta
        J = head["mu_z"].shape[2]
        self._split(bk.linear_backward_small_series, series, buf["mu_h"].reshape(C, B, -1),
                    lin["mu"], lin["var"], dmu.reshape(C, B, J), dvar.reshape(C, B, J),
                    head["acc_mu"], head["acc_var"], True, head["dmu_in"], head["dvar_in"],
                    lin["dmu"], lin["dvar"])
        shape = buf["mu_h"].shape
        self._split(bk.lstm_backward_window_series, series, False,
                    head["dmu_in"].reshape(shape), head["dvar_in"].reshape(shape),
                    *(buf[k] for k in LSTM_WINDOW_BACKWARD_BUFFERS),
                    buf["mu_h"], buf["var_h"], buf["var_c"], lstm["var"], lstm["dmu"],
                    lstm["dvar"], buf["st_mu_h"], buf["st_var_h"], buf["st_mu_c"],
                    buf["st_var_c"])
        for chunk, counts in zip(self._chunk_theta, self._counts):
            self._chunk_counts[...] = 0
            self._split(bk.capped_update_series, series, chunk["mu"], chunk["var"],
                        chunk["dmu"], chunk["dvar"], self._cap, VAR_FLOOR, self._chunk_counts)
            counts[slots] += self._chunk_counts[:len(slots)]
