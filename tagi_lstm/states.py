"""Buffers the network shares with the output updater (pytagi's names)."""

from __future__ import annotations


class HiddenStates:
    """Means and variances of the network output after ``forward()``.

    Attributes:
        mu_a, var_a: arrays of shape ``(batch, outputs)`` (live buffers of the
            last layer; the next forward overwrites them).
        block_size: the batch size.
        actual_size: outputs per row.
    """

    def __init__(self):
        self.mu_a = None
        self.var_a = None

    def _set(self, mu, var) -> None:
        self.mu_a = mu
        self.var_a = var

    @property
    def block_size(self) -> int:
        return 0 if self.mu_a is None else int(self.mu_a.shape[0])

    @property
    def actual_size(self) -> int:
        return 0 if self.mu_a is None else int(self.mu_a.shape[1])

    @property
    def size(self) -> int:
        return 0 if self.mu_a is None else int(self.mu_a.size)


class DeltaStates:
    """Deltas on the network output, written by the output updater.

    ``backward()`` starts from them. Attributes ``delta_mu`` and
    ``delta_var`` have the output's shape ``(batch, outputs)``; ``fresh`` tells
    whether they were set since the last forward.
    """

    def __init__(self):
        self.delta_mu = None
        self.delta_var = None
        self.fresh = False

    def _ensure(self, like, xp) -> None:
        if self.delta_mu is None or self.delta_mu.shape != like.shape or \
                self.delta_mu.dtype != like.dtype or not isinstance(self.delta_mu, type(like)):
            self.delta_mu = xp.zeros(like.shape, like.dtype)
            self.delta_var = xp.zeros(like.shape, like.dtype)

    @property
    def block_size(self) -> int:
        return 0 if self.delta_mu is None else int(self.delta_mu.shape[0])

    @property
    def actual_size(self) -> int:
        return 0 if self.delta_mu is None else int(self.delta_mu.shape[1])

    @property
    def size(self) -> int:
        return 0 if self.delta_mu is None else int(self.delta_mu.size)
