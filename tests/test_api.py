"""The public interface: layouts, the pytagi loop, initialisation, utilities."""

import numpy as np
import pytest
from scipy import integrate, stats

import tagi_lstm
from tagi_lstm import Normalizer, exponential_scheduler, metric
from tagi_lstm.data import batches, rolling_windows
from tagi_lstm.datasets import load_sine
from tagi_lstm.layers import VAR_FLOOR, cap_factor
from tagi_lstm.nn import LSTM, Linear, OutputUpdater, ReLU, Sequential, Sigmoid, Tanh


def _net():
    tagi_lstm.manual_seed(3)
    return Sequential(LSTM(2, 4, 5), LSTM(4, 4, 5), Linear(20, 3))


# ------------------------------------------------------------------ layouts
def test_flat_two_and_three_dimensional_inputs_agree():
    net = _net()
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype(np.float32)
    mu3, var3 = net(x)
    mu2, var2 = net(x.reshape(3, 10))
    mu1, var1 = net(x.reshape(-1))
    assert mu3.shape == var3.shape == (3, 3)
    assert mu1.shape == var1.shape == (9,)
    np.testing.assert_array_equal(mu3, mu2)
    np.testing.assert_array_equal(mu1, mu3.reshape(-1))
    np.testing.assert_array_equal(var1, var3.reshape(-1))
    assert mu3.dtype == np.float32


def test_outputs_are_copies_not_live_buffers():
    net = _net()
    rng = np.random.default_rng(1)
    mu_a, _ = net(rng.normal(size=(3, 10)))
    kept = mu_a.copy()
    net(rng.normal(size=(3, 10)))
    np.testing.assert_array_equal(mu_a, kept)


def test_linear_only_network_and_batch_size_changes():
    tagi_lstm.manual_seed(0)
    net = Sequential(Linear(3, 8), ReLU(), Linear(8, 8), Sigmoid(), Linear(8, 8), Tanh(),
                     Linear(8, 2))
    rng = np.random.default_rng(2)
    for batch in (4, 1, 7):
        mu, var = net(rng.normal(size=(batch, 3)))
        assert mu.shape == (batch, 2) and np.all(var > 0)
        net.update(rng.normal(size=(batch, 2)), 0.1)


def test_layer_info_and_names():
    net = _net()
    assert [la.get_layer_info() for la in net.layers] == ["LSTM(2,4)", "LSTM(4,4)",
                                                          "Linear(20,3)"]
    assert net.layers[0].get_layer_name() == "LSTM"
    assert net.num_parameters == 4 * 4 * 6 + 16 + 4 * 4 * 8 + 16 + 60 + 3
    assert "LSTM(4,4)" in repr(net)


# -------------------------------------------------------- the pytagi loop
def test_pytagi_loop_equals_update_shortcut():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 10))
    y = rng.normal(size=12)
    a, b = _net().double(), _net().double()
    a(x)
    updater = OutputUpdater(a.device)
    updater.update(output_states=a.output_z_buffer, mu_obs=y, var_obs=np.full(12, 0.2),
                   delta_states=a.input_delta_z_buffer)
    a.backward()
    a.step()
    b(x)
    b.update(y, 0.2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        for u, v in zip(pa, pb):
            np.testing.assert_array_equal(u, v)


def test_training_reduces_error_on_a_learnable_map():
    """A smoke check that updates move the mean towards the data."""
    tagi_lstm.manual_seed(0)
    net = Sequential(LSTM(1, 8, 4), Linear(32, 1))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(256, 4, 1))
    y = x[:, :, 0].sum(1, keepdims=True) * 0.5
    before = np.mean((net(x)[0] - y) ** 2)
    for _ in range(5):
        for xb, yb in batches(x, y, 16):
            net(xb)
            net.update(yb, 0.05)
    after = np.mean((net(x)[0] - y) ** 2)
    assert after < 0.2 * before


def test_nan_observations_are_skipped():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 10))
    y = rng.normal(size=(4, 3))
    net = _net().double()
    net(x)
    y_missing = y.copy()
    y_missing[1, 2] = np.nan
    updater = OutputUpdater(net.device)
    updater.update(net.output_z_buffer, y_missing, np.full(12, 0.2), net.input_delta_z_buffer)
    assert updater.num_missing == 1
    assert net.input_delta_z_buffer.delta_mu[1, 2] == 0
    assert net.input_delta_z_buffer.delta_var[1, 2] == 0
    assert np.all(net.input_delta_z_buffer.delta_mu[0] != 0)

    # all observations missing: nothing changes
    before = net.parameters()
    net(x)
    net.update(np.full(12, np.nan), 0.2)
    for pa, pb in zip(before, net.parameters()):
        for u, v in zip(pa, pb):
            np.testing.assert_array_equal(u, v)


