"""TAGI layers: each holds Gaussian parameters and maps Gaussian states."""

from .activation import ReLU, Sigmoid, Tanh
from .base import VAR_FLOOR, BaseLayer, cap_factor
from .linear import Linear
from .bidirectional import BidirectionalLSTM
from .lstm import LSTM
from .projection import ProjectedLSTM

__all__ = ["BaseLayer", "BidirectionalLSTM", "LSTM", "ProjectedLSTM", "Linear", "ReLU", "Sigmoid", "Tanh", "VAR_FLOOR", "cap_factor"]
