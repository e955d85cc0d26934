"""Forecasting with honest intervals, built on the layer API.

:class:`Forecaster` turns a series (plus optional covariates) into an
ensemble of Bayesian LSTMs trained by TAGI, and forecasts one step or many
steps ahead with a mean, a standard deviation and the sources of that
uncertainty for every step; :meth:`Forecaster.backtest` scores it from
rolling origins. :class:`HybridForecaster` couples an LSTM with a random-walk
level in one Kalman filter (Vuong, Nguyen & Goulet, 2025). Everything goes through
``net(x, var_x)``,
:class:`~tagi_lstm.OutputUpdater`, ``net.backward()`` and ``net.step()``.
"""

from .baselines import seasonal_naive
from .combination import Combination
from .hybrid import HybridForecaster
from .model import NOISE_MODES, Forecaster
from .propagate import METHODS
from .result import COMPONENTS, Backtest, Forecast, Mixture, mixture_moments

__all__ = ["COMPONENTS", "METHODS", "NOISE_MODES", "Backtest", "Combination", "Forecast",
           "Forecaster", "HybridForecaster", "Mixture", "mixture_moments", "seasonal_naive"]
