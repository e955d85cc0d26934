"""TAGI layers: each holds Gaussian parameters and maps Gaussian states."""

from .activation import EvenExp, ReLU, Sigmoid, Tanh
from .base import VAR_FLOOR, BaseLayer, cap_factor
from .bidirectional import BidirectionalLSTM
from .linear import Linear
from .lstm import LSTM
from .projection import ProjectedLSTM

__all__ = ["BaseLayer", "BidirectionalLSTM", "EvenExp", "LSTM", "Linear", "ProjectedLSTM", "ReLU",
           "Sigmoid", "Tanh", "VAR_FLOOR", "cap_factor"]
