"""The LSTM options of torch.nn.LSTM and KnowIt (bidirectional, projections,
variable lengths, layouts, last-step output, initial states), checked in
float64 by the oracles of docs/theory.rst §10: forward identity against a NumPy reference
and against torch.nn.LSTM (when torch is installed), gradient identity by
central finite differences, and "each row alone" for variable lengths."""

import numpy as np
import pytest
from conftest import set_variances
from reference import central_difference, mean_params
from reference_options import lstm_layer, network

import tagi_lstm
from tagi_lstm.nn import LSTM, BidirectionalLSTM, Linear, ProjectedLSTM, Sequential, TorchLSTM

STACKS = {
    "projection": lambda T: [LSTM(3, 5, T, proj_size=2), Linear(2 * T, 2)],
    "bidirectional": lambda T: [LSTM(3, 4, T, bidirectional=True), Linear(8 * T, 2)],
    "bidirectional+projection, stacked": lambda T: [
        LSTM(3, 5, T, bidirectional=True, proj_size=3), LSTM(6, 4, T), Linear(4 * T, 1)],
    "last step": lambda T: [LSTM(3, 4, T, return_sequences=False), Linear(4, 1)],
    "bidirectional+projection, no bias, last step": lambda T: [
        LSTM(3, 4, T, bidirectional=True, proj_size=2, bias=False, return_sequences=False),
        Linear(4, 1)],
    "plain, stacked": lambda T: [LSTM(3, 4, T), LSTM(4, 3, T), Linear(3 * T, 2)],
}
LENGTHS = {"full windows": None, "variable lengths": np.array([6, 3, 1, 5])}


