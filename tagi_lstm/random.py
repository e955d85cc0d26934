"""The library's random number generator, seeded by :func:`manual_seed`.

Parameter initialisation and random initial LSTM states draw from it, so
``manual_seed(s)`` before building a network makes the run reproducible, as
in pytagi. Code that must not touch that shared state (a forecaster seeding
its own networks, fits running in several threads) draws inside
:func:`seeded` instead: a generator of its own, for the current thread only.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

_state = {"rng": np.random.default_rng()}
_local = threading.local()


def _check_seed(seed, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{where}: seed must be a non-negative integer; got {seed!r}")
    return int(seed)


def manual_seed(seed: int) -> None:
    """Seed the generator used for initialisation (as ``pytagi.manual_seed``)."""
    _state["rng"] = np.random.default_rng(_check_seed(seed, "manual_seed"))


def get_rng() -> np.random.Generator:
    """The generator in use: the current thread's :func:`seeded` one inside such a
    block, else the one :func:`manual_seed` seeded."""
    own = getattr(_local, "rng", None)
    return own if own is not None else _state["rng"]


@contextlib.contextmanager
def seeded(seed):
    """Inside the block, this thread draws from ``numpy.random.default_rng(seed)``
    (or from ``seed`` itself when it is a ``Generator``); the shared generator is
    neither used nor changed. ``None`` changes nothing: the block draws from
    whatever generator is in use. Blocks nest; the generator is yielded."""
    if seed is None:
        yield get_rng()
        return
    if isinstance(seed, np.random.Generator):
        rng = seed
    else:
        rng = np.random.default_rng(_check_seed(seed, "seeded"))
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous
