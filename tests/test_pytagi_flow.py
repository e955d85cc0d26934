"""pytagi drop-in: the LSTM forecasting flow of pytagi's example (a data loader built on
``Utils.create_rolling_window`` and ``Normalizer``, a training loop with an
``OutputUpdater`` and a ``var_obs`` built once for the full batch, recursive
validation, metrics), written by us with pytagi's names. Only the import block
differs from a pytagi script."""

from importlib import resources

import numpy as np
import pytest

# -- the only lines that differ from a pytagi script ----------------------------------
from tagi_lstm import Normalizer, Utils, exponential_scheduler, manual_seed, metric
from tagi_lstm.nn import LSTM, Linear, OutputUpdater, Sequential

# --------------------------------------------------------------------------------------


class SeriesLoader:
    """Windows of a CSV series, standardised with the training part's statistics."""

    def __init__(self, x_file, input_seq_len, output_seq_len, num_features, stride,
                 x_mean=None, x_std=None):
        values = np.loadtxt(x_file, delimiter=",", skiprows=1, ndmin=2)
        if x_mean is None:
            x_mean, x_std = Normalizer.compute_mean_std(values)
        self.x_mean, self.x_std = x_mean, x_std
        values = Normalizer.standardize(data=values, mu=x_mean, std=x_std)
        self.x, self.y = Utils().create_rolling_window(
            data=values, output_col=np.array([0]), input_seq_len=input_seq_len,
            output_seq_len=output_seq_len, num_features=num_features, stride=stride)

    def batches(self, batch_size, shuffle, rng):
        order = rng.permutation(len(self.x)) if shuffle else np.arange(len(self.x))
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            yield self.x[idx], self.y[idx].reshape(-1)


def _file(name):
    return resources.files("tagi_lstm") / "bundled" / "toy_time_series" / name


def test_pytagi_example_flow_runs_unchanged():
    manual_seed(1)
    input_seq_len, batch_size, num_epochs = 4, 16, 6
    train = SeriesLoader(_file("x_train_sin_data.csv"), input_seq_len, 1, 1, 1)
    test = SeriesLoader(_file("x_test_sin_data.csv"), input_seq_len, 1, 1, 1,
                        x_mean=train.x_mean, x_std=train.x_std)
    assert train.x.shape == (920, 4) and train.y.shape == (920, 1)
    assert len(train.x) % batch_size != 0  # so the last batch is shorter

    net = Sequential(LSTM(1, 8, input_seq_len), LSTM(8, 8, input_seq_len),
                     Linear(8 * input_seq_len, 1))
    out_updater = OutputUpdater(net.device)
    sigma_v = 1.0
    rng = np.random.default_rng(0)
    for epoch in range(num_epochs):
        sigma_v = exponential_scheduler(curr_v=sigma_v, min_v=0.3, decaying_factor=0.95,
                                        curr_iter=epoch)
        var_y = np.full((batch_size,), sigma_v ** 2, dtype=np.float32)  # full batch size
        for x, y in train.batches(batch_size, shuffle=True, rng=rng):
            m_pred, _ = net(x)
            out_updater.update(output_states=net.output_z_buffer, mu_obs=y, var_obs=var_y,
                               delta_states=net.input_delta_z_buffer)
            net.backward()
            net.step()
            assert np.isfinite(m_pred).all()

    # one-step-ahead test predictions, batch by batch
    net.eval()
    mu_preds, std_preds = [], []
    for x, _ in test.batches(batch_size, shuffle=False, rng=rng):
        m_pred, v_pred = net(x)
        mu_preds.extend(m_pred.reshape(-1))
        std_preds.extend(np.sqrt(v_pred.reshape(-1) + sigma_v ** 2))
    mu = Normalizer.unstandardize(np.array(mu_preds), train.x_mean[0], train.x_std[0])
    std = Normalizer.unstandardize_std(np.array(std_preds), train.x_std[0])
    truth = Normalizer.unstandardize(test.y.reshape(-1), train.x_mean[0], train.x_std[0])
    rmse = metric.rmse(mu, truth)
    log_lik = metric.log_likelihood(prediction=mu, observation=truth, std=std)
    assert np.isfinite(log_lik)
    # the sine is learned: far better than predicting its mean
    assert rmse < 0.5 * np.std(truth)


def test_var_obs_longer_than_the_batch():
    manual_seed(0)
    net = Sequential(LSTM(1, 4, 3), Linear(12, 1))
    updater = OutputUpdater(net.device)
    net(np.zeros((3, 3, 1), dtype=np.float32))
    # one value throughout: pytagi uses the first entries, so do we
    updater.update(net.output_z_buffer, np.zeros(3), np.full(8, 0.5),
                   net.input_delta_z_buffer)
    expected = net.input_delta_z_buffer.delta_mu.copy()
    updater.update(net.output_z_buffer, np.zeros(3), np.full(3, 0.5),
                   net.input_delta_z_buffer)
    np.testing.assert_array_equal(net.input_delta_z_buffer.delta_mu, expected)
    # different values: which ones belong to the batch would be a guess
    with pytest.raises(ValueError, match="var_obs must have 3 values"):
        updater.update(net.output_z_buffer, np.zeros(3), np.arange(1, 9.0),
                       net.input_delta_z_buffer)
    with pytest.raises(ValueError, match="var_obs must have 3 values"):
        updater.update(net.output_z_buffer, np.zeros(3), np.full(2, 0.5),
                       net.input_delta_z_buffer)


def test_rolling_window_layout_matches_pytagi():
    data = np.arange(20.0).reshape(10, 2)  # two features per step
    x, y = Utils().create_rolling_window(data, np.array([1]), 3, 2, 2, 2)
    # window k: rows 2k .. 2k+2, time-major; targets: column 1 of rows 2k+3, 2k+4
    assert x.shape == (3, 6) and y.shape == (3, 2)
    np.testing.assert_array_equal(x[1], data[2:5].reshape(-1))
    np.testing.assert_array_equal(y[1], data[5:7, 1])
    with pytest.raises(ValueError, match="num_features"):
        Utils().create_rolling_window(data, np.array([0]), 3, 1, 3, 1)
    with pytest.raises(ValueError, match="output_col"):
        Utils().create_rolling_window(data, np.array([2]), 3, 1, 2, 1)
