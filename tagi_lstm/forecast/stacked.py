"""Many members learning together: one kernel call for a whole round of updates.

Fitting one small network per series is much Python: a TAGI update of a
16-unit LSTM on 8 windows of 12 steps costs a few hundred microseconds, of
which the arithmetic is a third to a half. :class:`StackedMembers` holds the parameters
of ``S`` members of one architecture side by side, ``(S, P)`` per layer, and
makes a round of updates (a whole epoch's batches per member, then its
forecasts of held-out windows for early stopping) in one call of the CPU
backend's ``member_learn_series`` per worker thread: the Python cost of a round
is that of one call, whatever ``S`` and however many batches, and the members
run on all cores, each network's whole update (forward, observation, backward,
step) in a row, so its buffers stay in cache. A single network (one series, or
a global model) learns through it too, as a round of one.

Each member runs exactly the kernels it runs alone, in the same order, so it
ends with bitwise the parameters of its own :meth:`Member.learn
<tagi_lstm.forecast.member.Member.learn>` calls. A batch shorter than the
others (an epoch's last) is padded with rows whose targets are missing: their
deltas are exactly zero, and the update cap is that of the real batch size.

While a member is in a slot its layers' parameters are views of the slot's
rows (its own ``predict`` and ``state_dict`` see every update); it gets
arrays of its own back, with its counts of capped, floored and rejected
updates and of bounded observations, when another member takes the slot, or
on :meth:`StackedMembers.release`.
"""

from __future__ import annotations

import copy

import numpy as np

from ..backend import MEMBER_HEAD_BUFFERS, MEMBER_LSTM_BUFFERS, _workers
from ..config import SMALL_MAX_WORK, VAR_FLOOR, WINDOW_MAX_WORK
from ..layers import LSTM, EvenExp, Linear
from ..layers.base import cap_factor