def _max_error(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---------------------------------------------------------------- forward identity
@pytest.mark.parametrize("lengths", LENGTHS.values(), ids=LENGTHS.keys())
@pytest.mark.parametrize("stack", STACKS.values(), ids=STACKS.keys())
def test_zero_variance_forward_equals_numpy_reference(stack, lengths, code_path,
                                                      record_property):
    net = Sequential(*stack(6)).double()
    set_variances(net, 0.0)
    x = np.random.default_rng(0).normal(size=(4, 6, 3))
    mu, var = net(x, lengths=lengths)
    expected = network(net.layers, mean_params(net), x.reshape(4, -1), lengths)
    assert mu.shape == expected.shape
    record_property("max_abs_error", _max_error(mu, expected))
    assert _max_error(mu, expected) <= 1e-10
    assert np.all(var == 0.0)


@pytest.mark.parametrize("kwargs", [dict(proj_size=2), dict(bidirectional=True),
                                    dict(bidirectional=True, proj_size=3)],
                         ids=["projection", "bidirectional", "both"])
def test_zero_variance_forward_with_given_states_and_final_states(kwargs, code_path):
    net = Sequential(LSTM(2, 4, 5, **kwargs)).double()
    set_variances(net, 0.0)
    layer = net.layers[0]
    rng = np.random.default_rng(1)
    D, F = (2 if layer.bidirectional else 1), layer.proj_size or 4
    x = rng.normal(size=(3, 5, 2))
    lengths = np.array([5, 2, 4])
    h0, c0 = rng.normal(size=(D, 3, F)), rng.normal(size=(D, 3, 4))
    state = (h0, 0 * h0, c0, 0 * c0) if D == 2 else (h0[0], 0 * h0[0], c0[0], 0 * c0[0])
    net.set_lstm_states({0: state})
    mu, _ = net(x, lengths=lengths)
    out, (h_n, c_n) = lstm_layer(layer, layer.mu_w, layer.mu_b, x, lengths, (h0, c0))
    assert _max_error(mu, out.reshape(3, -1)) <= 1e-10
    got = net.get_lstm_states()[0]
    assert _max_error(got[0], h_n if D == 2 else h_n[0]) <= 1e-10
    assert _max_error(got[2], c_n if D == 2 else c_n[0]) <= 1e-10


# ------------------------------------------------------------- gradient identity
def _finite_difference_check(net, x, lengths):
    rng = np.random.default_rng(2)
    set_variances(net, 1e-10, rng)
    mu, _ = net(x, lengths=lengths)
    net.set_delta_z(rng.normal(size=mu.size), -np.ones(mu.size))
    delta = net.input_delta_z_buffer.delta_mu.copy()
    net.input_state_update = True
    net.backward()
    params = mean_params(net)

    def objective(p, inputs):
        return np.sum(delta * network(net.layers, p, inputs, lengths))

    worst = 0.0
    for i, layer in enumerate(net.layers):
        for which, (dmu, var) in enumerate(((layer.delta_mu_w, layer.var_w),
                                            (layer.delta_mu_b, layer.var_b))):
            theta = params[i][which]
            grad = central_difference(lambda: objective(params, x), theta)
            if theta.size:
                rel = np.max(np.abs(dmu / var - grad)) / np.max(np.abs(grad))
                worst = max(worst, rel)
                assert rel <= 1e-5, f"layer {i} {'wb'[which]}: relative error {rel:.2e}"
    grad_x = central_difference(lambda: objective(params, x), x)
    rel = np.max(np.abs(net.input_delta[0] - grad_x)) / np.max(np.abs(grad_x))
    assert rel <= 1e-5, f"input deltas: relative error {rel:.2e}"
    return max(worst, rel)


GRADIENT_STACKS = {
    "projection": lambda: [LSTM(2, 3, 4, proj_size=2), Linear(8, 1)],
    "bidirectional": lambda: [LSTM(2, 3, 4, bidirectional=True), Linear(24, 1)],
    "bidirectional+projection, 2 layers": lambda: [
        LSTM(2, 3, 4, bidirectional=True, proj_size=2), LSTM(4, 2, 4, proj_size=1),
        Linear(4, 1)],
    "last step": lambda: [LSTM(2, 3, 4, bidirectional=True, return_sequences=False),
                          Linear(6, 2)],
}


@pytest.mark.parametrize("lengths", [None, np.array([4, 2, 1])],
                         ids=["full windows", "variable lengths"])
@pytest.mark.parametrize("stack", GRADIENT_STACKS.values(), ids=GRADIENT_STACKS.keys())
def test_parameter_and_input_deltas_equal_chain_rule(stack, lengths, code_path,
                                                     record_property):
    net = Sequential(*stack()).double()
    x = np.random.default_rng(3).normal(size=(3, 8))
    record_property("max_rel_error", _finite_difference_check(net, x, lengths))


# ----------------------------------------------------------- variable lengths
ALONE_STACKS = {
    "plain, 2 layers": lambda T: [LSTM(2, 4, T), LSTM(4, 3, T, return_sequences=False),
                                  Linear(3, 2)],
    "projection": lambda T: [LSTM(2, 4, T, proj_size=2, return_sequences=False), Linear(2, 2)],
    "bidirectional+projection": lambda T: [
        LSTM(2, 4, T, bidirectional=True, proj_size=3, return_sequences=False), Linear(6, 2)],
}


@pytest.mark.parametrize("stack", ALONE_STACKS.values(), ids=ALONE_STACKS.keys())
def test_variable_lengths_equal_each_row_alone(stack, code_path, record_property):
    """Forward moments, input deltas, final states and parameter deltas of a
    padded batch equal those of each row run alone (He variances, exact maths)."""
    T, lengths = 6, np.array([6, 2, 4])
    rng = np.random.default_rng(4)
    x, x_var = rng.normal(size=(3, T, 2)), rng.uniform(0, 0.1, size=(3, T, 2))
    delta_mu, delta_var = rng.normal(size=(3, 2)), -rng.uniform(0.1, 1, size=(3, 2))
    tagi_lstm.manual_seed(9)
    net = Sequential(*stack(T)).double()
    net.input_state_update = True
    mu, var = net(x, x_var, lengths=lengths)
    net.set_delta_z(delta_mu, delta_var)
    net.backward()
    batch_deltas = [np.concatenate([layer.delta_mu_w, layer.delta_mu_b, layer.delta_var_w,
                                    layer.delta_var_b]) for layer in net.layers]
    alone_deltas = [0.0] * len(net.layers)
    for row, L in enumerate(lengths):
        tagi_lstm.manual_seed(9)
        single = Sequential(*stack(L)).double()
        single.input_state_update = True
        m, v = single(x[row:row + 1, :L], x_var[row:row + 1, :L])
        assert _max_error(m, mu[row:row + 1]) <= 1e-14
        assert _max_error(v, var[row:row + 1]) <= 1e-14
        single.set_delta_z(delta_mu[row], delta_var[row])
        single.backward()
        d_in = net.input_delta[0].reshape(3, T, 2)[row]
        assert _max_error(single.input_delta[0].reshape(L, 2), d_in[:L]) <= 1e-14
        assert np.all(d_in[L:] == 0)
        for i, layer in enumerate(single.layers):
            alone_deltas[i] = alone_deltas[i] + np.concatenate([
                layer.delta_mu_w, layer.delta_mu_b, layer.delta_var_w, layer.delta_var_b])
        for i, states in single.get_lstm_states().items():
            batch_states = net.get_lstm_states()[i]
            for a, b in zip(states, batch_states):
                rows = b[:, row:row + 1] if b.ndim == 3 else b[row:row + 1]
                assert _max_error(a, rows) <= 1e-14
    record_property("max_abs_error_parameter_deltas",
                    max(_max_error(got, want) for got, want in zip(batch_deltas, alone_deltas)))
    for got, want in zip(batch_deltas, alone_deltas):
        assert _max_error(got, want) <= 1e-14 * max(1.0, np.max(np.abs(want)))


def test_padded_steps_output_zero_and_mask_equals_lengths():
    net = Sequential(LSTM(2, 3, 5, bidirectional=True)).double()
    x = np.random.default_rng(5).normal(size=(2, 5, 2))
    lengths = np.array([5, 3])
    mu, var = net(x, lengths=lengths)
    assert np.all(mu.reshape(2, 5, 6)[1, 3:] == 0) and np.all(var.reshape(2, 5, 6)[1, 3:] == 0)
    mask = np.arange(5) < lengths[:, None]
    mu_m, var_m = net(x, mask=mask)
    np.testing.assert_array_equal(mu_m, mu)
    np.testing.assert_array_equal(var_m, var)
    full = net(x)  # lengths apply to their call only
    assert not np.all(full[0].reshape(2, 5, 6)[1, 3:] == 0)


def test_packed_sequence_input_equals_lengths():
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence

    net = Sequential(LSTM(2, 3, 5, proj_size=2), Linear(10, 1)).double()
    x = np.random.default_rng(6).normal(size=(3, 5, 2))
    lengths = np.array([2, 5, 4])
    packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths),
                                  batch_first=True, enforce_sorted=False)
    np.testing.assert_array_equal(net(packed)[0], net(x, lengths=lengths)[0])