def test_observation_deltas_formula():
    """delta_m = (y - m)/(s + s_v), delta_s = -1/(s + s_v), and the bias deltas follow."""
    net = Sequential(Linear(2, 2)).double()
    layer = net.layers[0]
    mu, var = net(np.array([[0.3, -1.0]]))
    y = np.array([0.5, -0.2])
    var_b = layer.var_b.copy()
    net.update(y, 0.4)
    np.testing.assert_allclose(net.input_delta_z_buffer.delta_mu[0], (y - mu[0]) / (var[0] + 0.4))
    np.testing.assert_allclose(net.input_delta_z_buffer.delta_var[0], -1 / (var[0] + 0.4))
    np.testing.assert_allclose(layer.delta_mu_b, var_b * (y - mu[0]) / (var[0] + 0.4))
    np.testing.assert_allclose(layer.delta_var_b, -var_b ** 2 / (var[0] + 0.4))
    assert layer.num_capped == 0


# ------------------------------------------------------------ initialisation
@pytest.mark.parametrize("method, expected_var", [("He", 1 / 40), ("Xavier", 2 / (40 + 24))])
def test_lstm_initialisation(method, expected_var):
    tagi_lstm.manual_seed(0)
    layer = LSTM(16, 24, 3, init_method=method, gain_weight=2.0, gain_bias=0.5)
    assert layer.mu_w.size == 4 * 24 * 40 and layer.mu_b.size == 96
    np.testing.assert_allclose(layer.var_w, 4 * expected_var, rtol=1e-6)
    np.testing.assert_allclose(layer.var_b, 0.25 * expected_var, rtol=1e-6)
    # means drawn from N(0, scale^2): 3840 draws
    assert abs(np.std(layer.mu_w) / np.sqrt(expected_var) - 1) < 0.05
    assert abs(np.mean(layer.mu_w)) < 4 * np.sqrt(expected_var / layer.mu_w.size)
    # every gate alike
    gates = layer.mu_w.reshape(4, 24, 40)
    for g in gates:
        assert abs(np.std(g) / np.sqrt(expected_var) - 1) < 0.1


def test_linear_initialisation_and_no_bias():
    layer = Linear(10, 5, bias=False, init_method="xavier")
    np.testing.assert_allclose(layer.var_w, 2 / 15, rtol=1e-6)
    assert layer.num_biases == 0 and layer.mu_b.size == 0


def test_manual_seed_reproduces_parameters():
    tagi_lstm.manual_seed(42)
    a = LSTM(3, 5, 2)
    tagi_lstm.manual_seed(42)
    b = LSTM(3, 5, 2)
    tagi_lstm.manual_seed(43)
    c = LSTM(3, 5, 2)
    np.testing.assert_array_equal(a.mu_w, b.mu_w)
    assert not np.array_equal(a.mu_w, c.mu_w)
    a.init_weight_bias()
    assert not np.array_equal(a.mu_w, b.mu_w)


def test_float32_default_and_float64_on_request():
    net = _net()
    assert net.dtype == np.float32 and net.layers[0].mu_w.dtype == np.float32
    net.double()
    assert net.dtype == np.float64 and net.layers[2].var_b.dtype == np.float64
    mu, _ = net(np.zeros((1, 10)))
    assert mu.dtype == np.float64


# ------------------------------------------------------------- the update
def test_cap_factor_rule():
    assert cap_factor(1) == 0.1 and cap_factor(2) == cap_factor(255) == 2
    assert cap_factor(256) == 3


def test_capped_update_and_floor_are_counted():
    net = Sequential(Linear(1, 1)).double()
    layer = net.layers[0]
    layer.mu_w = [0.0]
    layer.var_w = [1e-4]
    layer.mu_b = [0.0]
    layer.var_b = [1e-4]
    x = np.full((4, 1), 100.0)
    net(x)
    # pytagi's unbounded update, so that the observation's full pull reaches the weights
    OutputUpdater(max_innovation=None).update(net.output_z_buffer, np.full(4, 1e4), 1e-6,
                                              net.input_delta_z_buffer)
    net.backward()
    net.step()
    # mean deltas far beyond the cap sqrt(var)/2 of a batch of 4
    assert layer.num_capped >= 2
    assert abs(layer.mu_w[0] - np.sqrt(1e-4) / 2) < 1e-12
    counters = net.update_counters()["Linear.0"]
    assert counters == {"capped": layer.num_capped, "floored": layer.num_floored, "rejected": 0}
    assert np.all(layer.var_w > 0) and np.all(layer.var_b > 0)


