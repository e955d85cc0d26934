"""Every tunable number of the library, named once, with where it comes from.

Modules import these names; change one here and every use follows. Values
that come from pytagi keep pytagi's behaviour for drop-in scripts; the others
say how they were measured or chosen.
"""

from __future__ import annotations

# ------------------------------------------------------------------ updates
#: A variance that an update would take to zero or below is set to this (pytagi's floor).
VAR_FLOOR = 1e-5
#: Divisor k of the update cap ``sqrt(var) / k``: one sample, up to 255, from 256
#: (pytagi's rule: larger batches sum more deltas into one update, so a tighter cap).
CAP_FACTOR_SINGLE, CAP_FACTOR_SMALL, CAP_FACTOR_LARGE = 0.1, 2.0, 3.0
#: Batch size from which ``CAP_FACTOR_LARGE`` applies (pytagi).
CAP_LARGE_BATCH = 256
#: Observations further than this many predictive standard deviations are moved to the
#: bound before an update (docs/theory.rst §5, "Outliers"): a Gaussian lies beyond 5
#: with probability 6e-7, so data the model describes are not affected.
MAX_INNOVATION = 5.0

# ------------------------------------------------------------------ scaling
#: Added to a standard deviation before dividing by it (pytagi's ``Normalizer``).
SCALE_EPS = 1e-10
#: Largest magnitude of a forecaster's ``y``: beyond it the variance of the series
#: overflows float64 (its square, summed over the series).
MAX_MAGNITUDE = 1e150

# ---------------------------------------------------------------- code paths
#: LSTM layers with ``batch * (input_size + output_size) * output_size`` up to this do
#: their matrix products as loops; larger ones call BLAS. Measured crossover:
#: benchmarks/README.md, "Code-path thresholds" (benchmarks/crossover.py).
WINDOW_MAX_WORK = 4096
#: Linear layers with ``batch * input_size * output_size`` up to this do their sums in
#: one kernel call each way; larger ones call BLAS (same measurement).
SMALL_MAX_WORK = 16384
#: ``fit(..., client=...)`` on a local panel: blocks of series per Dask worker thread
#: (each block fits together, and several per thread balance series of unequal cost).
PANEL_BLOCKS_PER_THREAD = 4
#: Seconds between looks at a Dask panel's progress (the series its workers finished).
PROGRESS_POLL = 0.5
#: Windows per forward pass when a forecaster predicts many at once: bounds the
#: buffers' memory (256 windows of a 96-step, 64-unit LSTM: a few MiB).
PREDICT_CHUNK = 256

# ------------------------------------------------------------- forecasting
#: Horizon ``fit(calibrate=True)`` calibrates for, and ``auto`` forecasts, without a season.
DEFAULT_HORIZON = 10
#: Most origins a calibration backtest forecasts from (evenly spread).
MAX_CALIBRATION_ORIGINS = 200
#: Calibration: cap on a squared standardised error (a 5-sigma error).
CALIBRATION_CLIP = 25.0
#: Calibration: pseudo-observations at factor 1 that each step's estimate is shrunk
#: towards (chosen on the forecast benchmark's training tails).
CALIBRATION_PRIOR_WEIGHT = 4.0
#: ``auto``: most origins a candidate is scored from (evenly spread over the tail); 40
#: keeps the search of a 500-point series within benchmarks/auto_speed.py's budget.
AUTO_MAX_ORIGINS = 40
#: ``auto``: fewest training windows a candidate needs to be tried.
AUTO_MIN_WINDOWS = 24
#: ``auto``: longest lookback tried, in steps.
AUTO_MAX_LOOKBACK = 96
#: ``auto`` on a panel: numbers of stacked LSTM layers tried on its best candidate
#: (a global network learns from every series' windows, enough data for a second layer).
PANEL_DEPTHS = (2,)
#: ``auto`` adds a candidate to its combination only when its backtest CRPS lies within
#: this ratio of the best one's: an equal-weight mixture suits forecasts of comparable
#: accuracy (the forecast-combination literature's condition), and a clearly worse
#: member drags the mixture down outside the backtest.
COMBINE_WITHIN = 1.10
#: ``auto`` forecasts the first step with other candidates than the later steps only
#: when their one-step forecasts of the validation tail beat the later steps' choice
#: by this many standard errors of the mean gain per step (a short tail scores noisily).
FIRST_STEP_MIN_GAIN = 2.0
#: The hybrid's level variance before the first step, standardised units (a tenth of
#: the series' variance: the first observations set it within a few steps).
HYBRID_START_VAR = 0.1
#: ... and its trend's variance, per step (a trend of 0.03 standard deviations per step,
#: one sd: the smoother of the first epoch replaces it).
HYBRID_TREND_START_VAR = 1e-3
#: ``auto``: the hybrid's trend step variance when it tries a trend (standardised
#: units: a step standard deviation of 1 % of the series', so the slope changes
#: slowly beside a level that moves ten times as fast at the default ``level_noise``).
HYBRID_TREND_NOISE = 1e-4
#: ``auto``: the seasonal effect's step variances tried with a seasonal component, a
#: decade apart as the level's are: from a shape that barely changes (a step standard
#: deviation of 1 % of the series') to one that follows the last seasons (10 %).
HYBRID_SEASONAL_NOISES = (1e-4, 1e-3, 1e-2)
#: ``auto``: longest season given a seasonal component in the hybrid (its state holds
#: ``season - 1`` effects, and the filter's covariance steps cost ``season**3`` per step).
HYBRID_MAX_SEASON = 24
#: ``auto``: the hybrid's observation noise standard deviations tried.
HYBRID_SIGMA_V = (0.1, 0.2, 0.3)