# ------------------------------------------------------------ torch-like calls
TORCH_CASES = {
    "1 layer": dict(num_layers=1),
    "2 layers, batch_first": dict(num_layers=2, batch_first=True),
    "bidirectional, 2 layers": dict(num_layers=2, bidirectional=True),
    "projection, 2 layers": dict(num_layers=2, proj_size=2),
    "bidirectional+projection, no bias, batch_first": dict(bidirectional=True, proj_size=3,
                                                           bias=False, batch_first=True),
}


def _torch_peer(ours, **kwargs):
    torch = pytest.importorskip("torch")
    peer = torch.nn.LSTM(ours.input_size, ours.hidden_size, **kwargs).double()
    state = {k: torch.from_numpy(v) for k, v in ours.torch_state_dict().items()}
    peer.load_state_dict(state)
    return torch, peer


def _hidden_states(net, rng, batch):
    D = net.num_directions
    h0 = rng.normal(size=(D * net.num_layers, batch, net.proj_size or net.hidden_size))
    c0 = rng.normal(size=(D * net.num_layers, batch, net.hidden_size))
    return h0, c0


@pytest.mark.parametrize("kwargs", TORCH_CASES.values(), ids=TORCH_CASES.keys())
def test_torch_style_call_equals_torch_lstm(kwargs, code_path, record_property):
    net = TorchLSTM(3, 5, **kwargs).double()
    set_variances(net.net, 0.0)
    torch, peer = _torch_peer(net, **kwargs)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 6, 3)) if kwargs.get("batch_first") else rng.normal(size=(6, 4, 3))
    h0, c0 = _hidden_states(net, rng, 4)
    (mu, var), ((h_mu, h_var), (c_mu, c_var)) = net(x, (h0, c0))
    with torch.no_grad():
        y, (h_n, c_n) = peer(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    assert mu.shape == tuple(y.shape) and h_mu.shape == tuple(h_n.shape)
    assert c_mu.shape == tuple(c_n.shape)
    record_property("max_abs_error", max(_max_error(ours, theirs.numpy())
                                         for ours, theirs in ((mu, y), (h_mu, h_n), (c_mu, c_n))))
    for ours, theirs in ((mu, y), (h_mu, h_n), (c_mu, c_n)):
        assert _max_error(ours, theirs.numpy()) <= 1e-10
    assert np.all(var == 0) and np.all(h_var == 0) and np.all(c_var == 0)


@pytest.mark.parametrize("kwargs", [dict(), dict(bidirectional=True, proj_size=2)],
                         ids=["plain", "bidirectional+projection"])
def test_torch_style_unbatched_and_packed_inputs_equal_torch_lstm(kwargs):
    net = TorchLSTM(3, 4, num_layers=2, **kwargs).double()
    set_variances(net.net, 0.0)
    torch, peer = _torch_peer(net, num_layers=2, **kwargs)
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(8)
    x = rng.normal(size=(5, 3))
    (mu, _), ((h_mu, _), (c_mu, _)) = net(x)
    with torch.no_grad():
        y, (h_n, c_n) = peer(torch.from_numpy(x))
    assert mu.shape == tuple(y.shape) and h_mu.shape == tuple(h_n.shape)
    for ours, theirs in ((mu, y), (h_mu, h_n), (c_mu, c_n)):
        assert _max_error(ours, theirs.numpy()) <= 1e-10

    xb = rng.normal(size=(3, 6, 3))
    lengths = torch.tensor([4, 6, 2])
    packed = pack_padded_sequence(torch.from_numpy(xb), lengths, batch_first=True,
                                  enforce_sorted=False)
    (mu_p, var_p), ((h_mu, _), (c_mu, _)) = net(packed)
    with torch.no_grad():
        y, (h_n, c_n) = peer(packed)
    ours, _ = pad_packed_sequence(mu_p, batch_first=True)
    theirs, _ = pad_packed_sequence(y, batch_first=True)
    assert _max_error(ours.numpy(), theirs.numpy()) <= 1e-10
    assert _max_error(h_mu, h_n.numpy()) <= 1e-10
    assert _max_error(c_mu, c_n.numpy()) <= 1e-10


def test_torch_style_call_matches_numpy_reference_and_pytagi_style_call():
    """Same layers, same numbers: TorchLSTM is a Sequential of LSTM layers."""
    tagi_lstm.manual_seed(3)
    net = TorchLSTM(2, 4, bidirectional=True, proj_size=3, batch_first=True).double()
    tagi_lstm.manual_seed(3)
    seq = Sequential(LSTM(2, 4, 5, bidirectional=True, proj_size=3)).double()
    x = np.random.default_rng(9).normal(size=(3, 5, 2))
    x_var = np.full(x.shape, 0.05)
    lengths = np.array([5, 1, 3])
    (mu, var), _ = net(x, var_input=x_var, lengths=lengths)
    mu_s, var_s = seq(x, x_var, lengths=lengths)
    np.testing.assert_array_equal(mu.reshape(3, -1), mu_s)
    np.testing.assert_array_equal(var.reshape(3, -1), var_s)
    set_variances(net.net, 0.0)
    (mu, _), _ = net(x, lengths=lengths)
    layer = net.layers[0]
    out, _ = lstm_layer(layer, layer.mu_w, layer.mu_b, x, lengths)
    assert _max_error(mu, out) <= 1e-10


def test_torch_style_training_updates_and_any_window_length():
    tagi_lstm.manual_seed(4)
    net = TorchLSTM(1, 6, num_layers=2, bidirectional=True, proj_size=1)
    before = [p.copy() for p in net.layers[0].parameters()]
    rng = np.random.default_rng(10)
    for steps in (5, 8, 5):
        x = rng.normal(size=(steps, 4, 1)).astype(np.float32)
        (mu, var), (h_n, c_n) = net(x)
        assert mu.shape == (steps, 4, 2) and h_n[0].shape == (4, 4, 1)
        assert c_n[1].shape == (4, 4, 6) and np.all(var > 0)
        y = np.full(mu.shape, np.nan, np.float32)
        y[-1] = rng.normal(size=(4, 2))  # observe the last step only
        net.update(y, 0.1)
    assert not np.allclose(before[0], net.layers[0].parameters()[0])
    assert all(np.all(np.isfinite(p)) for p in net.layers[1].parameters())


# ------------------------------------------------------------ states, last step
def test_projection_stateful_windows_recur_like_one_long_window(code_path):
    tagi_lstm.manual_seed(5)
    long_net = Sequential(LSTM(2, 4, 8, proj_size=2)).double()
    tagi_lstm.manual_seed(5)
    split_net = Sequential(LSTM(2, 4, 4, proj_size=2, stateful=True)).double()
    rng = np.random.default_rng(11)
    x, x_var = rng.normal(size=(3, 8, 2)), rng.uniform(0, 0.1, size=(3, 8, 2))
    mu, var = long_net(x, x_var)
    a, b = split_net(x[:, :4], x_var[:, :4]), split_net(x[:, 4:], x_var[:, 4:])
    np.testing.assert_allclose(np.concatenate([a[0], b[0]], 1), mu, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.concatenate([a[1], b[1]], 1), var, rtol=0, atol=1e-14)


@pytest.mark.parametrize("kwargs", [dict(proj_size=2), dict(bidirectional=True)],
                         ids=["projection", "bidirectional"])
def test_tracking_carries_posterior_states_and_random_init(kwargs):
    net = Sequential(LSTM(2, 4, 3, stateful=True, **kwargs), Linear(3 * net_width(kwargs), 1))
    rng = np.random.default_rng(12)
    x1, x2 = rng.normal(size=(2, 2, 3, 2))
    net(x1)
    prior = net.get_lstm_states()[0]
    net.update(rng.normal(size=2), 0.5)
    posterior = net.get_lstm_states()[0]
    assert not np.allclose(prior[0], posterior[0]) and np.all(posterior[1] <= prior[1] + 1e-7)
    out = net(x2)
    net.reset_lstm_states()
    net.set_lstm_states({0: posterior})
    np.testing.assert_array_equal(net(x2)[0], out[0])
    random_net = Sequential(LSTM(2, 4, 3, init_state="random", **kwargs))
    assert not np.allclose(random_net(x1)[0], random_net(x1)[0])


def net_width(kwargs):
    return (kwargs.get("proj_size") or 4) * (2 if kwargs.get("bidirectional") else 1)


def test_layer_classes_widths_and_save_load(tmp_path):
    bi = LSTM(2, 4, 3, bidirectional=True, proj_size=2, return_sequences=False)
    assert isinstance(bi, BidirectionalLSTM) and isinstance(bi, LSTM)
    assert isinstance(LSTM(2, 4, 3, proj_size=1), ProjectedLSTM)
    assert type(LSTM(2, 4, 3)) is LSTM
    assert bi.out_width == 4 and bi.num_weights == 2 * (4 * 4 * 4 + 2 * 4)
    net = Sequential(bi, Linear(4, 1))
    mu, _ = net(np.ones((2, 3, 2)))
    net.save(tmp_path / "net.npz")
    tagi_lstm.manual_seed(99)
    other = Sequential(LSTM(2, 4, 3, bidirectional=True, proj_size=2, return_sequences=False),
                       Linear(4, 1))
    other.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(other(np.ones((2, 3, 2)))[0], mu)


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, error, match", [
    (lambda: LSTM(2, 4, 3, proj_size=4), ValueError, r"proj_size must be 0 .* 3; got 4"),
    (lambda: LSTM(2, 4, 3, proj_size=-1), ValueError, r"proj_size"),
    (lambda: LSTM(2, 4, 3, proj_size=1.5), TypeError, r"proj_size must be a non-negative"),
    (lambda: TorchLSTM(2, 4, proj_size=5), ValueError, r"proj_size"),
    (lambda: TorchLSTM(2, 4, dropout=0.2), ValueError, r"dropout must be 0"),
    (lambda: TorchLSTM(2, 0), ValueError, r"hidden_size must be a positive integer"),
], ids=["proj_size = hidden", "negative proj_size", "float proj_size", "TorchLSTM proj_size",
        "dropout", "hidden_size 0"])
