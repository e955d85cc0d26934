"""Bad input gets a clear error naming where, what was expected and what arrived."""

import numpy as np
import pytest

import tagi_lstm
from tagi_lstm.nn import LSTM, Linear, OutputUpdater, ReLU, Sequential


@pytest.fixture
def net():
    return Sequential(LSTM(2, 4, 5), LSTM(4, 4, 5), Linear(20, 1))


def test_wrong_input_width(net):
    with pytest.raises(ValueError, match=r"layer 0 LSTM\(2,4\) expects 10 values per row; got "
                                         r"mu_x of shape \(3, 9\)"):
        net(np.zeros((3, 9)))


def test_wrong_sequence_shape(net):
    with pytest.raises(ValueError,
                       match=r"expects input of shape \(batch, 5, 2\); got \(3, 5, 3\)"):
        net(np.zeros((3, 5, 3)))


def test_flat_input_not_a_whole_number_of_rows(net):
    with pytest.raises(ValueError, match=r"whole number of rows of 10 values .* got 25 values"):
        net(np.zeros(25))


def test_too_many_dimensions(net):
    with pytest.raises(ValueError, match=r"mu_x must be 1-D or \(batch, width\) or \(batch, "
                                         r"seq_len, input_size\); got shape \(1, 2, 5, 2\)"):
        net(np.zeros((1, 2, 5, 2)))


def test_seq_len_mismatch_between_layers():
    with pytest.raises(ValueError, match=r"seq_len mismatch: layer 0 LSTM\(2,4\) produces "
                                         r"sequences of 5 steps but layer 1 LSTM\(4,4\) has "
                                         r"seq_len 4"):
        Sequential(LSTM(2, 4, 5), LSTM(4, 4, 4))


def test_linear_width_mismatch_after_lstm():
    with pytest.raises(ValueError, match=r"layer 2 Linear\(16,1\) expects 16 inputs per row but "
                                         r"layer 1 LSTM\(4,4\) produces 20"):
        Sequential(LSTM(2, 4, 5), LSTM(4, 4, 5), Linear(16, 1))


def test_width_mismatch_through_activation():
    with pytest.raises(ValueError, match=r"layer 2 LSTM\(3,2\) expects 15 inputs per row "
                                         r"\(5 steps x 3 features\) but layer 0 LSTM\(2,4\) "
                                         r"produces 20"):
        Sequential(LSTM(2, 4, 5), ReLU(), LSTM(3, 2, 5))


@pytest.mark.parametrize("bad, what", [(np.nan, "1 NaN"), (np.inf, "1 infinite")])
def test_non_finite_inputs(net, bad, what):
    x = np.zeros((2, 5, 2))
    x[1, 3, 0] = bad
    with pytest.raises(ValueError, match=f"Sequential.forward: mu_x must be finite; found {what}"):
        net(x)


def test_negative_input_variance(net):
    x = np.zeros((2, 5, 2))
    v = np.full((2, 5, 2), 0.1)
    v[0, 0, 0] = -0.5
    with pytest.raises(ValueError, match=r"var_x must be non-negative .*minimum of -0.5"):
        net(x, v)


def test_mismatched_input_variance_shape(net):
    with pytest.raises(ValueError, match=r"var_x must have shape \(2, 5, 2\); got \(2, 10\)"):
        net(np.zeros((2, 5, 2)), np.zeros((2, 10)))


def test_non_numeric_input(net):
    with pytest.raises(TypeError, match=r"mu_x must hold real numbers; got dtype <U1"):
        net(np.array(["a"] * 10))


def test_unknown_init_method():
    with pytest.raises(ValueError, match=r"LSTM\(2,4\): init_method must be 'He' or 'Xavier'; "
                                         r"got 'Kaiming'"):
        LSTM(2, 4, 5, init_method="Kaiming")


def test_bad_sizes_and_gains():
    with pytest.raises(ValueError, match=r"LSTM: seq_len must be a positive integer; got 0"):
        LSTM(2, 4, 0)
    with pytest.raises(TypeError, match=r"Linear: input_size must be a positive integer; got "
                                        r"float 2.5"):
        Linear(2.5, 1)
    with pytest.raises(ValueError, match=r"gain_weight must be positive; got -1"):
        Linear(2, 1, gain_weight=-1)


