"""CPU/GPU parity of the LSTM options (docs/theory.rst §10, oracle 6): bidirectional, projections,
variable lengths, last-step output, the torch-style call. Skips without a GPU."""

import numpy as np
import pytest
from test_cuda import (
    DTYPE_IDS,
    DTYPES,
    _assert_close,
    _assert_params_close,
    _observe,
    _require_gpu,
    _twins,
)

import tagi_lstm
from tagi_lstm.nn import LSTM, Linear, TorchLSTM

OPTION_CASES = {
    "projection": lambda: [LSTM(3, 6, 5, proj_size=2), Linear(10, 2)],
    "bidirectional": lambda: [LSTM(3, 4, 5, bidirectional=True), Linear(40, 2)],
    "bidirectional+projection, last step": lambda: [
        LSTM(3, 6, 5, bidirectional=True, proj_size=3, stateful=True), LSTM(6, 4, 5,
                                                                         return_sequences=False),
        Linear(4, 2)],
}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("lengths", [False, True], ids=["full windows", "variable lengths"])
@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_option_training_steps_agree(case, lengths, dtype):
    _require_gpu()
    nets = _twins(OPTION_CASES[case], dtype)
    for net in nets:
        net.input_state_update = True
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.normal(size=(7, 5, 3))
        var_x = rng.uniform(0, 0.1, size=x.shape)
        lens = rng.integers(1, 6, size=7) if lengths else None
        (mu_c, var_c), (mu_g, var_g) = (net(x, var_x, lengths=lens) for net in nets)
        _assert_close(mu_g, mu_c, "forward means")
        _assert_close(var_g, var_c, "forward variances")
        _observe(nets, rng.normal(size=mu_c.shape), 0.3)
        for net in nets:
            net.backward()
        for d_g, d_c in zip(nets[1].input_delta, nets[0].input_delta):
            _assert_close(d_g, d_c, "input deltas")
        for net in nets:
            net.step()
        _assert_params_close(nets[1], nets[0], "after step")
        for i, states in nets[0].get_lstm_states().items():
            for s_g, s_c in zip(nets[1].get_lstm_states()[i], states):
                _assert_close(s_g, s_c, f"layer {i} states")


@pytest.mark.gpu
def test_torch_style_call_agrees():
    _require_gpu()
    outs = []
    for device in ("cpu", "cuda"):
        tagi_lstm.manual_seed(3)
        net = TorchLSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2).double()
        net.to_device(device)
        x = np.random.default_rng(6).normal(size=(6, 4, 3))
        (mu, var), ((h, _), (c, _)) = net(x, lengths=np.array([6, 2, 5, 1]))
        net.update(np.random.default_rng(7).normal(size=np.shape(mu)), 0.2)
        outs.append([mu, var, h, c, *net.layers[0].parameters()])
    for g, c in zip(outs[1], outs[0]):
        _assert_close(g, c, "TorchLSTM")
