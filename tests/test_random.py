"""Randomness per model: forecasters seed generators of their own, never the library's
shared one, so fits do not disturb pytagi-style ``manual_seed`` code and fits in
threads equal fits in sequence."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tagi_lstm import Sequential, manual_seed
from tagi_lstm.forecast import Forecaster, HybridForecaster
from tagi_lstm.layers import LSTM, Linear
from tagi_lstm.random import get_rng, seeded

Y = 3 + np.sin(np.arange(160) / 4) + 0.1 * np.cos(np.arange(160) / 1.7)


def _weights():
    net = Sequential(LSTM(1, 4, 3), Linear(12, 1))
    return np.concatenate([a.ravel() for a in net._param_arrays().values()])


def test_fitting_leaves_the_shared_generator_alone():
    manual_seed(123)
    expected = _weights()
    manual_seed(123)
    Forecaster(lookback=6, hidden_size=4, ensemble=2).fit(Y, epochs=2, progress=False)
    HybridForecaster(lookback=6, hidden_size=4).fit(Y, epochs=2, progress=False)
    np.testing.assert_array_equal(_weights(), expected)


def test_seeded_blocks_nest_and_restore():
    manual_seed(5)
    shared = np.random.default_rng(5)
    with seeded(1) as outer:
        assert get_rng() is outer
        with seeded(np.random.default_rng(2)) as inner:
            assert get_rng() is inner
        assert get_rng() is outer
        first = _weights()
    with seeded(1):
        assert np.array_equal(_weights(), first)
    assert get_rng().random() == shared.random()  # untouched by the blocks
    with seeded(None) as current:  # no seed: whatever is in use
        assert current is get_rng()
    assert get_rng().random() == shared.random()


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seeds_are_named(seed):
    with pytest.raises(ValueError, match="seed"), seeded(seed):
        pass


def _fit(kind, seed):
    model = kind(lookback=6, hidden_size=4, seed=seed)
    model.fit(Y, epochs=2, progress=False)
    fc = model.forecast(6)
    return fc.mean, fc.std


@pytest.mark.parametrize("kind", [Forecaster, HybridForecaster])
def test_fits_in_threads_equal_fits_in_sequence(kind):
    seeds = [0, 1, 2, 3]
    alone = [_fit(kind, s) for s in seeds]
    manual_seed(7)  # whatever the shared generator holds does not matter
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda s: _fit(kind, s), seeds))
    for (m1, s1), (m2, s2) in zip(alone, together):
        np.testing.assert_array_equal(m1, m2)
        np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(alone[0][0], alone[1][0])  # the seeds do differ
