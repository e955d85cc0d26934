"""docs/theory.rst §10, oracle 5: pytagi's sine configuration learns (examples/sine_forecast.py)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import import_pytagi

import tagi_lstm


def _example():
    path = Path(__file__).resolve().parents[1] / "examples" / "sine_forecast.py"
    spec = importlib.util.spec_from_file_location("sine_forecast", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_sine_configuration_learns_with_positive_variances():
    res = _example().train_and_test(tagi_lstm, epochs=50, seed=0)
    assert res["mse"] <= 0.12
    assert np.isfinite(res["log_likelihood"]) and res["log_likelihood"] > -1.1
    assert np.all(res["std"] > 0)
    for layer in res["net"].layers:
        assert np.all(layer.var_w > 0) and np.all(layer.var_b > 0)


@pytest.mark.slow
def test_sine_against_pytagi_on_the_same_data_and_seed():
    """Same script, data, batch order and seed; our recurrent LSTM must not do worse."""
    pytagi = import_pytagi()
    example = _example()
    ours = example.train_and_test(tagi_lstm, epochs=50, seed=0)
    theirs = example.train_and_test(pytagi, epochs=50, seed=0)
    assert ours["mse"] <= theirs["mse"]
    assert ours["crps"] <= theirs["crps"]
    assert ours["log_likelihood"] >= theirs["log_likelihood"] - 0.01