def test_parameter_assignment_checks(net):
    layer = net.layers[2]
    with pytest.raises(ValueError, match=r"layer 2 Linear\(20,1\): mu_w must have 20 values; "
                                         r"got 19"):
        layer.mu_w = np.zeros(19)
    with pytest.raises(ValueError, match=r"layer 2 Linear\(20,1\): var_w must be non-negative"):
        layer.var_w = -np.ones(20)
    with pytest.raises(ValueError, match=r"var_b must be finite; found 1 NaN"):
        layer.var_b = np.array([np.nan])


def test_observation_errors(net):
    mu, _ = net(np.zeros((3, 5, 2)))
    updater = OutputUpdater(net.device)
    out, delta = net.output_z_buffer, net.input_delta_z_buffer
    with pytest.raises(ValueError, match=r"OutputUpdater.update: mu_obs must have 3 values; got 4"):
        updater.update(out, np.zeros(4), np.ones(3), delta)
    with pytest.raises(ValueError, match=r"var_obs must have 3 values, one per .*; got 1"):
        updater.update(out, np.zeros(3), np.ones(1), delta)
    with pytest.raises(ValueError, match=r"var_obs must be positive .*minimum of -1"):
        updater.update(out, np.zeros(3), np.array([1.0, -1.0, 1.0]), delta)
    with pytest.raises(ValueError, match=r"var_obs must be a positive finite number; got 0.0"):
        net.update(np.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"mu_obs must be finite; found 1 infinite"):
        updater.update(out, np.array([0, np.inf, 0]), np.ones(3), delta)


def test_call_order_errors(net):
    with pytest.raises(RuntimeError, match="needs a forward pass first"):
        net.backward()
    net(np.zeros((2, 5, 2)))
    with pytest.raises(RuntimeError, match="no output deltas for this forward pass"):
        net.backward()
    with pytest.raises(RuntimeError, match="needs a backward"):
        net.step()
    net.update(np.zeros(2), 0.1)
    with pytest.raises(RuntimeError, match="needs a backward"):
        net.step()
    net.eval()
    net(np.zeros((2, 5, 2)))
    net.set_delta_z(np.zeros(2), np.zeros(2))
    with pytest.raises(RuntimeError, match="eval mode; call net.train"):
        net.backward()


def test_sequential_arguments():
    with pytest.raises(TypeError, match="argument 1 must be a tagi_lstm layer; got str"):
        Sequential(Linear(2, 1), "relu")
    layer = Linear(2, 2)
    with pytest.raises(ValueError, match="same layer object appears twice"):
        Sequential(layer, layer)
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential()


def test_state_errors(net):
    with pytest.raises(ValueError,
                       match=r"layer 2 is not an LSTM layer; LSTM layers are at \[0, 1\]"):
        net.set_lstm_states({2: (0, 0, 0, 0)})
    with pytest.raises(ValueError, match=r"layer 0 LSTM\(2,4\): mu_h must have shape \(batch, 4\)"):
        net.set_lstm_states({0: (np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))})
    with pytest.raises(ValueError, match=r"var_c must be non-negative"):
        net.set_lstm_states({0: (np.zeros(4), np.zeros(4), np.zeros(4), -np.ones(4))})
    with pytest.raises(ValueError, match="init_state must be one of"):
        LSTM(2, 4, 5, init_state="ones")


def test_other_boundaries():
    with pytest.raises(ValueError, match="manual_seed: seed must be a non-negative integer"):
        tagi_lstm.manual_seed(-1)
    with pytest.raises(ValueError, match="device must be one of"):
        Sequential(Linear(1, 1)).to_device("tpu")
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'; got float16"):
        Sequential(Linear(1, 1)).to_dtype(np.float16)


def test_gpu_array_on_a_cpu_network(net):
    class FakeCupyArray:  # looks like CuPy to the check, without needing CuPy
        pass

    FakeCupyArray.__module__ = "cupy._core.core"
    with pytest.raises(TypeError, match=r"mu_x is a CuPy \(GPU\) array but this runs on the "
                                        r"CPU"):
        net(FakeCupyArray())
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda'\)"):
        net.to_device("cuda:1")


def test_no_numba_traceback_leaks(net):
    """Errors are raised before any kernel runs, so no Numba frames appear."""
    try:
        net(np.full((2, 5, 2), np.nan))
    except ValueError as exc:
        tb = exc.__traceback__
        frames = []
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        assert not any("numba" in f for f in frames)
