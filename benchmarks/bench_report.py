"""What the benchmark records about the machine (environment, CPU taken by other programs)
and the markdown it prints."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
import platform
import re
import subprocess
import time
from pathlib import Path

#: Modules whose versions the record keeps (when installed).
_VERSIONED = ("tagi_lstm", "numpy", "numba", "threadpoolctl", "torch", "pytagi", "cupy")

_REPO = Path(__file__).resolve().parent.parent

#: Share of the machine's CPU time (all cores) taken by other programs or other
#: guests above which a round counts as disturbed (and a workload gets a note).
NOISY_SHARE = 0.10

#: Clock ticks per second of /proc/stat.
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu() -> dict:
    """CPU model, family/model numbers and the vector extensions BLAS cares about."""
    info = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key in ("model name", "cpu family", "model", "flags") and key not in info:
                    info[key] = value
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"cpu_model": info.get("model name") or platform.processor() or "unknown",
            "cpu_family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
            "cpu_vector_flags": [f for f in ("avx2", "fma", "avx512f") if f in flags]}


def _versions() -> dict:
    """Installed versions, read from package metadata (nothing is imported)."""
    dists = importlib.metadata.packages_distributions()
    versions = {}
    for module in _VERSIONED:
        for dist in dists.get(module, []):
            versions[module] = importlib.metadata.version(dist)
            break
    return versions


def _blas() -> list:
    """NumPy's BLAS as threadpoolctl sees it (library, version, architecture)."""
    import numpy  # noqa: F401 - loads the BLAS that threadpoolctl inspects
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer",
            "num_threads", "filepath")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def _git(*args) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _gpu() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _machine_cpu_seconds():
    """``(busy, steal)`` CPU seconds of the whole machine since boot (Linux), else None."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


class CpuMeter:
    """How much of the machine's CPU others took while the benchmark ran.

    Started before an interval; :meth:`stop` is given the CPU seconds the
    benchmark's workers spent in it (the parent's own are added here) and
    compares them with the machine's busy time from ``/proc/stat``: the rest
    was other programs. ``steal`` is time the hypervisor gave other guests.
    On a shared machine this tells a disturbed timing from a clean one.
    """

    def __init__(self):
        self._machine = _machine_cpu_seconds()
        self._parent = time.process_time()
        self._t0 = time.perf_counter()

    def stop(self, workers_cpu_seconds: float) -> dict | None:
        after = _machine_cpu_seconds()
        if self._machine is None or after is None:
            return None
        wall = time.perf_counter() - self._t0
        own = workers_cpu_seconds + time.process_time() - self._parent
        other = max(0.0, after[0] - self._machine[0] - own)
        steal = after[1] - self._machine[1]
        capacity = wall * (os.cpu_count() or 1)
        # /proc/stat counts in clock ticks (10 ms): over a few dozen ticks the
        # share would be mostly rounding, so it is left unknown.
        share = (other + steal) / capacity if capacity * _TICK >= 30 else None
        return {"wall_s": wall, "benchmark_cpu_s": own, "other_cpu_s": other,
                "steal_cpu_s": steal, "others_share": share}


def disturbed(load: dict | None) -> bool:
    """Whether others took more than :data:`NOISY_SHARE` of the CPU (unknown: no)."""
    return load is not None and load["others_share"] is not None \
        and load["others_share"] > NOISY_SHARE


def source_state() -> dict:
    """The git commit, and whether ``tagi_lstm/`` differs from it (None: no git).

    Every worker imports the package afresh, so the benchmark records this at
    the start and at the end of a run: edits made meanwhile would otherwise go
    unnoticed.
    """
    commit = _git("rev-parse", "HEAD")
    changed = _git("status", "--porcelain", "--", "tagi_lstm") if commit else None
    return {"git_commit": commit,
            "tagi_lstm_uncommitted_changes": bool(changed) if changed is not None else None}


def environment(device: str) -> dict:
    """Machine, software and source state the numbers belong to."""
    env = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **_cpu(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": _versions(),
        "blas": _blas(),
        **source_state(),
    }
    if device == "cuda":
        env["gpu"] = _gpu()
    return env


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b")


def headline(message: str) -> str:
    """The line of a worker's message worth showing: the exception line of a
    traceback (Numba's span several lines after it), else the last line."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    exception_lines = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return (exception_lines or lines or ["(no message)"])[-1]


def _fmt(x, digits: int = 3) -> str:
    """A number with ``digits`` significant figures, plainly written."""
    if x is None:
        return "–"
    if x == 0:
        return "0"
    return f"{x:,.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"


def _k_range(res: dict) -> str:
    """K of the rounds, e.g. ``16`` or ``1–166`` when it was chosen again."""
    low, high = min(res["round_k"]), max(res["round_k"])
    return str(low) if low == high else f"{low}–{high}"


def _mib(kib_or_bytes, scale: int) -> str:
    return "–" if kib_or_bytes is None else f"{kib_or_bytes / scale:,.0f}"


def _title(record: dict) -> list:
    env, settings = record["environment"], record["settings"]
    commit = (env["git_commit"] or "unknown")[:10]
    if env.get("tagi_lstm_uncommitted_changes"):
        commit += " (+ uncommitted changes in tagi_lstm/)"
    end = record.get("source_state_end")
    if end and end != {k: env[k] for k in end}:
        commit += (f"; at the end of the run: {(end['git_commit'] or 'unknown')[:10]}"
                   + (" + uncommitted changes" if end["tagi_lstm_uncommitted_changes"] else ""))
    return [
        f"### Training time per batch — {settings['device']}, {settings['threads']} threads",
        "",
        f"{env['date_utc'][:10]}, commit {commit}; {env['cpu_model']} "
        f"({'/'.join(env['cpu_vector_flags']) or 'no AVX2'}), {env['cpus_usable']} usable cores"
        + "".join(f"; BLAS {b['internal_api']} {b['version']} ({b['architecture']} kernels)"
                  for b in env["blas"] if b["user_api"] == "blas")
        + (f"; GPU {env['gpu']}" if env.get("gpu") else "")
        + f"; Python {env['python']}, "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + (" (quick mode: smoke test, not a measurement)" if settings["quick"] else "") + ".",
        "",
    ]


def _speed_table(record: dict) -> list:
    gpu = record["settings"]["device"] == "cuda"
    header = ["workload", "implementation", "threads", "first batch (ms)", "ms/batch median",
              "min–max", "windows/s", "clean/all rounds × K", "tagi_lstm ÷ this",
              "peak RSS (MiB)", "RSS growth (MiB)"] + (["GPU memory (MiB)"] if gpu else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for wl in record["workloads"]:
        for res in wl["results"]:
            if res["status"] != "ok":
                continue
            best = " ★" if res["label"] == wl.get("pytagi_best") else ""
            growth = (res["peak_rss_kib"] - res["rss_after_import_kib"]
                      if res["rss_after_import_kib"] is not None else None)
            row = [wl["name"], res["label"] + best, str(res["threads"]),
                   _fmt(res["first_batch_ms"]), _fmt(res["median_ms"]),
                   f"{_fmt(res['min_ms'])}–{_fmt(res['max_ms'])}", _fmt(res["windows_per_s"]),
                   f"{sum(res['round_clean'])}/{len(res['round_clean'])} × {_k_range(res)}",
                   _fmt(res.get("tagi_ratio")), _mib(res["peak_rss_kib"], 1024),
                   _mib(growth, 1024)] + ([_mib(res["gpu_peak_bytes"], 2 ** 20)] if gpu else [])
            lines.append("| " + " | ".join(row) + " |")
    return lines + [
        "",
        "Median, min and max over the clean rounds of ms per training batch (forward, "
        "observation update, backward, step); windows/s = batch size ÷ median; "
        "tagi_lstm ÷ this = ratio of the medians (below 1: tagi_lstm is faster); "
        "★ pytagi at its best thread count; peak RSS = high-water mark of the "
        "implementation's own process, RSS growth = that minus its RSS once the library "
        "was imported" + ("; GPU memory = torch's peak allocation or CuPy's pool size"
                          if gpu else "") + ".",
    ]


def _gemm_table(record: dict) -> list:
    rows = [(wl["name"], wl["gemm"]) for wl in record["workloads"] if wl.get("gemm")]
    if not rows:
        return []
    lines = ["", f"### tagi_lstm GEMM efficiency — {record['settings']['device']}", "",
             "| workload | GEMM GFLOP/batch | GEMM calls/batch | tagi_lstm ms/batch | "
             "achieved GFLOP/s | matmul GFLOP/s on these shapes | GEMM-bound ideal (ms) "
             "| ideal ÷ measured |", "|" + "---|" * 8]
    for name, g in rows:
        lines.append(f"| {name} | {_fmt(g['gflop_per_batch'])} | {g['calls_per_batch']} | "
                     f"{_fmt(g['measured_ms'])} | {_fmt(g['achieved_gflops'])} | "
                     f"{_fmt(g['matmul_gflops'])} | {_fmt(g['ideal_ms'])} | "
                     f"{_fmt(g['ideal_over_measured'])} |")
    return lines + [
        "",
        "GEMM GFLOP/batch counts tagi_lstm's matrix products analytically from its layer "
        "shapes; the ideal is the time float32 matmul takes for those same products, timed "
        "in the same run: ideal ÷ measured is the share of the batch a GEMM-bound "
        "implementation would need.",
    ]


def _notes(record: dict) -> list:
    settings = record["settings"]
    failures = {}   # the same failure on every workload is listed once
    notes = []
    for wl in record["workloads"]:
        for res in wl["results"]:
            if res["status"] != "ok":
                key = (res["label"], headline(res["message"]))
                failures.setdefault(key, []).append(wl["name"])
                continue
            tag = f"{wl['name']} {res['label']}"
            if res["capped"]:
                notes.append(f"{tag}: {res['planned_rounds']} rounds planned, not "
                             f"{settings['repeats']}, to keep its timed rounds within about "
                             f"{settings['budget_seconds']:g} s")
            if res["rounds_used"] == "all":
                clean, total = sum(res["round_clean"]), len(res["round_clean"])
                notes.append(f"{tag}: only {clean} of {total} rounds ran undisturbed; its "
                             f"statistics use all {total}")
        if disturbed(wl.get("machine_load")):
            notes.append(f"{wl['name']}: other programs (or guests) took about "
                         f"{wl['machine_load']['others_share']:.0%} of the machine's CPU "
                         f"while it ran; disturbed rounds were retried and left out")
    notes = [f"{', '.join(names)} {label}: {message}"
             for (label, message), names in failures.items()] + notes
    return ["", "Notes:", ""] + [f"- {n}" for n in notes] if notes else []


def render_markdown(record: dict) -> str:
    """The results tables (speed, then tagi_lstm's GEMM efficiency) and their notes."""
    lines = _title(record) + _speed_table(record) + _gemm_table(record) + _notes(record)
    return "\n".join(lines) + "\n"
