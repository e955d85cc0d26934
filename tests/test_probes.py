"""A bad-input probe suite across the public API: each probe is a call a user might make
by mistake, the exception it must raise, and a pattern its message must match (naming the
argument, or what was expected). A probe passes only with that exact outcome: no NumPy
message from deep inside, no silently wrong result."""

import numpy as np
import pytest

from tagi_lstm import (
    Normalizer,
    NotFittedError,
    OutputUpdater,
    Sequential,
    Utils,
    exponential_scheduler,
    manual_seed,
    metric,
)
from tagi_lstm.cli import main as cli_main
from tagi_lstm.data import (
    batches,
    chronological_split,
    fill_missing,
    rolling_windows,
    time_features,
)
from tagi_lstm.dates import check_dates, future_dates, infer_frequency
from tagi_lstm.forecast import Combination, Forecaster, HybridForecaster, mixture_moments
from tagi_lstm.nn import (
    LSTM,
    BidirectionalLSTM,
    EvenExp,
    Linear,
    ProjectedLSTM,
    TorchLSTM,
)
from tagi_lstm.random import seeded

Y = 5 + np.sin(np.arange(80) / 3)


def _net():
    manual_seed(0)
    return Sequential(LSTM(1, 4, 3), Linear(12, 1))


def _forward(net, x=None):
    net(np.zeros((2, 3, 1)) if x is None else x)
    return net


_FITTED = {}


def _fitted(kind):
    if kind not in _FITTED:
        _FITTED[kind] = kind(lookback=4, hidden_size=3, seed=0).fit(Y, epochs=1,
                                                                    progress=False)
    return _FITTED[kind]


V, T = ValueError, TypeError
VT = (ValueError, TypeError)