def test_variance_floor_acts_and_is_counted():
    net = Sequential(Linear(1, 1, bias=False)).double()
    layer = net.layers[0]
    layer.mu_w = [0.0]
    layer.var_w = [1.0]
    # s_z = 100; a variance delta of -10 on z gives -1000 on the weight, capped
    # at sqrt(1)/0.1 = 10 for one sample, which still takes the variance below 0
    net(np.full((1, 1), 10.0))
    net.set_delta_z([0.0], [-10.0])
    net.backward()
    net.step()
    assert layer.num_capped == 1 and layer.num_floored == 1
    assert layer.var_w[0] == pytest.approx(VAR_FLOOR)
    assert net.get_neg_var_w_counter() == {"Linear(1,1)": 1}


# -------------------------------------------------------------- utilities
def test_normalizer_round_trip():
    data = np.random.default_rng(6).normal(3.0, 2.0, size=(100, 2))
    mu, std = Normalizer.compute_mean_std(data)
    z = Normalizer.standardize(data, mu, std)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Normalizer.unstandardize(z, mu, std), data, atol=1e-9)
    np.testing.assert_allclose(Normalizer.unstandardize_std(np.ones(2), std), std, rtol=1e-9)


def test_exponential_scheduler_compounds_to_a_floor():
    sigma = 1.0
    for epoch in range(50):
        sigma = exponential_scheduler(curr_v=sigma, min_v=0.3, decaying_factor=0.99,
                                      curr_iter=epoch)
    assert sigma == 0.3
    assert exponential_scheduler(1.0, 0.3, 0.99, 2) == pytest.approx(0.99 ** 2)


def test_metrics_against_definitions():
    rng = np.random.default_rng(7)
    m = rng.normal(size=200)
    s = rng.uniform(0.5, 2.0, size=200)
    y = m + s * rng.normal(size=200)
    assert metric.mse(m, y) == pytest.approx(np.mean((m - y) ** 2))
    assert metric.rmse(m, y) == pytest.approx(np.sqrt(np.mean((m - y) ** 2)))
    assert metric.mae(m, y) == pytest.approx(np.mean(np.abs(m - y)))
    assert metric.log_likelihood(m, y, s) == pytest.approx(np.mean(stats.norm.logpdf(y, m, s)))
    # CRPS = integral of (F(z) - 1{z >= y})^2 dz
    k = 3
    num = integrate.quad(lambda z: stats.norm.cdf(z, m[k], s[k]) ** 2, -np.inf, y[k])[0] + \
        integrate.quad(lambda z: (1 - stats.norm.cdf(z, m[k], s[k])) ** 2, y[k], np.inf)[0]
    assert metric.crps(m[k:k + 1], y[k:k + 1], s[k:k + 1]) == pytest.approx(num, rel=1e-6)
    inside = np.abs(y - m) <= stats.norm.ppf(0.95) * s
    assert metric.interval_coverage(m, y, s, 0.9) == pytest.approx(inside.mean())
    # NaN observations are ignored; shapes are never broadcast
    y_nan = y.copy()
    y_nan[:10] = np.nan
    assert metric.mse(m, y_nan) == pytest.approx(np.mean((m[10:] - y[10:]) ** 2))
    with pytest.raises(ValueError, match="observation must have 200 values; got 1"):
        metric.mse(m, y[:1])
    with pytest.raises(ValueError, match="std must be positive"):
        metric.crps(m, y, -s)


def test_rolling_windows_and_batches():
    series = np.arange(10.0)
    x, y = rolling_windows(series, 3)
    assert x.shape == (7, 3, 1) and y.shape == (7, 1)
    np.testing.assert_array_equal(x[2, :, 0], [2, 3, 4])
    assert y[2, 0] == 5
    x, y = rolling_windows(np.stack([series, -series], 1), 4, output_seq_len=2, stride=3,
                           output_col=[1])
    assert x.shape == (2, 4, 2) and y.shape == (2, 2)
    np.testing.assert_array_equal(y[1], [-7, -8])
    with pytest.raises(ValueError, match="has 3 steps but one window needs .* = 4"):
        rolling_windows(series[:3], 3)
    sizes = [len(b[0]) for b in batches(np.zeros((11, 2)), np.zeros(11), 4)]
    assert sizes == [4, 4, 3]
    sizes = [len(b[0]) for b in batches(np.zeros((11, 2)), np.zeros(11), 4, drop_last=True)]
    assert sizes == [4, 4]


def test_bundled_sine_data():
    data = load_sine()
    assert data["train"].shape == (924,) and data["test"].shape == (232,)
    assert data["train_dates"][0] == np.datetime64("2019-01-01")
    assert data["test_dates"][0] >= data["train_dates"][-1]


def test_cuda_without_cupy_or_gpu_is_a_clear_error():
    net = _net()
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001 - no CuPy or no GPU: the case under test
        with pytest.raises(RuntimeError, match="(CuPy|GPU)"):
            net.to_device("cuda")
    else:
        pytest.skip("a GPU is present; tests/test_cuda.py covers this device")
