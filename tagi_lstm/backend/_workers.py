"""Worker threads for the CPU backend: split a batch across cores.

Rows of a batch are independent through the whole recurrence of an LSTM, so
each worker can run every step's products and kernels on its own rows with
no synchronisation between steps (BLAS splitting each small per-step product
across threads would synchronise at every step, and gains little at these
sizes). The kernels release the GIL (Numba ``nogil``, NumPy ``matmul``), so
plain threads run in parallel.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

# count None: not chosen yet (the first batch-split call chooses, see default_count)
_state = {"count": None, "pool": None}
_lock = threading.Lock()


def default_count() -> int:
    """Threads used when :func:`set_count` was never called: ``OMP_NUM_THREADS`` when set,
    else a limit the user put on BLAS with threadpoolctl (below the core count), else
    every core this process may run on."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    from threadpoolctl import threadpool_info

    blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    if blas and min(blas) < cores:
        return max(1, min(blas))
    return max(1, cores)


def set_count(n: int) -> None:
    """Use ``n`` threads for batch-split work (1: everything on the caller's thread).

    BLAS itself is limited to one thread (process-wide), since the workers
    already occupy the cores and a small per-step product split across
    threads only synchronises. Safe to call at any time, also while another
    thread trains: work already started finishes on the pool it started on.
    """
    from threadpoolctl import threadpool_limits

    with _lock:
        # the old pool is not shut down: a split in flight may still submit to it; it
        # is released when the last reference to it goes
        _state["pool"] = ThreadPoolExecutor(max_workers=n - 1) if n > 1 else None
        _state["count"] = n
    threadpool_limits(limits=1)


def _current() -> tuple:
    """``(count, pool)``, choosing the default on first use."""
    if _state["count"] is None:
        with _lock:
            pending = _state["count"] is None
        if pending:
            set_count(default_count())
    with _lock:
        return _state["count"], _state["pool"]


def count() -> int:
    """Threads that batch-split work uses."""
    return _current()[0]


def split(fn, total: int) -> None:
    """Run ``fn(start, stop)`` over ``[0, total)`` in contiguous chunks, one per worker.

    The caller's thread takes the first chunk; the call returns when all are
    done and re-raises the first exception of any chunk.
    """
    workers, pool = _current()
    n = min(workers, total)
    if n <= 1:
        fn(0, total)
        return
    bounds = [total * k // n for k in range(n + 1)]
    futures = [pool.submit(fn, bounds[k], bounds[k + 1]) for k in range(1, n)]
    fn(bounds[0], bounds[1])
    for future in futures:
        future.result()