PROBES = [
    # ----------------------------------------------------------------- layers
    ("lstm input_size 0", lambda: LSTM(0, 4, 3), V, "input_size"),
    ("lstm input_size float", lambda: LSTM(1.5, 4, 3), T, "input_size"),
    ("lstm output_size negative", lambda: LSTM(1, -4, 3), V, "output_size"),
    ("lstm seq_len 0", lambda: LSTM(1, 4, 0), V, "seq_len"),
    ("lstm seq_len str", lambda: LSTM(1, 4, "3"), T, "seq_len"),
    ("lstm seq_len bool", lambda: LSTM(1, 4, True), T, "seq_len"),
    ("lstm gain_weight 0", lambda: LSTM(1, 4, 3, gain_weight=0), V, "gain_weight"),
    ("lstm gain_bias nan", lambda: LSTM(1, 4, 3, gain_bias=float("nan")), VT, "gain_bias"),
    ("lstm init_method", lambda: LSTM(1, 4, 3, init_method="Glorot2"), V, "init_method"),
    ("lstm init_state", lambda: LSTM(1, 4, 3, init_state="ones"), V, "init_state"),
    ("lstm proj_size too big", lambda: LSTM(1, 4, 3, proj_size=4), V, "proj_size"),
    ("lstm proj_size negative", lambda: LSTM(1, 4, 3, proj_size=-1), V, "proj_size"),
    ("projected proj_size 0", lambda: ProjectedLSTM(1, 4, 3, proj_size=0), V, "proj_size"),
    ("bidirectional output 0", lambda: BidirectionalLSTM(1, 0, 3), V, "output_size"),
    ("linear in 0", lambda: Linear(0, 1), V, "input_size"),
    ("linear out float", lambda: Linear(2, 1.0), T, "output_size"),
    ("linear gain_weight -1", lambda: Linear(2, 1, gain_weight=-1), V, "gain_weight"),
    ("mu_w wrong size", lambda: setattr(Linear(2, 1), "mu_w", [1.0]), V, "mu_w"),
    ("var_w negative", lambda: setattr(Linear(2, 1), "var_w", [-1.0, 1.0]), V, "var_w"),
    ("mu_b nan", lambda: setattr(Linear(2, 1), "mu_b", [np.nan]), V, "mu_b"),
    ("var_b inf", lambda: setattr(Linear(2, 1), "var_b", [np.inf]), V, "var_b"),
    ("mu_w str", lambda: setattr(Linear(2, 1), "mu_w", ["a", "b"]), VT, "mu_w"),
    ("load_parameters wrong", lambda: Linear(2, 1).load_parameters([1.0], [1.0], [0.0], [1.0]),
     V, "mu_w"),
    ("torch lstm dropout", lambda: TorchLSTM(1, 4, dropout=0.5), V, "dropout"),
    ("torch lstm layers 0", lambda: TorchLSTM(1, 4, num_layers=0), V, "num_layers"),
    ("torch lstm hidden float", lambda: TorchLSTM(1, 2.5), T, "hidden_size"),
    ("torch lstm input shape", lambda: TorchLSTM(2, 3)(np.zeros((4, 3))), V, "input"),
    # ------------------------------------------------------------- Sequential
    ("sequential empty", lambda: Sequential(), V, "layer"),
    ("sequential not a layer", lambda: Sequential(LSTM(1, 4, 3), "Linear"), T, "layer"),
    ("sequential width mismatch", lambda: Sequential(LSTM(1, 4, 3), Linear(10, 1)), V,
     "expects 10 inputs"),
    ("sequential seq_len mismatch", lambda: Sequential(LSTM(1, 4, 3), LSTM(4, 4, 2)), V,
     "seq_len"),
    ("forward wrong width", lambda: _net()(np.zeros((2, 4))), V, "expects 3 values per row"),
    ("forward wrong 3d", lambda: _net()(np.zeros((2, 3, 2))), V, r"shape \(batch, 3, 1\)"),
    ("forward 4d", lambda: _net()(np.zeros((1, 2, 3, 1))), V, "mu_x must be"),
    ("forward flat partial", lambda: _net()(np.zeros(7)), V, "whole number of rows"),
    ("forward empty", lambda: _net()(np.zeros((0, 3))), V, "no rows"),
    ("forward nan", lambda: _net()(np.full((2, 3), np.nan)), V, "mu_x must be finite"),
    ("forward inf", lambda: _net()(np.full((2, 3), np.inf)), V, "mu_x must be finite"),
    ("forward overflow", lambda: _net()(np.full((2, 3), 1e20)), V, "mu_x holds a value"),
    ("forward str", lambda: _net()(np.array([["a", "b", "c"]])), T, "mu_x"),
    ("forward complex", lambda: _net()(np.ones((2, 3)) * 1j), T, "mu_x"),
    ("forward object", lambda: _net()([[1, 2, None]]), T, "mu_x"),
    ("forward var negative", lambda: _net()(np.zeros((2, 3)), -np.ones((2, 3))), V, "var_x"),
    ("forward var shape", lambda: _net()(np.zeros((2, 3)), np.ones((2, 2))), V, "var_x"),
    ("forward var nan", lambda: _net()(np.zeros((2, 3)), np.full((2, 3), np.nan)), V,
     "var_x"),
    ("forward var overflow", lambda: _net()(np.zeros((2, 3)), np.full((2, 3), 1e30)), V,
     "var_x holds a value"),
    ("update before forward", lambda: _net().update(np.zeros(2), 0.1), RuntimeError,
     "no output yet"),
    ("update y size", lambda: _forward(_net()).update(np.zeros(3), 0.1), V, "mu_obs"),
    ("update y inf", lambda: _forward(_net()).update(np.array([np.inf, 0]), 0.1), V,
     "mu_obs"),
    ("update var 0", lambda: _forward(_net()).update(np.zeros(2), 0.0), V, "var_obs"),
    ("update var negative", lambda: _forward(_net()).update(np.zeros(2), -1.0), V, "var_obs"),
    ("update var inf", lambda: _forward(_net()).update(np.zeros(2), np.inf), V, "var_obs"),
    ("update var str", lambda: _forward(_net()).update(np.zeros(2), "0.1"), VT, "var_obs"),
    ("update var bool", lambda: _forward(_net()).update(np.zeros(2), True), VT, "var_obs"),
    ("update var short", lambda: _forward(_net()).update(np.zeros(2), np.ones(1)), V,
     "var_obs must have 2 values"),
    ("update var unequal long", lambda: _forward(_net()).update(np.zeros(2), np.arange(1, 4.)),
     V, "var_obs must have 2 values"),
    ("set_delta_z before forward", lambda: _net().set_delta_z([0.0], [0.0]), RuntimeError,
     "forward"),
    ("set_delta_z size", lambda: _forward(_net()).set_delta_z(np.zeros(3), np.zeros(2)), V,
     "delta_mu"),
    ("set_delta_z nan", lambda: _forward(_net()).set_delta_z([np.nan, 0], [0, 0]), V,
     "delta_mu"),
    ("backward without deltas", lambda: _forward(_net()).backward(), RuntimeError, "deltas"),
    ("backward in eval", lambda: _forward(_net().eval()).backward(), RuntimeError, "eval"),
    ("step before backward", lambda: _forward(_net()).step(), RuntimeError, "backward"),
    ("to_dtype int", lambda: _net().to_dtype("int32"), V, "dtype"),
    ("to_dtype banana", lambda: _net().to_dtype("banana"), VT, "dtype"),
    ("to_device tpu", lambda: _net().to_device("tpu"), V, "device"),
    ("set_threads 0", lambda: _net().set_threads(0), V, "num_threads"),
    ("set_threads float", lambda: _net().set_threads(1.5), T, "num_threads"),
    ("load_state_dict keys", lambda: _net().load_state_dict({"x": 1}), V, "keys"),
    ("load_state_dict shapes", lambda: _net().load_state_dict(
        {k: tuple(np.zeros(1) for _ in range(4)) for k in _net().state_dict()}), V, "mu_w"),
    ("set_lstm_states not lstm", lambda: _net().set_lstm_states({1: (np.zeros(3),) * 4}),
     V, "not an LSTM layer"),
    ("lengths too long", lambda: _net()(np.zeros((2, 3, 1)), lengths=[4, 2]), V, "lengths"),
    ("lengths zero", lambda: _net()(np.zeros((2, 3, 1)), lengths=[0, 2]), V, "lengths"),
    ("lengths wrong count", lambda: _net()(np.zeros((2, 3, 1)), lengths=[1, 2, 3]), V,
     "lengths"),
    ("lengths and mask", lambda: _net()(np.zeros((2, 3, 1)), lengths=[1, 2],
                                        mask=np.ones((2, 3), bool)), V, "mask"),
    ("lengths float", lambda: _net()(np.zeros((2, 3, 1)), lengths=[1.5, 2]), VT, "lengths"),
    ("lengths without lstm first", lambda: Sequential(Linear(3, 1))(np.zeros((2, 3)),
                                                                    lengths=[1, 2]), VT,
     "LSTM first"),
    # ---------------------------------------------------------- OutputUpdater
    ("updater device", lambda: OutputUpdater("tpu"), V, "device"),
    ("updater max_innovation 0", lambda: OutputUpdater(max_innovation=0), V,
     "max_innovation"),
    ("updater max_innovation str", lambda: OutputUpdater(max_innovation="5"), T,
     "max_innovation"),
    ("updater before forward", lambda: OutputUpdater().update(
        _net().output_z_buffer, np.zeros(2), 0.1, _net().input_delta_z_buffer), RuntimeError,
     "no output yet"),
    ("heteros odd outputs", lambda: OutputUpdater().update_heteros(
        _forward(_net()).output_z_buffer, np.zeros(2), _net().input_delta_z_buffer), V,
     "pairs"),
    ("heteros size", lambda: OutputUpdater().update_heteros(
        _forward(Sequential(LSTM(1, 4, 3), Linear(12, 2), EvenExp())).output_z_buffer,
        np.zeros(5), _net().input_delta_z_buffer), V, "mu_obs"),
    # ------------------------------------------------------------ utilities
    ("standardize std negative", lambda: Normalizer.standardize(np.ones(3), 0.0, -1.0), V,
     "std"),
    ("standardize mu nan", lambda: Normalizer.standardize(np.ones(3), np.nan, 1.0), V, "mu"),
    ("standardize str", lambda: Normalizer.standardize(["a"], 0.0, 1.0), T, "data"),
    ("compute_mean_std empty", lambda: Normalizer.compute_mean_std(np.zeros(0)), V, "data"),
    ("compute_mean_std all nan", lambda: Normalizer.compute_mean_std(np.full(3, np.nan)), V,
     "data"),
    ("unstandardize_std negative", lambda: Normalizer.unstandardize_std(-np.ones(2), 1.0), V,
     "norm_std"),
    ("scheduler decay 0", lambda: exponential_scheduler(1.0, 0.3, 0.0, 1), V,
     "decaying_factor"),
    ("scheduler min negative", lambda: exponential_scheduler(1.0, -0.3, 0.9, 1), V, "min_v"),
    ("scheduler iter negative", lambda: exponential_scheduler(1.0, 0.3, 0.9, -1), V,
     "curr_iter"),
    ("manual_seed negative", lambda: manual_seed(-1), V, "seed"),
    ("manual_seed float", lambda: manual_seed(1.5), V, "seed"),
    ("seeded str", lambda: seeded("1").__enter__(), V, "seed"),
    ("utils num_features", lambda: Utils().create_rolling_window(np.zeros((9, 2)), [0], 3, 1,
                                                                  3, 1), V, "num_features"),
    ("utils output_col", lambda: Utils().create_rolling_window(np.zeros((9, 2)), [5], 3, 1,
                                                                2, 1), V, "output_col"),
    ("utils stride 0", lambda: Utils().create_rolling_window(np.zeros((9, 2)), [0], 3, 1, 2,
                                                              0), V, "stride"),
    ("utils too short", lambda: Utils().create_rolling_window(np.zeros((3, 1)), [0], 3, 1, 1,
                                                               1), V, "window"),
    # ----------------------------------------------------------------- metric
    ("mse sizes", lambda: metric.mse(np.zeros(3), np.zeros(4)), V, "observation"),
    ("mse empty", lambda: metric.mse(np.zeros(0), np.zeros(0)), V, "no observed"),
    ("mse nan prediction", lambda: metric.mse(np.array([np.nan]), np.zeros(1)), V,
     "prediction"),
    ("rmse str", lambda: metric.rmse(["a"], [1.0]), T, "prediction"),
    ("mae complex", lambda: metric.mae(np.ones(2) * 1j, np.ones(2)), T, "prediction"),
    ("log_likelihood std 0", lambda: metric.log_likelihood(np.zeros(2), np.zeros(2),
                                                           np.zeros(2)), V, "std"),
    ("log_likelihood std negative", lambda: metric.log_likelihood(np.zeros(2), np.zeros(2),
                                                                  -np.ones(2)), V, "std"),
    ("log_likelihood std size", lambda: metric.log_likelihood(np.zeros(2), np.zeros(2),
                                                              np.ones(3)), V, "std"),
    ("crps std nan", lambda: metric.crps(np.zeros(2), np.zeros(2), np.full(2, np.nan)), V,
     "std"),
    ("coverage level 1", lambda: metric.interval_coverage(np.zeros(2), np.zeros(2),
                                                          np.ones(2), 1.0), V, "level"),
    ("coverage level negative", lambda: metric.interval_coverage(np.zeros(2), np.zeros(2),
                                                                 np.ones(2), -0.5), V, "level"),
    ("calibration levels", lambda: metric.calibration(np.zeros(2), np.zeros(2), np.ones(2),
                                                      levels=[0.5, 2.0]), V, "level"),
    ("crps_ensemble shape", lambda: metric.crps_ensemble(np.zeros(3), np.zeros(3)), V,
     "samples"),
    ("crps_ensemble rows", lambda: metric.crps_ensemble(np.zeros((3, 5)), np.zeros(4)), V,
     "observation"),
    ("mixture shapes", lambda: mixture_moments(np.zeros((2, 3)), np.ones((2, 4))), V,
     "variances"),
    ("mixture negative", lambda: mixture_moments(np.zeros((2, 3)), -np.ones((2, 3))), V,
     "variances"),
    # ------------------------------------------------------------------- data
    ("windows lookback 0", lambda: rolling_windows(np.zeros(10), 0), V, "input_seq_len"),
    ("windows horizon 0", lambda: rolling_windows(np.zeros(10), 3, 0), V, "output_seq_len"),
    ("windows stride float", lambda: rolling_windows(np.zeros(10), 3, 1, 1.5), T, "stride"),
    ("windows too short", lambda: rolling_windows(np.zeros(3), 3), V, "window"),
    ("windows output_col", lambda: rolling_windows(np.zeros((10, 2)), 3, output_col=(4,)), V,
     "output_col"),
    ("windows covariates rows", lambda: rolling_windows(np.zeros(10), 3,
                                                        covariates=np.zeros((9, 1))), V,
     "covariates"),
    ("windows targets rows", lambda: rolling_windows(np.zeros(10), 3, targets=np.zeros(8)), V,
     "targets"),
    ("windows 3d", lambda: rolling_windows(np.zeros((2, 2, 2)), 1), V, "data"),
    ("fill method", lambda: fill_missing(np.zeros(3), "bfill2"), V, "method"),
    ("fill raise", lambda: fill_missing(np.array([1.0, np.nan]), "raise"), V, "NaN"),
    ("fill all nan", lambda: fill_missing(np.array([np.nan, np.nan])), V, "no observed"),
    ("split fractions", lambda: chronological_split(np.zeros(10), 0.6, 0.6), V, "validation"),
    ("split negative", lambda: chronological_split(np.zeros(10), -0.1, 0.1), V, "validation"),
    ("time_features unknown", lambda: time_features(np.array(["2020-01-01"],
                                                             dtype="datetime64[D]"),
                                                    ("weekofyear",)), V, "features"),
    ("time_features not dates", lambda: time_features(np.arange(3), ("month",)), VT, "dates"),
    ("batches size 0", lambda: list(batches(np.zeros((4, 2)), np.zeros(4), 0)), V,
     "batch_size"),
    ("batches rows", lambda: list(batches(np.zeros((4, 2)), np.zeros(3), 2)), V, "y"),
    # ------------------------------------------------------------------ dates
    ("dates unsorted", lambda: check_dates(np.array(["2020-01-02", "2020-01-01"],
                                                    dtype="datetime64[D]")), V, "increas"),
    ("dates duplicated", lambda: check_dates(np.array(["2020-01-01", "2020-01-01"],
                                                      dtype="datetime64[D]")), V, "unique"),
    ("dates nat", lambda: check_dates(np.array(["2020-01-01", "NaT"], dtype="datetime64[D]")),
     V, "NaT"),
    ("dates unparseable", lambda: check_dates(["2020-01-01", "yesterday"]), V, "dates"),
    ("dates numbers", lambda: check_dates([1.5, 2.5]), VT, "dates"),
    ("dates length", lambda: check_dates(np.array(["2020-01-01"], dtype="datetime64[D]"), 3),
     V, "dates"),
    ("infer one date", lambda: infer_frequency(np.array(["2020-01-01"],
                                                        dtype="datetime64[D]")), V, "dates"),
    ("infer irregular", lambda: infer_frequency(np.array(["2020-01-01T00", "2020-01-02T00",
                                                          "2020-01-03T12"],
                                                         dtype="datetime64[h]")), V,
     "could not infer the frequency"),
    ("future horizon 0", lambda: future_dates(np.array(["2020-01-01", "2020-01-02"],
                                                       dtype="datetime64[D]"), 0), V, "horizon"),
    ("future bad freq", lambda: future_dates(np.array(["2020-01-01", "2020-01-02"],
                                                      dtype="datetime64[D]"), 2, "fortnightly"),
     V, "freq"),
    # ------------------------------------------------------------- Forecaster
    ("forecaster lookback 0", lambda: Forecaster(lookback=0), V, "lookback"),
    ("forecaster hidden float", lambda: Forecaster(hidden_size=2.5), T, "hidden_size"),
    ("forecaster layers 0", lambda: Forecaster(num_layers=0), V, "num_layers"),
    ("forecaster noise", lambda: Forecaster(noise="laplace"), V, "noise"),
    ("forecaster sigma_v 0", lambda: Forecaster(sigma_v=0), V, "sigma_v"),
    ("forecaster sigma_v_min nan", lambda: Forecaster(sigma_v_min=float("nan")), VT,
     "sigma_v_min"),
    ("forecaster decay negative", lambda: Forecaster(decay=-0.5), V, "decay"),
    ("forecaster seasonal without season", lambda: Forecaster(seasonal_difference=True), V,
     "season"),
    ("forecaster season 0", lambda: Forecaster(season=0), V, "season"),
    ("forecaster calendar", lambda: Forecaster(calendar=("weekofyear",)), V, "calendar"),
    ("forecaster fill", lambda: Forecaster(fill="zero"), V, "fill"),
    ("forecaster batch 0", lambda: Forecaster(batch_size=0), V, "batch_size"),
    ("forecaster ensemble 0", lambda: Forecaster(ensemble=0), V, "ensemble"),
    ("forecaster method", lambda: Forecaster(method="exact"), V, "method"),
    ("forecaster dtype banana", lambda: Forecaster(dtype="banana"), T, "dtype"),
    ("forecaster dtype int", lambda: Forecaster(dtype="int64"), V, "dtype"),
    ("forecaster seed negative", lambda: Forecaster(seed=-3), V, "seed"),
    ("forecaster seed str", lambda: Forecaster(seed="0"), V, "seed"),
    ("forecaster device", lambda: Forecaster(device="tpu"), V, "device"),
    ("forecaster freq int", lambda: Forecaster(freq=12), T, "freq"),
    ("fit y 3d", lambda: Forecaster(lookback=4).fit(np.zeros((40, 2, 2)), progress=False), V,
     "1-D"),
    ("fit y str", lambda: Forecaster(lookback=4).fit(["a"] * 40, progress=False), T, "y"),
    ("fit y complex", lambda: Forecaster(lookback=4).fit(Y * 1j, progress=False), T, "y"),
    ("fit y inf", lambda: Forecaster(lookback=4).fit(np.r_[Y, np.inf], progress=False), V,
     "y"),
    ("fit y huge", lambda: Forecaster(lookback=4).fit(1e300 * Y, progress=False), V,
     "y holds a value of magnitude"),
    ("hybrid y huge", lambda: HybridForecaster().fit(-1e200 * Y, progress=False), V,
     "y holds a value of magnitude"),
    ("fit y too short", lambda: Forecaster(lookback=40).fit(Y[:30], progress=False), V,
     "lookback"),
    ("fit y all nan", lambda: Forecaster(lookback=4).fit(np.full(40, np.nan),
                                                         progress=False), V, "observed"),
    ("fit validation 1", lambda: Forecaster(lookback=4).fit(Y, validation=1.0,
                                                            progress=False), V, "validation"),
    ("fit epochs 0", lambda: Forecaster(lookback=4).fit(Y, epochs=0, progress=False), V,
     "epochs"),
    ("fit patience float", lambda: Forecaster(lookback=4).fit(Y, patience=2.5,
                                                              progress=False), T, "patience"),
    ("fit refit", lambda: Forecaster(lookback=4).fit(Y, refit="twice", progress=False), V,
     "refit"),
    ("fit covariates rows", lambda: Forecaster(lookback=4).fit(Y, np.zeros((10, 1)),
                                                               progress=False), V,
     "covariates"),
    ("fit covariates nan", lambda: Forecaster(lookback=4).fit(Y, np.full((80, 1), np.nan),
                                                              progress=False), V, "covariates"),
    ("fit dates length", lambda: Forecaster(lookback=4).fit(
        Y, dates=np.arange("2000-01", "2001-01", dtype="datetime64[M]"), progress=False), V,
     "dates"),
    ("fit calendar without dates", lambda: Forecaster(lookback=4, calendar=("month",)).fit(
        Y, progress=False), V, "calendar"),
    ("fit calibrate without validation", lambda: Forecaster(lookback=4).fit(
        Y, validation=0, calibrate=True, progress=False), V, "calibrate"),
    ("forecast before fit", lambda: Forecaster().forecast(3), NotFittedError, "not fitted"),
    ("predict before fit", lambda: Forecaster().predict(Y), NotFittedError, "not fitted"),
    ("backtest before fit", lambda: Forecaster().backtest(Y, 3), NotFittedError, "not fitted"),
    ("update before fit", lambda: Forecaster().update(Y[:3]), NotFittedError, "not fitted"),
    ("save before fit", lambda: Forecaster().save("x.npz"), NotFittedError, "not fitted"),
    ("forecast horizon 0", lambda: _fitted(Forecaster).forecast(0), V, "horizon"),
    ("forecast method", lambda: _fitted(Forecaster).forecast(3, method="exact"), V, "method"),
    ("forecast samples 0", lambda: _fitted(Forecaster).forecast(3, method="samples",
                                                                num_samples=0), V,
     "num_samples"),
    ("forecast short history", lambda: _fitted(Forecaster).forecast(3, y=Y[:2]), V,
     "history"),
    ("forecast covariates unexpected", lambda: _fitted(Forecaster).forecast(
        3, y=Y, covariates=np.zeros((80, 1))), V, "covariate"),
    ("backtest horizon none", lambda: _fitted(Forecaster).backtest(Y), V, "horizon"),
    ("backtest stride 0", lambda: _fitted(Forecaster).backtest(Y, 3, stride=0), V, "stride"),
    ("backtest origins low", lambda: _fitted(Forecaster).backtest(Y, 3, origins=[1, 50]), V,
     "origins"),
    ("backtest origins unsorted", lambda: _fitted(Forecaster).backtest(
        Y, 3, origins=[50, 40]), V, "origins"),
    ("backtest online before seen", lambda: _fitted(Forecaster).backtest(
        Y, 3, origins=[40, 50], online=True), V, "online"),
    ("update dates unexpected", lambda: _fitted(Forecaster).update(
        Y[:3], dates_new=np.arange(3).astype("datetime64[D]")), V, "dates_new"),
    ("update y 2d", lambda: _fitted(Forecaster).update(np.zeros((3, 2))), V, "1-D"),
    ("variance_sources horizon", lambda: _fitted(Forecaster).variance_sources(Y, 0, [40]), V,
     "horizon"),
    ("auto horizon 0", lambda: Forecaster.auto(Y, horizon=0, progress=False), V, "horizon"),
    ("auto season 0", lambda: Forecaster.auto(Y, season=0, progress=False), V, "season"),
    ("auto combine 0", lambda: Forecaster.auto(Y, combine=0, progress=False), V, "combine"),
    ("load missing", lambda: Forecaster.load("/nonexistent/model.npz"), FileNotFoundError,
     "model.npz"),
    # --------------------------------------------------------------- hybrid
    ("hybrid level_noise 0", lambda: HybridForecaster(level_noise=0), V, "level_noise"),
    ("hybrid sigma_v str", lambda: HybridForecaster(sigma_v="0.2"), T, "sigma_v"),
    ("hybrid lookback 0", lambda: HybridForecaster(lookback=0), V, "lookback"),
    ("hybrid seed negative", lambda: HybridForecaster(seed=-1), V, "seed"),
    ("hybrid dtype", lambda: HybridForecaster(dtype="float16"), V, "dtype"),
    ("hybrid covariates", lambda: HybridForecaster().fit(Y, np.zeros((80, 1)),
                                                         progress=False), V, "covariates"),
    ("hybrid refit", lambda: HybridForecaster().fit(Y, refit="retrain2", progress=False), V,
     "refit"),
    ("hybrid all nan", lambda: HybridForecaster().fit(np.full(40, np.nan), progress=False), V,
     "observed"),
    ("hybrid forecast before fit", lambda: HybridForecaster().forecast(3), NotFittedError,
     "not fitted"),
    ("hybrid forecast horizon", lambda: _fitted(HybridForecaster).forecast(-1), V, "horizon"),
    ("hybrid backtest origins", lambda: _fitted(HybridForecaster).backtest(Y, 3,
                                                                          origins=[0, 5]), V,
     "origins"),
    ("hybrid update dates", lambda: _fitted(HybridForecaster).update(
        Y[:3], dates_new=np.arange(3).astype("datetime64[D]")), V, "dates_new"),
    ("combination one", lambda: Combination([_fitted(Forecaster)]), V, "two or more"),
    ("combination not forecaster", lambda: Combination([_fitted(Forecaster), "model"]), T,
     "forecaster"),
    ("combination unfitted", lambda: Combination([_fitted(Forecaster), Forecaster()]), V,
     "fitted"),
]


