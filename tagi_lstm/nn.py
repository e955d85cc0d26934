"""Network building blocks, under pytagi's module name (``pytagi.nn``)."""

from .layers import LSTM, BaseLayer, EvenExp, Linear, ReLU, Sigmoid, Tanh
from .output_updater import OutputUpdater
from .sequential import Sequential
from .states import DeltaStates, HiddenStates

__all__ = ["BaseLayer", "DeltaStates", "EvenExp", "HiddenStates", "LSTM", "Linear", "OutputUpdater",
           "ReLU", "Sequential", "Sigmoid", "Tanh"]
