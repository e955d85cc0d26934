#!/usr/bin/env python
"""Training speed of tagi_lstm beside pytagi and torch.nn.LSTM + Adam, one command.

    python benchmarks/bench.py [--workloads W1,W2,W3,L1] [--repeats 7]
        [--device cpu|cuda] [--threads 2] [--peers all|none|pytagi,torch]
        [--out benchmarks/results] [--quick]

Times one training batch (forward, observation update, backward, parameter
step; float32) of each implementation on each workload and prints a markdown
table; writes it and a JSON record of every raw timing and of the machine to
``--out``. The method (see docs/benchmarks.md):

1. Each (implementation, thread count) runs in a worker process of its own
   (clean peak memory, no shared thread pools); workers run one at a time.
2. The very first batch is timed on its own (JIT compilation or cache load,
   first allocations) and reported apart; a few warm-up batches follow.
3. Rounds interleave the implementations in an order that rotates each
   round; in a round each runs K batches, K chosen per implementation so a
   round lasts about ``--round-seconds``. Slow ones run fewer rounds, so that
   each stays within ``--budget`` seconds (shown in the notes).
4. The machine may be shared: a round during which other programs took more
   than a tenth of the CPU (from /proc/stat, less the benchmark's own CPU
   time) is marked disturbed and retried, up to as many extra rounds as were
   planned; statistics use the clean rounds when there are enough.
5. Reported: median ms/batch over rounds with min and max, windows/s, the
   ratio tagi_lstm ÷ peer of the medians, peak RSS of the worker, and
   tagi_lstm's GEMM efficiency (analytic flop count of its matrix products
   against ``matmul`` timed on the same shapes in the same run).

A peer that is missing or fails is reported and skipped; the exit status is 1
only when tagi_lstm itself fails on a workload.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import bench_worker
from bench_impls import IMPLEMENTATIONS
from bench_report import CpuMeter, disturbed, environment, headline, render_markdown, source_state
from bench_workloads import DEFAULT_WORKLOADS, WORKLOADS, gemm_flops, tagi_gemm_shapes

PEERS = tuple(name for name in IMPLEMENTATIONS if name != "tagi_lstm")

#: Seconds to wait for one worker reply before declaring it hung.
REPLY_TIMEOUT = 900.0


@dataclasses.dataclass
class Settings:
    """How hard to measure; ``--quick`` swaps in :data:`QUICK`."""

    repeats: int = 7
    round_seconds: float = 0.3     # target length of one implementation's turn in a round
    budget_seconds: float = 30.0   # cap on one implementation's timed rounds per workload
    warmup_batches: int = 3        # unmeasured batches after the first one ...
    warmup_seconds: float = 1.0    # ... or fewer, once they took this long
    max_k: int = 1000
    gemm_seconds: float = 0.02     # length of each timed matmul loop
    # Pause after each round: OpenBLAS keeps its threads spinning for about
    # 0.1 s after a call, which would steal a core from the next worker.
    settle_seconds: float = 0.2


QUICK = Settings(repeats=2, round_seconds=0.02, budget_seconds=5.0, warmup_batches=1,
                 warmup_seconds=0.0, max_k=3, gemm_seconds=0.002, settle_seconds=0.0)


def log(message: str) -> None:
    """Progress goes to stderr, so that stdout holds only the results table."""
    print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass
class Variant:
    """One implementation at one thread count, living in its worker process."""

    impl: str
    threads: int
    label: str
    process: multiprocessing.Process | None = None
    conn: object = None
    result: dict = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result.get("status") == "ok"

    def ask(self, *command):
        """Send a command and return the worker's value; raise on error or hang."""
        self.conn.send(command)
        return self.receive()

    def receive(self):
        if not self.conn.poll(REPLY_TIMEOUT):
            self.process.kill()
            raise RuntimeError(f"no reply within {REPLY_TIMEOUT:g} s")
        try:
            status, value = self.conn.recv()
        except EOFError as exc:
            raise RuntimeError(f"worker died (exit code {self.process.exitcode})") from exc
        if status != "ok":
            raise _WorkerFailed(status, value)
        return value

    def fail(self, exc: Exception) -> None:
        """Record why this variant stopped (the run goes on without it)."""
        status = exc.status if isinstance(exc, _WorkerFailed) else "error"
        self.result.update(status=status, message=str(exc))
        log(f"    {self.label}: {headline(str(exc))}")
        self.close()

    def close(self) -> None:
        if self.process is not None:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
            self.process = None

    def wants_round(self) -> bool:
        """Until it has its planned clean rounds, with at most as many again to retry."""
        if not self.ok:
            return False
        res = self.result
        return (sum(res["round_clean"]) < res["planned_rounds"]
                and len(res["round_clean"]) < 2 * res["planned_rounds"])


