"""Network building blocks, under pytagi's module name (``pytagi.nn``)."""

from .layers import (
                     LSTM,
                     BaseLayer,
                     BidirectionalLSTM,
                     EvenExp,
                     Linear,
                     ProjectedLSTM,
                     ReLU,
                     Sigmoid,
                     Tanh,
)
from .output_updater import OutputUpdater
from .sequential import Sequential
from .states import DeltaStates, HiddenStates
from .torch_lstm import TorchLSTM

__all__ = ["BaseLayer", "BidirectionalLSTM", "DeltaStates", "EvenExp", "HiddenStates", "LSTM",
           "Linear", "OutputUpdater", "ProjectedLSTM", "ReLU", "Sequential", "Sigmoid", "Tanh",
           "TorchLSTM"]
