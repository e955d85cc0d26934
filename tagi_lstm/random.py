"""The library's random number generator, seeded by :func:`manual_seed`.

Parameter initialisation and random initial LSTM states draw from it, so
``manual_seed(s)`` before building a network makes the run reproducible.
"""

from __future__ import annotations

import numpy as np

_state = {"rng": np.random.default_rng()}


def manual_seed(seed: int) -> None:
    """Seed the generator used for initialisation (as ``pytagi.manual_seed``)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer; got {seed!r}")
    _state["rng"] = np.random.default_rng(int(seed))


def get_rng() -> np.random.Generator:
    """The generator :func:`manual_seed` seeded."""
    return _state["rng"]