def _cli(args):
    return cli_main(["forecast", *args])


CLI_PROBES = [
    ("cli missing file", ["/nonexistent.csv", "--target", "y"], "nonexistent.csv"),
    ("cli horizon 0", ["{csv}", "--target", "y", "--horizon", "0"], "--horizon"),
    ("cli unknown target", ["{csv}", "--target", "sales"], "sales"),
    ("cli calendar unknown", ["{csv}", "--target", "y", "--time-col", "date", "--calendar",
                              "weekofyear"], "calendar"),
    ("cli output is input", ["{csv}", "--target", "y", "--output", "{csv}"], "--output"),
    ("cli output folder missing", ["{csv}", "--target", "y", "--output",
                                   "/nonexistent/dir/out.csv"], "--output"),
    ("cli lookback 0", ["{csv}", "--target", "y", "--lookback", "0"], "lookback"),
    ("cli epochs 0", ["{csv}", "--target", "y", "--epochs", "0"], "epochs"),
    ("cli plot is input", ["{csv}", "--target", "y", "--plot", "{csv}"], "--plot"),
    ("cli output is a folder", ["{csv}", "--target", "y", "--output", "/tmp"], "folder"),
    ("cli non-numeric target", ["{csv}", "--target", "date"], "date"),
]


@pytest.mark.parametrize("name, call, exc, pattern", PROBES, ids=[p[0] for p in PROBES])
def test_probe(name, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    dates = np.arange("2020-01-01", "2020-03-01", dtype="datetime64[D]")
    path.write_text("date,y\n" + "\n".join(f"{d},{np.sin(i / 3):.4f}"
                                           for i, d in enumerate(dates)) + "\n")
    return path


@pytest.mark.parametrize("name, args, pattern", CLI_PROBES, ids=[p[0] for p in CLI_PROBES])
def test_cli_probe(name, args, pattern, csv_file, capsys):
    """The command fails before any training, with one line naming the option."""
    args = [a.replace("{csv}", str(csv_file)) for a in args]
    before = csv_file.read_text()
    code = _cli(args + ["--epochs", "1", "--quiet"] if "--epochs" not in args else args)
    err = capsys.readouterr().err
    assert code != 0
    assert pattern in err, err
    assert "Traceback" not in err
    assert csv_file.read_text() == before  # the data are never overwritten


def test_there_are_at_least_150_probes():
    assert len(PROBES) + len(CLI_PROBES) >= 150
