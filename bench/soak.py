#!/usr/bin/env python3
"""Sustained-load benchmark: a steady offered rate through the real api into real workers.

Run from the repository root::

    bench/soak                        # same as: .venv/bin/python bench/soak.py
    bench/soak --duration 600 --rate 500 --workers 1 --keys 200 --interval 10
    bench/soak --duration 60          # a short run (warm-up shrinks to a third of the run)

One run:

1. starts a private ``redis-server`` (``ingest.embedded_redis.EmbeddedRedis``, AOF on with
   ``appendfsync everysec``; ``--aof`` changes it), the real api (``.venv/bin/alert-ingest api``,
   rate limits raised to ``100000000/1m``), an ``alertmanager`` integration with the default
   templates made through the public API (as ``bench/pipeline.py`` does), and ``--workers`` real
   worker processes (``alert-ingest worker --concurrency N``);
2. offers ``--rate`` alerts/s for ``--duration`` seconds: post i is sent at ``start + i / rate``
   over at most ``--connections`` connections (``tests/fixtures/alertmanager/firing.json`` with
   ``groupKey`` cycling over ``--keys`` values: a bounded set of open groups, as a real fleet has);
3. every second reads the queue depth: the *due* entries, ``ZCOUNT queue -inf <now ms>`` (arq's
   cron jobs wait in the queue with future scores and are not a backlog); every ``--interval``
   seconds records a row: alerts posted and answered 200, non-200 answers (and client errors) in
   the interval, VmRSS of the api and of each worker (``/proc/<pid>/status``), the due queue depth
   now and its maximum over the interval, alerts grouped so far (sum of the groups'
   ``alerts_count``, exact past the per-group cap of kept alerts) and Redis ``used_memory``;
4. when posting ends, waits (``--drain``, 120 s) until every accepted alert is grouped and nothing
   is due; then prints the table and PASS/FAIL against the bounds below. Exit status 0 on PASS.

Bounds (each a flag):

- **RSS growth** of the api and of each worker, from the first sample after the warm-up
  (``--warmup``, 60 s, or a third of the run when the run is shorter than three warm-ups; start-up,
  imports, template compilation, connection pools and allocator arenas settle in it) to the largest
  sample after it, below ``--rss-bound-mb`` (30 MB). A leak of one object per alert (a few hundred
  bytes) at 500 alerts/s crosses it within minutes;
- **queue depth**: the largest due depth seen (1 s sampling) below ``--queue-bound-s`` (2) seconds
  worth of alerts (``2 * rate``): the workers keep up instead of falling behind;
- **errors**: zero non-200 answers and zero client errors (timeouts, resets);
- **grouped**: the sum of the groups' ``alerts_count`` equals the number of 200 answers;
- the offered rate was achieved (posts sent at least 97% of ``rate * duration`` within the run,
  else the client, not the service, was the limit and the run proves less than it says), and
  every process is still running at the end.

Redis memory is reported, not bounded here: it grows with the alerts stored and levels off by
design. Each group keeps its newest ``ALERT_INGEST_MAX_ALERTS_PER_GROUP`` (1,000) alerts, so with
``--keys`` groups at most ``keys * 1000`` alert documents exist (200 keys: 200,000, reached after
400 s at 500/s); the event stream ``ai:events`` is capped at 100,000 entries (``MAXLEN ~``,
reached after 200 s); resolved groups and their alerts are deleted after the retention period
(``ALERT_INGEST_RETENTION_DAYS``). The table shows ``used_memory`` flatten once both caps are
reached.

The client, api, workers and Redis share the machine's cores. Every process started here is
stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import common  # noqa: E402  (bench/common.py, found through the path set above)
from common import EVENTS, ORG, QUEUE, Children, PostStats, Stack, grouped_count  # noqa: E402

# --------------------------------------------------------------------------- measurements


async def due_depth(redis: Any) -> int:
    return int(await redis.zcount(QUEUE, "-inf", int(time.time() * 1000)))


async def used_memory_mb(redis: Any) -> float:
    info = await redis.info("memory")
    return int(info["used_memory"]) / 2**20


@dataclass
class Row:
    t: float
    sent: int
    ok: int
    errors: int
    api_mb: float
    worker_mb: list[float]
    due: int
    due_max: int
    grouped: int
    redis_mb: float


# --------------------------------------------------------------------------- run


@dataclass
class Run:
    args: argparse.Namespace
    stack: Stack  # Redis, api, link
    workers: list[subprocess.Popen[bytes]]
    counts: PostStats = field(default_factory=PostStats)
    rows: list[Row] = field(default_factory=list)
    due_max_all: int = 0
    seconds: float = 0.0
    drained: bool = False
    grouped: int = 0
    stream_len: int = 0
    alerts_kept: int = 0
    redis_mb_end: float = 0.0


async def take_row(run: Run, redis: Any, t: float, due: int, due_max: int, errors: int) -> None:
    row = Row(
        t=t,
        sent=run.counts.sent,
        ok=run.counts.ok,
        errors=errors,
        api_mb=common.rss_mb(run.stack.api.pid),
        worker_mb=[common.rss_mb(w.pid) for w in run.workers],
        due=due,
        due_max=due_max,
        grouped=await grouped_count(redis),
        redis_mb=await used_memory_mb(redis),
    )
    run.rows.append(row)
    print(format_row(row), flush=True)


async def sample(run: Run, redis: Any, stop: asyncio.Event, started: float) -> None:
    """Due depth every second; a row every ``--interval`` seconds, and one when ``stop`` is set."""
    next_row = started + run.args.interval
    due_max = 0
    last_failed = 0
    while True:
        stopping = stop.is_set()
        due = await due_depth(redis)
        due_max = max(due_max, due)
        run.due_max_all = max(run.due_max_all, due)
        now = time.monotonic()
        if now >= next_row or stopping:
            errors = run.counts.failed - last_failed
            await take_row(run, redis, now - started, due, due_max, errors)
            last_failed = run.counts.failed
            due_max = 0
            next_row += run.args.interval
        if stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def drain(run: Run, redis: Any) -> None:
    deadline = time.monotonic() + run.args.drain
    while time.monotonic() < deadline:
        run.grouped = await grouped_count(redis)
        if run.grouped >= run.counts.ok and await due_depth(redis) == 0:
            run.drained = True
            return
        await asyncio.sleep(0.5)


async def soak(run: Run) -> None:
    import redis.asyncio as aredis

    args = run.args
    redis = aredis.Redis.from_url(run.stack.redis_url)
    try:
        stop = asyncio.Event()
        started = time.monotonic()
        sampler = asyncio.create_task(sample(run, redis, stop, started))
        bodies = common.bodies(args.keys, "soak")
        run.seconds = await common.offer(
            run.stack.link, bodies, args.rate, args.duration, args.connections, run.counts
        )
        stop.set()
        await sampler
        print(f"posting done after {run.seconds:.1f}s; draining", flush=True)
        await drain(run, redis)
        run.stream_len = await redis.xlen(EVENTS)
        run.alerts_kept = await redis.zcard(f"ai:org:{ORG}:alerts")
        run.redis_mb_end = await used_memory_mb(redis)
    finally:
        await redis.aclose()


# --------------------------------------------------------------------------- report


def header(workers: int) -> str:
    ws = "".join(f"{f'w{i} MB':>8}" for i in range(workers))
    return (
        f"{'t s':>6}{'posted':>9}{'200':>9}{'errors':>7}{'api MB':>8}{ws}{'due':>6}"
        f"{'due max':>8}{'grouped':>9}{'redis MB':>9}"
    )


def format_row(row: Row) -> str:
    ws = "".join(f"{mb:8.1f}" for mb in row.worker_mb)
    return (
        f"{row.t:6.0f}{row.sent:9d}{row.ok:9d}{row.errors:7d}{row.api_mb:8.1f}{ws}"
        f"{row.due:6d}{row.due_max:8d}{row.grouped:9d}{row.redis_mb:9.1f}"
    )


def growth(values: list[float]) -> float:
    """Largest sample after the first, minus the first (the baseline after the warm-up)."""
    return max(values) - values[0] if values else 0.0


def verdict(run: Run) -> bool:
    args = run.args
    warm = [r for r in run.rows if r.t >= args.warmup - 0.5]
    checks: list[tuple[str, bool, str]] = []
    if not warm:
        checks.append(("samples after the warm-up", False, "none (run too short)"))
    else:
        api_growth = growth([r.api_mb for r in warm])
        top = max(r.api_mb for r in warm)
        checks.append(
            (
                "api RSS growth after warm-up",
                api_growth < args.rss_bound_mb,
                f"{api_growth:+.1f} MB (bound < {args.rss_bound_mb:g} MB; "
                f"{warm[0].api_mb:.1f} -> max {top:.1f})",
            )
        )
        for i in range(len(run.workers)):
            values = [r.worker_mb[i] for r in warm]
            g = growth(values)
            checks.append(
                (
                    f"worker {i} RSS growth after warm-up",
                    g < args.rss_bound_mb,
                    f"{g:+.1f} MB (bound < {args.rss_bound_mb:g} MB; "
                    f"{values[0]:.1f} -> max {max(values):.1f})",
                )
            )
    queue_bound = args.queue_bound_s * args.rate
    checks.append(
        (
            "max due queue depth",
            run.due_max_all < queue_bound,
            f"{run.due_max_all} (bound < {queue_bound:g} = {args.queue_bound_s:g} s of alerts)",
        )
    )
    counts = run.counts
    checks.append(
        (
            "errors",
            counts.failed == 0,
            f"{counts.failed} {counts.errors or ''} of {counts.sent} posts",
        )
    )
    checks.append(
        (
            "every accepted alert grouped",
            run.drained and run.grouped == counts.ok,
            f"{run.grouped} grouped of {counts.ok} accepted"
            + ("" if run.drained else f" (not drained in {args.drain:g}s)"),
        )
    )
    offered = int(args.rate * args.duration)
    achieved = counts.sent / run.seconds if run.seconds else 0.0
    checks.append(
        (
            "offered rate achieved",
            counts.sent >= offered and run.seconds <= args.duration * 1.03 + 1,
            f"{counts.sent} posts in {run.seconds:.1f}s = {achieved:.0f}/s "
            f"(client max lag {counts.max_lag * 1000:.0f} ms)",
        )
    )
    alive = [p.poll() is None for p in [run.stack.api, *run.workers]]
    checks.append(("api and workers alive", all(alive), str(alive)))
    print()
    print(f"bounds (warm-up {args.warmup:g}s):")
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    print(
        f"redis at the end: used_memory {run.redis_mb_end:.1f} MB, ai:events "
        f"{run.stream_len} entries (capped ~100,000), alerts kept {run.alerts_kept} "
        f"(cap {args.keys} keys x 1,000 per group = {args.keys * 1000})"
    )
    ok = all(ok for _, ok, _ in checks)
    print("PASS" if ok else "FAIL")
    return ok


def bench(args: argparse.Namespace, children: Children, workdir: Path) -> int:
    stack = common.start_stack(children, workdir, args.aof)
    workers = [
        common.start_worker(stack, args.concurrency, workdir / f"worker-{i}.log")
        for i in range(args.workers)
    ]
    print(
        f"{common.machine(args.aof)}; {args.workers} "
        f"worker(s) --concurrency {args.concurrency}; {args.rate:g} alerts/s for "
        f"{args.duration:g}s over {args.keys} grouping keys; sample every {args.interval:g}s",
        flush=True,
    )
    print(header(args.workers), flush=True)
    run = Run(args, stack, workers)
    asyncio.run(soak(run))
    print()
    print(header(args.workers))
    for row in run.rows:
        print(format_row(row))
    ok = verdict(run)
    for i in range(args.workers):
        common.print_log_tail(f"worker {i}", workdir / f"worker-{i}.log")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (600)")
    parser.add_argument("--rate", type=float, default=500.0, help="alerts/s offered (500)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--concurrency", type=int, default=50, help="worker --concurrency (50)")
    parser.add_argument("--keys", type=int, default=200, help="distinct grouping keys (200)")
    parser.add_argument("--connections", type=int, default=50, help="client connections (50)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds per row (10)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before RSS baseline")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to drain (120)")
    parser.add_argument("--rss-bound-mb", type=float, default=30.0, help="MB (30)")
    parser.add_argument("--queue-bound-s", type=float, default=2.0, help="seconds of alerts (2)")
    common.add_aof_argument(parser)
    args = parser.parse_args()
    args.warmup = min(args.warmup, args.duration / 3)
    missing = common.missing_tools("bench/soak")
    if missing:
        print(missing, file=sys.stderr)
        return 2
    return common.run_main("bench/soak", lambda children, workdir: bench(args, children, workdir))


if __name__ == "__main__":
    raise SystemExit(main())