#: The LSTM's state buffers among the work space, ``(batch, hidden)`` each.
_STATES = ("st_mu_h", "st_var_h", "st_mu_c", "st_var_c")


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

    Shapes: each round takes, per slot, windows ``(n, L, inputs)`` and targets
    ``(n,)``, learned in batches of ``batch_size`` (the last may be shorter).
    """

    def __init__(self, like, slots: int, batch_size: int):
        if not stackable(like, batch_size):
            raise ValueError("StackedMembers: the member's network cannot be stacked "
                             "(see tagi_lstm.forecast.stacked.stackable)")
        net = like.net
        self._bk = net._bk
        lstm, head = net.layers[0], net.layers[1]
        self.heteroscedastic = len(net.layers) == 3
        bound = like.updater.max_innovation
        self._max_innovation = np.inf if bound is None else float(bound)
        S, B, dt = slots, batch_size, lstm._dtype
        self.slots, self.batch_size, self.dtype = S, B, dt
        self._members = [None] * S
        # the work space of one network, shaped as the layer's own buffers at this batch
        template = copy.deepcopy(lstm)
        template._alloc(B)
        P, P_head = lstm._mu_theta.size, head._mu_theta.size
        J, K = head.output_size, head.input_size
        self._shapes = {name: getattr(template, "_" + name).shape
                        for name in MEMBER_LSTM_BUFFERS if name not in _STATES}
        self._shapes.update({name: (B, lstm.output_size) for name in _STATES})
        self._shapes.update({"lstm_dmu": (P,), "lstm_dvar": (P,)})
        self._shapes.update({name: (B, J) for name in MEMBER_HEAD_BUFFERS})
        self._shapes.update({name: (P_head,) for name in ("head_acc_mu", "head_acc_var",
                                                           "head_dmu", "head_dvar")})
        self._shapes.update({"dmu_h": (B, K), "dvar_h": (B, K)})
        self._shapes.update({"x_batch": (B, lstm.seq_len, lstm.input_size), "y_batch": (B,),
                             "var_batch": (B,)})
        self._work = []  # one work space per part of a round, made as needed
        # every slot's parameters, counts and bounded observations
        self._theta = [{k: np.zeros((S, size), dt) for k in ("mu", "var")}
                       for size in (P, P_head)]
        self._counts = np.zeros((S, 6), np.int64)
        self._bounded = np.zeros(S, np.int64)
        # each request's noise variance; each batch size's update cap
        self._var_obs = np.ones(S, dt)
        self._caps = np.array([1.0] + [cap_factor(b) for b in range(1, B + 1)])

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
        """Give the member in ``slot`` arrays of its own and what the slot counted."""
        member = self._members[slot]
        if member is None:
            return
        counts = self._counts[slot]
        for at, layer, theta in zip((0, 3), member.net.layers, self._theta):
            layer._set_params(theta["mu"][slot].copy(), theta["var"][slot].copy(),
                              layer._mu_w.size)
            layer.num_capped += int(counts[at])
            layer.num_floored += int(counts[at + 1])
            layer.num_rejected += int(counts[at + 2])
        member.updater.total_bounded += int(self._bounded[slot])
        counts[:] = 0
        self._bounded[slot] = 0
        self._members[slot] = None

    def release(self) -> None:
        """Every member gets arrays of its own back."""
        for slot in range(self.slots):
            self._detach(slot)

    # ---------------------------------------------------------------- learn
    def _work_space(self, part: int) -> tuple:
        """The kernel's work arrays for one part of a round, in its parameter order."""
        while len(self._work) <= part:
            work = {name: np.zeros(shape, self.dtype) for name, shape in self._shapes.items()}
            self._work.append(tuple(work[name] for name in (
                "x_batch", "y_batch", "var_batch", *MEMBER_LSTM_BUFFERS, "lstm_dmu",
                "lstm_dvar", *MEMBER_HEAD_BUFFERS)))
        return self._work[part]

    def learn(self, requests) -> list:
        """TAGI updates per request ``(slot, member, x, t, x_held)``: ``member`` (in
        ``slot``, at most one request per slot) learns windows ``x`` ``(n, L, inputs)``
        with standardised targets ``t`` ``(n,)`` (NaN skipped) in consecutive batches of
        ``batch_size`` rows, exactly as ``member.learn`` on each batch in turn would;
        then forecasts the windows ``x_held`` (or none: ``None``).

        Returns:
            per request, ``member.predict(x_held)`` (``None`` without ``x_held``).
        """
        if not requests:
            return []
        n = len(requests)
        slots, count, held_count = (np.zeros(n, np.int64) for _ in range(3))
        for i, (slot, member, xb, _, held) in enumerate(requests):
            self._attach(slot, member)
            if not self.heteroscedastic:
                self._var_obs[i] = member.sigma_v_now ** 2
            slots[i], count[i] = slot, len(xb)
            held_count[i] = 0 if held is None else len(held)
        x, y = (np.concatenate([r[k] for r in requests]).astype(self.dtype, copy=False)
                for k in (2, 3))
        x_held = np.concatenate([x[:0]] + [r[4] for r in requests if r[4] is not None]
                                ).astype(self.dtype, copy=False)
        out = [np.zeros(len(x_held), self.dtype) for _ in range(3)]
        first, held_first = (np.cumsum(c) - c for c in (count, held_count))
        bounds, workers = [0, n], min(n, _workers.count())
        if workers > 1:  # one part per worker thread, each about the same number of windows:
            # a request goes to the part its middle window falls in
            windows = count + held_count
            middle = np.cumsum(windows) - windows / 2
            cuts = np.searchsorted(middle, windows.sum() * np.arange(1, workers) / workers)
            bounds = np.unique(np.concatenate([[0], cuts, [n]]))
        lstm, head = self._theta
        spaces = [self._work_space(j) for j in range(len(bounds) - 1)]

        def run(j0, j1):
            for j in range(j0, j1):
                a, b = bounds[j], bounds[j + 1]
                self._bk.member_learn_series(
                    slots[a:b], self.heteroscedastic, self._max_innovation, x, y, first[a:b],
                    count[a:b], self._var_obs[a:b], self._caps, VAR_FLOOR, x_held,
                    held_first[a:b], held_count[a:b], *out, lstm["mu"], lstm["var"],
                    head["mu"], head["var"], self._counts, self._bounded, *spaces[j])

        self._bk.split_rows(run, len(bounds) - 1)
        mean, var, noise = (o.astype(np.float64) for o in out)
        results = []
        for i, (_, member, _, _, held) in enumerate(requests):
            rows = slice(held_first[i], held_first[i] + held_count[i])
            results.append(None if held is None else (
                mean[rows], var[rows], noise[rows] if self.heteroscedastic
                else np.full(held_count[i], member.sigma_v_now ** 2)))
        return results
