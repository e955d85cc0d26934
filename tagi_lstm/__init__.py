"""tagi_lstm: Bayesian LSTM networks trained by Tractable Approximate Gaussian Inference.

Every weight and state is a Gaussian; a forward pass carries means and
variances through the layers in closed form, an observation updates the
output like a Kalman filter, and a backward pass carries that update to every
state and parameter. The interface follows pytagi::

    import tagi_lstm
    from tagi_lstm.nn import LSTM, Linear, Sequential

    tagi_lstm.manual_seed(0)
    net = Sequential(LSTM(1, 8, 5), LSTM(8, 8, 5), Linear(40, 1))
    mu, var = net(x)             # x: (batch, 5, 1)
    net.update(y, var_obs=0.1)   # observation update, backward, step
"""

from . import metric, nn
from .exceptions import NotFittedError
from .layers import LSTM, Linear, ReLU, Sigmoid, Tanh
from .output_updater import OutputUpdater
from .random import manual_seed
from .sequential import Sequential
from .torch_lstm import TorchLSTM
from .utils import Normalizer, Utils, exponential_scheduler

__version__ = "0.1.0"

__all__ = ["LSTM", "Linear", "Normalizer", "NotFittedError", "OutputUpdater", "ReLU",
           "Sequential", "Sigmoid", "Tanh", "TorchLSTM", "Utils", "__version__",
           "exponential_scheduler", "manual_seed", "metric", "nn"]