def test_impossible_constructions_are_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lengths=[5, 6]), ValueError, r"at most seq_len = 5; row 1 has length 6"),
    (dict(lengths=[5, 0]), ValueError, r"row 1 no valid step; zero-length"),
    (dict(lengths=[5]), ValueError, r"lengths must have shape \(2,\)"),
    (dict(lengths=[5.0, 2.0]), TypeError, r"lengths must hold integers"),
    (dict(mask=[[1, 0, 1, 0, 0], [1] * 5]), ValueError, r"mask must mark the first steps.*row 0"),
    (dict(mask=np.ones((2, 4), bool)), ValueError, r"mask must have shape \(2, 5\)"),
    (dict(lengths=[5, 2], mask=np.ones((2, 5), bool)), ValueError, r"lengths or mask, not both"),
], ids=["too long", "zero length", "wrong count", "floats", "mask not a prefix",
        "mask shape", "both"])
def test_bad_lengths_are_clear_errors(kwargs, error, match):
    net = Sequential(LSTM(2, 3, 5, bidirectional=True))
    with pytest.raises(error, match=match):
        net(np.zeros((2, 5, 2)), **kwargs)


def test_bad_torch_style_inputs_and_states_are_clear_errors():
    net = TorchLSTM(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"must be \(L, N, H_in\) or \(L, H_in\).*\(3,\)"):
        net(np.zeros(3))
    with pytest.raises(ValueError, match=r"3 features per step \(input_size\); got 2"):
        net(np.zeros((5, 2, 2)))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(4, 2, 4\)"):
        net(np.zeros((5, 2, 3)), (np.zeros((2, 2, 4)), np.zeros((4, 2, 4))))
    bi = Sequential(LSTM(2, 3, 4, bidirectional=True))
    with pytest.raises(ValueError, match=r"mu_h must have shape \(2, batch, width\)"):
        bi.set_lstm_states({0: (np.zeros((3, 3)),) * 4})
    with pytest.raises(ValueError, match=r"lengths need an LSTM first layer"):
        Sequential(Linear(4, 2))(np.zeros((2, 4)), lengths=[1, 1])
