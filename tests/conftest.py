import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import tagi_lstm
from tagi_lstm.layers import linear as linear_module
from tagi_lstm.layers import lstm as lstm_module


def set_variances(net, value, rng=None):
    """Set every weight and bias variance to ``value`` (times U(1, 2) when ``rng``)."""
    for layer in net.layers:
        for name, n in (("var_w", layer.num_weights), ("var_b", layer.num_biases)):
            if n:
                scale = rng.uniform(1.0, 2.0, n) if rng is not None else 1.0
                setattr(layer, name, np.full(n, value) * scale)


def import_pytagi():
    """pytagi if it loads here, else skip the calling test with the reason."""
    from tagi_lstm.peers import import_pytagi as _import

    try:
        return _import()
    except ImportError as exc:
        pytest.skip(str(exc))


@pytest.fixture(autouse=True)
def _seed():
    tagi_lstm.manual_seed(1234)


def use_code_path(monkeypatch, path):
    """Make every layer built afterwards take its ``"loops"`` path (whole-window
    LSTM kernels, one-kernel Linear sums) or its ``"blas"`` path."""
    limit = 10 ** 12 if path == "loops" else -1
    monkeypatch.setattr(lstm_module, "WINDOW_MAX_WORK", limit)
    monkeypatch.setattr(linear_module, "SMALL_MAX_WORK", limit)


@pytest.fixture(params=["loops", "blas"])
def code_path(request, monkeypatch):
    """Run the test on both code paths of the layers."""
    use_code_path(monkeypatch, request.param)
    return request.param
