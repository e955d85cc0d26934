"""One worker process per (implementation, thread count, workload).

Each implementation trains in a process of its own so that its peak memory
is its own (the process's resident-set high-water mark) and so that one
library's thread pools, JIT caches and allocator state cannot disturb
another's. The parent drives every worker through a pipe and runs them one
at a time, so they never compete for the cores: interleaving happens
between rounds, not inside them.

Messages from the parent are tuples ``(command, *args)``; every reply is
``("ok", value)`` or ``("error", text)``.
"""

from __future__ import annotations

import time
import traceback

import numpy as np
from bench_impls import IMPLEMENTATIONS, Unavailable
from bench_workloads import Workload, make_batches


def _memory_kib() -> dict:
    """Current and peak resident set size of this process, KiB (Linux /proc)."""
    fields = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0])
    except OSError:   # not Linux: ru_maxrss is the peak (KiB on Linux, bytes on macOS)
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fields = {"VmRSS": None, "VmHWM": peak}
    return {"rss_kib": fields.get("VmRSS"), "peak_rss_kib": fields.get("VmHWM")}


def time_batches(impl, start: int, count: int) -> float:
    """Seconds for ``count`` training batches, the device drained before and after."""
    impl.sync()
    t0 = time.perf_counter()
    for i in range(start, start + count):
        impl.train_batch(i)
    impl.sync()
    return time.perf_counter() - t0


def time_gemms(xp, sync, shapes, min_seconds: float, threads: int) -> list:
    """Seconds per ``matmul`` call for each ``(m, k, n)`` in ``shapes``, float32.

    Operands and the output are allocated once (``out=``), then the product
    runs in a tight loop until ``min_seconds`` have passed; the best of five
    such loops is kept, since noise only ever slows a loop down. On the CPU
    BLAS gets ``threads`` threads whatever the library under test set (it
    may have limited BLAS to one thread to run its own workers): the ideal
    is what the machine's matmul does with the cores the benchmark allows.
    """
    if xp is np:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads, user_api="blas"):
            return _time_gemms(xp, sync, shapes, min_seconds)
    return _time_gemms(xp, sync, shapes, min_seconds)


def _time_gemms(xp, sync, shapes, min_seconds: float) -> list:
    rng = np.random.default_rng(0)
    per_call = []
    for m, k, n in shapes:
        a = xp.asarray(rng.standard_normal((m, k), dtype=np.float32))
        b = xp.asarray(rng.standard_normal((k, n), dtype=np.float32))
        out = xp.empty((m, n), np.float32)
        for _ in range(3):
            xp.matmul(a, b, out=out)
        best = float("inf")
        for _ in range(5):
            calls = 0
            sync()
            t0 = time.perf_counter()
            while True:
                for _ in range(8):
                    xp.matmul(a, b, out=out)
                calls += 8
                sync()
                elapsed = time.perf_counter() - t0
                if elapsed >= min_seconds:
                    break
            best = min(best, elapsed / calls)
        per_call.append(best)
    return per_call


def _library_threads() -> int:
    """The thread count tagi_lstm chose by itself (no set_threads call)."""
    from tagi_lstm.backend import _workers

    return _workers.count()


def serve(conn, impl_name: str, workload: dict, threads: int, device: str, seed: int,
          pool_size: int) -> None:
    """Worker main loop (the target of a spawned process).

    Commands:
        ``("first",)``: seconds of the very first batch (JIT, caches, allocations).
        ``("warmup", max_batches, max_seconds)``: batches left out of the results,
            until either limit; returns each batch's seconds (used to choose K).
        ``("run", k)``: seconds for ``k`` batches, and the CPU seconds this
            process (all its threads) spent on them.
        ``("finish", gemm_shapes, min_seconds)``: memory figures, then (if shapes
            are given) ``matmul`` seconds per call for each shape; the worker exits.
    """
    w = Workload(**workload)
    try:
        impl_cls = IMPLEMENTATIONS[impl_name]
        batches = make_batches(w, pool_size, seed)
        impl_cls.import_library()
        memory_after_import = _memory_kib()
        impl = impl_cls(w, batches, threads, device, seed)
    except Unavailable as exc:
        conn.send(("unavailable", str(exc)))
        return
    except Exception:  # noqa: BLE001 - report any failure to the parent, which goes on
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ok", {"version": impl.version}))
    done = 0   # batches trained so far: cycles through the data pool
    while True:
        command, *args = conn.recv()
        try:
            if command == "first":
                reply = time_batches(impl, done, 1)
                done += 1
            elif command == "warmup":
                max_batches, max_seconds = args
                reply = []
                # At least one, then stop at either limit.
                while len(reply) < max_batches and (not reply or sum(reply) < max_seconds):
                    reply.append(time_batches(impl, done, 1))
                    done += 1
            elif command == "run":
                cpu = time.process_time()
                seconds = time_batches(impl, done, args[0])
                reply = {"seconds": seconds, "cpu_seconds": time.process_time() - cpu}
                done += args[0]
            elif command == "finish":
                shapes, min_seconds = args
                memory = _memory_kib()
                reply = {"peak_rss_kib": memory["peak_rss_kib"],
                         "rss_after_import_kib": memory_after_import["rss_kib"],
                         "gpu_peak_bytes": impl.gpu_peak_bytes(),
                         "gemm_seconds": (time_gemms(impl.xp, impl.sync, shapes, min_seconds,
                                                     threads or _library_threads())
                                          if shapes else None)}
                # All threads, since the process started: lets the parent tell
                # the benchmark's own CPU use from other programs'.
                reply["cpu_seconds"] = time.process_time()
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception:  # noqa: BLE001
            conn.send(("error", traceback.format_exc()))
            return
        conn.send(("ok", reply))
        if command == "finish":
            return
