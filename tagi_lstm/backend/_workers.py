"""Worker threads for the CPU backend: split a batch across cores.

Rows of a batch are independent through the whole recurrence of an LSTM, so
each worker can run every step's products and kernels on its own rows with
no synchronisation between steps (BLAS splitting each small per-step product
across threads would synchronise at every step, and gains little at these
sizes). The kernels release the GIL (Numba ``nogil``, NumPy ``matmul``), so
plain threads run in parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

_state = {"count": 1, "pool": None}


def set_count(n: int) -> None:
    """Use ``n`` threads for batch-split work (1: everything on the caller's thread).

    With more than one worker, BLAS itself is limited to one thread, since
    the workers already occupy the cores.
    """
    from threadpoolctl import threadpool_limits

    if _state["pool"] is not None:
        _state["pool"].shutdown(wait=True)
    _state["count"] = n
    _state["pool"] = ThreadPoolExecutor(max_workers=n - 1) if n > 1 else None
    threadpool_limits(limits=1)


def count() -> int:
    """Threads that batch-split work uses."""
    return _state["count"]


def split(fn, total: int) -> None:
    """Run ``fn(start, stop)`` over ``[0, total)`` in contiguous chunks, one per worker.

    The caller's thread takes the first chunk; the call returns when all are
    done and re-raises the first exception of any chunk.
    """
    n = min(_state["count"], total)
    if n <= 1:
        fn(0, total)
        return
    bounds = [total * k // n for k in range(n + 1)]
    futures = [_state["pool"].submit(fn, bounds[k], bounds[k + 1]) for k in range(1, n)]
    fn(bounds[0], bounds[1])
    for future in futures:
        future.result()