class _WorkerFailed(RuntimeError):
    """The worker answered with an error or said it cannot run here."""

    def __init__(self, status: str, text: str):
        super().__init__(text)
        self.status = status


def make_variants(peers, threads: int, tagi_default: bool = False) -> list:
    """tagi_lstm at ``threads`` (and, with ``tagi_default``, without any ``set_threads``
    call: threads 0, the library's own choice); pytagi at 1 and ``threads``; torch at
    ``threads``."""
    variants = [Variant("tagi_lstm", threads, "tagi_lstm")]
    if tagi_default:
        variants.append(Variant("tagi_lstm", 0, "tagi_lstm@default"))
    for peer in peers:
        counts = sorted({1, threads}) if peer == "pytagi" else [threads]
        variants += [Variant(peer, n, f"{peer}@{n}" if peer == "pytagi" else peer)
                     for n in counts]
    return variants


def start(variant: Variant, ctx, workload, args, settings: Settings) -> None:
    """Start the worker, time its first batch, warm it up and choose K and the rounds."""
    parent, child = ctx.Pipe()
    variant.process = ctx.Process(target=bench_worker.serve, daemon=True,
                                  args=(child, variant.impl, workload.as_dict(),
                                        variant.threads, args.device, args.seed, args.pool))
    variant.process.start()
    child.close()
    variant.conn = parent
    variant.result = {"implementation": variant.impl, "label": variant.label,
                      "threads": variant.threads}
    try:
        info = variant.receive()
        first = variant.ask("first")
        warmup = variant.ask("warmup", settings.warmup_batches, settings.warmup_seconds)
    except Exception as exc:  # noqa: BLE001 - one failing implementation must not stop the run
        variant.fail(exc)
        return
    # K from the warm-up: the first batch is not representative.
    per_batch = statistics.median(warmup)
    k = choose_k(per_batch, settings)
    rounds = settings.repeats
    if rounds * k * per_batch > settings.budget_seconds:
        rounds = max(min(3, settings.repeats), int(settings.budget_seconds // (k * per_batch)))
    variant.result.update(status="ok", version=info["version"], first_batch_ms=first * 1e3,
                          warmup_ms=[t * 1e3 for t in warmup], k=k, planned_rounds=rounds,
                          capped=rounds < settings.repeats, round_ms_per_batch=[],
                          round_k=[], round_others_share=[], round_clean=[])
    log(f"    {variant.label}: first batch {first * 1e3:.1f} ms, ~{per_batch * 1e3:.2f} ms/batch"
        f" after warm-up; {rounds} rounds × K={k}")


def choose_k(seconds_per_batch: float, settings: Settings) -> int:
    """Batches per round so that a round lasts about ``settings.round_seconds``."""
    return max(1, min(settings.max_k, round(settings.round_seconds / seconds_per_batch)))


def timed_round(variant: Variant, settings: Settings) -> None:
    """One round of K batches, and whether other programs disturbed it.

    A round much shorter than planned means the warm-up was slow (a disturbed
    warm-up can be a hundred times slower than a clean batch): K is chosen
    again from this round, so that later rounds are long enough to time and
    to check for disturbance.
    """
    res = variant.result
    k = res["k"]
    meter = CpuMeter()
    reply = variant.ask("run", k)
    load = meter.stop(reply["cpu_seconds"])
    res["round_ms_per_batch"].append(reply["seconds"] * 1e3 / k)
    res["round_k"].append(k)
    res["round_others_share"].append(load["others_share"] if load else None)
    res["round_clean"].append(not disturbed(load))
    if reply["seconds"] < settings.round_seconds / 2:
        res["k"] = choose_k(reply["seconds"] / k, settings)


def run_rounds(variants, settings: Settings) -> None:
    """Interleaved rounds until every variant has its clean rounds (or its retries are spent).

    Round r visits the variants still running from a start that moves by one
    each round, so that no implementation always follows the same one.
    """
    r = 0
    while wanting := [v for v in variants if v.wants_round()]:
        shift = r % len(wanting)
        for v in wanting[shift:] + wanting[:shift]:
            time.sleep(settings.settle_seconds)
            try:
                timed_round(v, settings)
            except Exception as exc:  # noqa: BLE001
                v.fail(exc)
        r += 1


def summarise(variant: Variant, workload, gemm_shapes, settings: Settings) -> None:
    """Ask the worker for memory (and GEMM timings), then fold the rounds into statistics.

    Statistics use the clean rounds when at least ``min(3, planned)`` are
    clean, else every round (``rounds_used`` says which).
    """
    res = variant.result
    if not variant.ok:
        return
    try:
        final = variant.ask("finish", list(gemm_shapes) if gemm_shapes else None,
                            settings.gemm_seconds)
    except Exception as exc:  # noqa: BLE001
        variant.fail(exc)
        return
    clean = [t for t, c in zip(res["round_ms_per_batch"], res["round_clean"], strict=True) if c]
    enough = len(clean) >= min(3, res["planned_rounds"])
    rounds = clean if enough else res["round_ms_per_batch"]
    median = statistics.median(rounds)
    res.update(rounds_used="clean" if enough else "all", median_ms=median, min_ms=min(rounds),
               max_ms=max(rounds), windows_per_s=workload.batch / (median / 1e3),
               peak_rss_kib=final["peak_rss_kib"],
               rss_after_import_kib=final["rss_after_import_kib"],
               gpu_peak_bytes=final["gpu_peak_bytes"], cpu_seconds=final["cpu_seconds"])
    if final["gemm_seconds"] is not None:
        res["gemm_seconds_per_call"] = final["gemm_seconds"]


def gemm_efficiency(tagi: dict, shapes) -> dict:
    """Achieved GEMM throughput of tagi_lstm and its GEMM-bound ideal time."""
    per_call = dict(zip(shapes, tagi["gemm_seconds_per_call"], strict=True))
    flops = gemm_flops(shapes)
    ideal = sum(per_call[s] * count for s, count in shapes.items())
    measured = tagi["median_ms"] / 1e3
    return {
        "shapes": [[m, k, n, count, per_call[(m, k, n)]] for (m, k, n), count in shapes.items()],
        "gflop_per_batch": flops / 1e9,
        "calls_per_batch": sum(shapes.values()),
        "measured_ms": tagi["median_ms"],
        "achieved_gflops": flops / measured / 1e9,
        "matmul_gflops": flops / ideal / 1e9,
        "ideal_ms": ideal * 1e3,
        "ideal_over_measured": ideal / measured,
    }


def run_workload(workload, args, settings: Settings, ctx) -> dict:
    log(f"{workload.name} ({workload.describe()})")
    meter = CpuMeter()
    variants = make_variants(args.peers, args.threads, args.tagi_default_threads)
    for v in variants:
        start(v, ctx, workload, args, settings)
    run_rounds(variants, settings)
    shapes = tagi_gemm_shapes(workload)
    for v in variants:
        summarise(v, workload, shapes if v.impl == "tagi_lstm" else None, settings)
        v.close()
    load = meter.stop(sum(v.result.get("cpu_seconds", 0.0) for v in variants))

    results = [v.result for v in variants]
    ok = [r for r in results if r["status"] == "ok"]
    tagi = next((r for r in ok if r["implementation"] == "tagi_lstm"), None)
    if tagi is not None:
        for r in ok:
            r["tagi_ratio"] = tagi["median_ms"] / r["median_ms"]
    pytagi = [r for r in ok if r["implementation"] == "pytagi"]
    entry = {"name": workload.name, "spec": workload.as_dict(), "results": results,
             "machine_load": load,
             "pytagi_best": min(pytagi, key=lambda r: r["median_ms"])["label"] if pytagi
             else None}
    if tagi is not None and "gemm_seconds_per_call" in tagi:
        entry["gemm"] = gemm_efficiency(tagi, shapes)
    return entry


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", help="comma-separated, from " + ", ".join(WORKLOADS)
                   + " (default: " + "; ".join(f"{d}: {','.join(w)}"
                                                for d, w in DEFAULT_WORKLOADS.items()) + ")")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved rounds (default 7; 2 with --quick)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every implementation (pytagi also runs at 1)")
    p.add_argument("--tagi-default-threads", action="store_true",
                   help="also run tagi_lstm without set_threads (its default thread choice); "
                        "its tagi_ratio is then tuned / default")
    p.add_argument("--peers", default="all",
                   help="'all', 'none' or a comma-separated subset of " + ",".join(PEERS))
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                   help="folder for the JSON record and the markdown table")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 rounds, tiny K; numbers are not measurements")
    p.add_argument("--round-seconds", type=float, default=None,
                   help="target length of one implementation's turn in a round (default 0.3)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timed rounds allowed per implementation and workload "
                        "(default 30); slower ones run fewer rounds, never fewer than 3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool", type=int, default=4, help="distinct batches cycled during timing")
    args = p.parse_args(argv)

    names = (args.workloads.split(",") if args.workloads else DEFAULT_WORKLOADS[args.device])
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    args.workloads = [WORKLOADS[n] for n in names]
    peers = {"all": PEERS, "none": ()}.get(args.peers, tuple(args.peers.split(",")))
    if any(peer not in PEERS for peer in peers):
        p.error(f"--peers must be 'all', 'none' or a subset of {','.join(PEERS)}")
    args.peers = peers
    for name in ("threads", "repeats", "pool"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = {name: value for name, value in (("repeats", args.repeats),
                                                 ("round_seconds", args.round_seconds),
                                                 ("budget_seconds", args.budget))
                 if value is not None}
    settings = dataclasses.replace(QUICK if args.quick else Settings(), **overrides)
    ctx = multiprocessing.get_context("spawn")   # fresh interpreters: no inherited thread pools

    record = {
        "environment": environment(args.device),
        "settings": {"workloads": [w.name for w in args.workloads], "device": args.device,
                     "threads": args.threads, "peers": list(args.peers), "quick": args.quick,
                     "seed": args.seed, "pool_size": args.pool,
                     **dataclasses.asdict(settings)},
        "workloads": [],
    }
    t0 = time.perf_counter()
    for workload in args.workloads:
        record["workloads"].append(run_workload(workload, args, settings, ctx))
    record["wall_seconds"] = time.perf_counter() - t0
    record["source_state_end"] = source_state()

    table = render_markdown(record)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"bench_{args.device}_{time.strftime('%Y%m%d-%H%M%S')}"
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(table)
    log(f"wrote {args.out / stem}.json and .md ({record['wall_seconds']:.0f} s)")
    # A peer may be missing; tagi_lstm failing (not merely unavailable) is an error.
    failed = [wl["name"] for wl in record["workloads"] for r in wl["results"]
              if r["implementation"] == "tagi_lstm" and r["status"] == "error"]
    if failed:
        log(f"tagi_lstm failed on {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
