"""Many members learning together (tagi_lstm.forecast.stacked): each round's updates in
one kernel call per layer, and every member ends bitwise as it would learning alone."""

import copy

import numpy as np
import pytest

from tagi_lstm.forecast import Forecaster, model, stacked
from tagi_lstm.forecast.member import Member
from tagi_lstm.forecast.stacked import StackedMembers, stackable

L, H = 6, 4


def _member(seed, noise="heteroscedastic", lookback=L, hidden=H, linear=False):
    return Member(1, lookback, hidden, 1, noise, 0.3, np.float64, "cpu", seed, linear)


def _assert_same_parameters(a, b):
    for (key, pa), pb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        for name, u, v in zip(("mu_w", "var_w", "mu_b", "var_b"), pa, pb):
            np.testing.assert_array_equal(u, v, err_msg=f"{key} {name}")


@pytest.mark.parametrize("noise", ["heteroscedastic", "fixed"])
def test_stacked_members_learn_bitwise_as_each_alone(noise):
    """Five slots, batches of 4; epochs of one to three batches with a short last one,
    missing targets, outliers, a slot left out of some rounds, a new member taking a
    slot half-way, and forecasts of held-out windows after some rounds' updates."""
    rng = np.random.default_rng(0)
    members = [_member(s, noise) for s in range(5)]
    alone = [copy.deepcopy(m) for m in members]
    stack = StackedMembers(members[0], len(members), batch_size=4)
    finished = None
    forecasts = 0
    for r in range(24):
        if r == 12:  # slot 0 gets a new member; the old one keeps what it learned
            finished, finished_alone = members[0], alone[0]
            members[0], alone[0] = _member(10, noise), _member(10, noise)
        requests, expected = [], []
        for s, (member, twin) in enumerate(zip(members, alone)):
            if s == 3 and r % 3 == 0:
                continue
            n = 4 if (r + s) % 5 else 1 + (r + s) % 11
            x, t = rng.standard_normal((n, L, 1)), 2 * rng.standard_normal(n)
            if r == 5:
                t[0] = np.nan
            if r == 7:
                t[-1] = 50.0  # bounded at max_innovation standard deviations
            if noise == "fixed":
                member.sigma_v_now = twin.sigma_v_now = 0.1 + 0.05 * s
            held = rng.standard_normal((1 + (r + s) % 6, L, 1)) if (r + s) % 2 else None
            requests.append((s, member, x, t, held))
            for start in range(0, n, 4):
                twin.learn(x[start:start + 4], t[start:start + 4])
            expected.append(None if held is None else twin.predict(held))
        for got, want in zip(stack.learn(requests), expected):
            if want is None:
                assert got is None
                continue
            forecasts += 1
            for u, v in zip(got, want):
                np.testing.assert_array_equal(u, v)
    assert forecasts > 20
    _assert_same_parameters(finished, finished_alone)  # taken out of its slot at r == 12
    stack.release()
    for member, twin in zip(members, alone):
        _assert_same_parameters(member, twin)
        for layer, other in zip(member.net.layers, twin.net.layers):
            assert (layer.num_capped, layer.num_floored, layer.num_rejected) == \
                (other.num_capped, other.num_floored, other.num_rejected)
        assert member.updater.total_bounded == twin.updater.total_bounded
    assert sum(layer.num_capped for m in members for layer in m.net.layers) > 0
    assert sum(m.updater.total_bounded for m in members) > 0
    # released: the members' parameters are their own again
    before = members[1].net.state_dict()
    stack._theta[0]["mu"][1] += 1.0
    for u, v in zip(before["LSTM.0"], members[1].net.state_dict()["LSTM.0"]):
        np.testing.assert_array_equal(u, v)


def test_which_members_can_stack():
    assert stackable(_member(0), 8)
    assert stackable(_member(0, noise="fixed"), 8)
    assert not stackable(_member(0, linear=True), 8)  # the linear part learns apart
    # too large for the fused kernels alone: the head (8 * 168 * 16 * 2 sums) ...
    assert not stackable(_member(0, lookback=168, hidden=16), 8)
    # ... or the LSTM window (8 * 33 * 32)
    assert not stackable(_member(0, hidden=32), 8)
    with pytest.raises(ValueError, match="cannot be stacked"):
        StackedMembers(_member(0, linear=True), 3, 8)


