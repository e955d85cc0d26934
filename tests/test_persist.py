"""Model files: atomic saves that a crash cannot destroy, clear errors for bad files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tagi_lstm import Sequential
from tagi_lstm.forecast import Forecaster, HybridForecaster
from tagi_lstm.layers import LSTM, Linear
from tagi_lstm.persist import save_npz


def _net(seed=0):
    from tagi_lstm.random import manual_seed

    manual_seed(seed)
    return Sequential(LSTM(1, 4, 3), Linear(12, 1))


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    good = _net(0)
    good.save(path)

    def broken(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(KeyboardInterrupt):
        _net(1).save(path)
    monkeypatch.undo()
    back = _net(2)
    back.load(path)
    for key, value in good._param_arrays().items():
        np.testing.assert_array_equal(value, back._param_arrays()[key])
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]  # no temporary file left


@pytest.mark.parametrize("loader", [
    lambda p: _net().load(p), Forecaster.load, HybridForecaster.load])
def test_damaged_files_name_themselves(tmp_path, loader):
    good = tmp_path / "good.npz"
    _net().save(good)
    raw = good.read_bytes()
    cases = {"truncated.npz": raw[: len(raw) // 2], "garbage.npz": b"not a zip at all",
             "empty.npz": b""}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            loader(tmp_path / name)
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="array.npy"):
        loader(tmp_path / "array.npy")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        loader(tmp_path / "missing.npz")


def test_a_file_of_another_kind_is_named(tmp_path):
    net_file = tmp_path / "net.npz"
    _net().save(net_file)
    with pytest.raises(ValueError, match="not a saved forecaster"):
        Forecaster.load(net_file)
    save_npz(tmp_path / "other.npz", {"x": np.zeros(2)})
    with pytest.raises(ValueError, match="not a tagi_lstm network file"):
        _net().load(tmp_path / "other.npz")


CHILD = """
import sys
from tagi_lstm import Sequential
from tagi_lstm.layers import LSTM, Linear
net = Sequential(LSTM(1, 64, 24), Linear(64 * 24, 1))
print("ready", flush=True)
while True:
    net.save(sys.argv[1])
"""


def test_killed_while_saving_the_file_still_loads(tmp_path):
    """A process saving in a loop is killed (SIGKILL) at random moments: the file it
    was overwriting always loads."""
    if os.name != "posix":  # pragma: no cover - platform dependent
        pytest.skip("SIGKILL is POSIX")
    path = tmp_path / "net.npz"
    probe = Sequential(LSTM(1, 64, 24), Linear(64 * 24, 1))
    probe.save(path)
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(5):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)],
                                 stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        probe.load(path)  # raises if the file were damaged


def test_dtype_counters_and_carried_states_are_restored(tmp_path):
    manual = np.random.default_rng(0)
    net = Sequential(LSTM(1, 4, 3, stateful=True), Linear(12, 1)).double()
    x = manual.normal(size=(2, 3, 1))
    for _ in range(3):
        net(x)
        net.update(np.full(2, 50.0), 1e-4)  # far off: the cap acts
    net.save(tmp_path / "net.npz")
    back = Sequential(LSTM(1, 4, 3, stateful=True), Linear(12, 1))  # float32, fresh
    back.load(tmp_path / "net.npz")
    assert back.dtype == np.float64
    assert back.update_counters() == net.update_counters()
    assert sum(c["capped"] for c in back.update_counters().values()) > 0
    for a, b in zip(net.get_lstm_states()[0], back.get_lstm_states()[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net(x)[0], back(x)[0])  # both carry on from the states


def test_forecaster_history_and_counters_are_restored(tmp_path):
    y = 3 + np.sin(np.arange(120) / 3)
    model = Forecaster(lookback=6, hidden_size=4, ensemble=2).fit(y, epochs=3, progress=False)
    model.save(tmp_path / "f.npz")
    back = Forecaster.load(tmp_path / "f.npz")
    assert back.history_ == model.history_ and len(back.history_) > 0
    assert back.best_epochs_ == model.best_epochs_
    for a, b in zip(model.members_, back.members_):
        assert a.net.update_counters() == b.net.update_counters()
    assert back.update_counters() == model.update_counters()


def test_update_counters_survive_a_save(tmp_path):
    y = 3 + np.sin(np.arange(160) / 3)
    spiky = y.copy()
    spiky[130] += 500
    for kind in (Forecaster, HybridForecaster):
        model = kind(lookback=6, hidden_size=4, seed=0).fit(y[:120], epochs=2, progress=False)
        model.update(spiky[120:150])
        assert sum(c["bounded"] for c in model.update_counters()) >= 1
        model.save(tmp_path / "m.npz")
        assert Forecaster.load(tmp_path / "m.npz").update_counters() == model.update_counters()


def _rewrite(path, out, edit):
    """A copy of a saved file with its JSON metadata changed by ``edit``."""
    import json

    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    marker = next(k for k in ("__forecaster__", "__hybrid__") if k in arrays)
    state = json.loads(str(arrays[marker]))
    edit(state)
    arrays[marker] = np.array(json.dumps(state))
    save_npz(out, arrays)
    return out


@pytest.mark.parametrize("kind", [Forecaster, HybridForecaster])
@pytest.mark.parametrize("edit, match", [
    (lambda s: s["scale"].__setitem__(1, -1.0), "scaling"),
    (lambda s: s["scale"].__setitem__(0, float("nan")), "scaling"),
    (lambda s: s["config"].__setitem__("hidden_size", 2000), "its settings need"),
    (lambda s: s["config"].__setitem__("lookback", 3), "its settings need"),
    (lambda s: s["config"].__setitem__("ensemble", 3), "members"),
    (lambda s: s["config"].__setitem__("hidden_size", -4), "hidden_size"),
])
def test_crafted_metadata_is_refused_before_anything_is_built(tmp_path, kind, edit, match):
    y = 3 + np.sin(np.arange(100) / 3)
    kind(lookback=6, hidden_size=4, ensemble=2, seed=0).fit(y, epochs=1, progress=False).save(
        tmp_path / "good.npz")
    bad = _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", edit)
    with pytest.raises(ValueError, match=match):
        Forecaster.load(bad)
