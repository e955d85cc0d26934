"""Thread defaults: chosen without a set_threads call, respecting OMP_NUM_THREADS and a
threadpoolctl limit; set_threads is safe while another thread trains."""

import threading

import numpy as np

from tagi_lstm import Sequential, manual_seed
from tagi_lstm.backend import _workers
from tagi_lstm.layers import LSTM, Linear


def test_default_count_follows_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _workers.default_count() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        assert _workers.default_count() == 1
    assert _workers.default_count() >= 1


def test_the_first_batch_chooses_when_nobody_did(monkeypatch):
    monkeypatch.setitem(_workers._state, "count", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    manual_seed(0)
    net = Sequential(LSTM(1, 64, 8), Linear(64 * 8, 1))
    net(np.zeros((64, 8, 1)))
    assert _workers.count() == 2
    _workers.set_count(1)


def test_set_threads_while_another_thread_trains():
    manual_seed(0)
    net = Sequential(LSTM(1, 32, 4), Linear(32 * 4, 1))
    x = np.random.default_rng(0).normal(size=(64, 4, 1)).astype(np.float32)
    errors, stop = [], threading.Event()

    def train():
        try:
            while not stop.is_set():
                net(x)
                net.update(np.zeros(64), 0.5)
        except Exception as exc:  # noqa: BLE001 - the test reports whatever happened
            errors.append(exc)

    worker = threading.Thread(target=train)
    worker.start()
    try:
        for n in (2, 3, 4, 2, 3) * 100:
            net.set_threads(n)
    finally:
        stop.set()
        worker.join()
    assert errors == []
    assert all(np.isfinite(a).all() for a in net._param_arrays().values())
    net.set_threads(1)