def _panel(n=4, steps=80):
    rng = np.random.default_rng(1)
    t = np.arange(steps)
    y = np.stack([3 * k + np.sin(2 * np.pi * t / 12 + k) + rng.normal(0, 0.2, steps)
                  for k in range(n)], axis=1)
    y[:15, n - 1] = np.nan  # a shorter series: fewer batches per epoch, its own stopping
    return y


def _count_rounds(monkeypatch):
    """Spy on StackedMembers: ``calls`` gets the number of requests of each round."""
    calls = []
    learn = StackedMembers.learn

    def spy(self, requests):
        calls.append(len(requests))
        return learn(self, requests)

    monkeypatch.setattr(StackedMembers, "learn", spy)
    return calls


@pytest.mark.parametrize("settings", [
    {"ensemble": 2, "noise": "scheduled"},          # members change slots; fixed noise
    {"ensemble": 1, "refit": "online"},             # the held-out tail learned one by one
])
def test_a_local_panel_fits_in_stacked_rounds_each_series_as_alone(monkeypatch, settings):
    y = _panel()
    refit = settings.pop("refit", "retrain")
    make = lambda: Forecaster(lookback=L, hidden_size=H, seed=5, **settings)  # noqa: E731
    calls = _count_rounds(monkeypatch)
    panel = make().fit(y, epochs=4, patience=2, refit=refit, progress=False)
    # the rounds held every member of every series at once
    assert calls and max(calls) == y.shape[1] * settings.get("ensemble", 1)
    fc = panel.forecast(5)
    for j in range(y.shape[1]):
        series = y[:, j][~np.isnan(y[:, j])]
        alone = make().fit(series, epochs=4, patience=2, refit=refit, progress=False)
        one = alone.forecast(5)
        np.testing.assert_array_equal(fc[j].mean, one.mean)
        np.testing.assert_array_equal(fc[j].std, one.std)
        assert panel.panel_[j].best_epochs_ == alone.best_epochs_


def test_a_panel_whose_networks_cannot_stack_fits_in_rounds_one_by_one(monkeypatch):
    y = _panel(n=2)
    make = lambda: Forecaster(lookback=L, hidden_size=H, seed=2, linear=True)  # noqa: E731
    built = []
    monkeypatch.setattr(stacked.StackedMembers, "__init__",
                        lambda *a, **k: built.append(1))
    fc = make().fit(y, epochs=3, progress=False).forecast(4)
    assert not built
    for j in range(2):
        series = y[:, j][~np.isnan(y[:, j])]
        one = make().fit(series, epochs=3, progress=False).forecast(4)
        np.testing.assert_array_equal(fc[j].mean, one.mean)


@pytest.mark.parametrize("settings", [
    {"mode": "local", "noise": "heteroscedastic"},   # one series: a round of one network
    {"mode": "local", "noise": "fixed", "ensemble": 2},
    {"mode": "global", "noise": "heteroscedastic"},  # one network over the panel
])
def test_fits_learn_in_the_stacked_kernel_as_through_the_layers(monkeypatch, settings):
    """A fit whose network can stack runs its epochs (and the held-out forecasts that
    stop it early) in the stacked kernel; with stacking turned off the same epochs run
    batch by batch through the layers. Both give bitwise the same model."""
    y = _panel()
    data = y if settings["mode"] == "global" else y[:, 0]
    make = lambda: Forecaster(lookback=L, hidden_size=H, seed=3, **settings)  # noqa: E731
    calls = _count_rounds(monkeypatch)
    stacked_fit = make().fit(data, epochs=6, patience=2, progress=False)
    rounds = len(calls)
    assert rounds  # it did learn in the stacked kernel
    monkeypatch.setattr(model, "stackable", lambda *a: False)
    layered = make().fit(data, epochs=6, patience=2, progress=False)
    assert len(calls) == rounds  # ... and this one did not
    a, b = stacked_fit.forecast(5), layered.forecast(5)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    assert stacked_fit.history_ == layered.history_
