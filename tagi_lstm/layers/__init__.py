"""TAGI layers: each holds Gaussian parameters and maps Gaussian states."""

from .activation import EvenExp, ReLU, Sigmoid, Tanh
from .base import VAR_FLOOR, BaseLayer, cap_factor
from .linear import Linear
from .lstm import LSTM

__all__ = ["BaseLayer", "EvenExp", "LSTM", "Linear", "ReLU", "Sigmoid", "Tanh", "VAR_FLOOR", "cap_factor"]
