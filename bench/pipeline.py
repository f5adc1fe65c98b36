#!/usr/bin/env python3
"""Worker pipeline benchmark: alerts/s of one worker process, and latency at a fixed rate.

Run from the repository root::

    bench/pipeline                    # same as: .venv/bin/python bench/pipeline.py
    bench/pipeline --alerts 20000 --keys 50 --rate 500 --duration 20 --concurrency 50

One run:

1. starts a private ``redis-server`` (``ingest.embedded_redis.EmbeddedRedis``) in a temporary
   folder, AOF on with ``appendfsync everysec`` (``--aof`` changes it), and the real api
   (``.venv/bin/alert-ingest api``, rate limits raised to ``100000000/1m``); creates an API token
   and, through the public API, an ``alertmanager`` integration with the default templates (its
   default route has Slack enabled, so every event carries rendered ``web`` and ``slack``
   channels);
2. **throughput**: with no worker running, posts ``--alerts`` alerts
   (``tests/fixtures/alertmanager/firing.json`` with ``groupKey`` varied over ``--keys`` values)
   to the link; then starts ONE worker process (``.venv/bin/alert-ingest worker --concurrency N
   --metrics-port P``), waits for its ``/health/live``, and measures the time until the queue is
   empty and every alert is grouped (the sum of the groups' ``alerts_count`` equals the number
   posted; ``alerts_count`` stays exact past the per-group cap of kept alerts). Also reported: the
   rate over the span from the first to the last event on ``ai:events`` (excludes start-up), and
   the CPU seconds of the worker, Redis and the api in that time;
3. **latency**: with the worker running, offers ``--rate`` alerts/s for ``--duration`` seconds (an
   aiohttp client pacing the posts over ``--connections`` connections) and reports p50/p90/p99/max
   of two latencies per alert, both from the alert's ``received_at`` (set by the api when the
   request arrived):

   - ``-> event``: to the alert's event on ``ai:events`` (the stream entry id is the Redis clock in
     ms when the event was appended, after the group commit): an upper bound of commit latency;
   - ``-> start``: to the alert's ``created_at`` (the ``now`` the worker takes at the start of the
     pipeline and the grouping script stores): a lower bound.

   The target is checked against ``-> event``, the conservative one;
4. prints a summary table and whether the targets (``--target-rate`` 1500 alerts/s,
   ``--target-p99`` 50 ms) are met. Targets are reported, not enforced.

Every number is measured with the client, api, worker and Redis sharing the machine's cores (the
measurement condition of issue 5: 2 cores). ``--profile FILE`` records a py-spy profile (raw,
folded) of the worker during the throughput phase (``.venv/bin/pip install py-spy``).

Exit status: 0 when every post got a 200 and every alert was grouped with exactly one event, 1
otherwise, 2 when a tool is missing. Every process started here is stopped on exit, error or
Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import common  # noqa: E402  (bench/common.py, found through the path set above)
from common import (  # noqa: E402
    EVENTS,
    QUEUE,
    BenchError,
    Children,
    PostStats,
    Stack,
    bodies,
    cpu_seconds,
    grouped_count,
    post_one,
)

# --------------------------------------------------------------------------- posting


async def post_burst(link: str, payloads: list[bytes], n: int, connections: int) -> PostStats:
    """Post ``n`` alerts as fast as ``connections`` concurrent clients can."""
    stats = PostStats()
    counter = iter(range(n))
    async with common.client_session(connections) as session:

        async def client() -> None:
            for i in counter:
                stats.sent += 1
                await post_one(session, link, payloads[i % len(payloads)], stats)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(connections)))
        stats.seconds = time.monotonic() - started
    return stats


async def post_paced(
    link: str, payloads: list[bytes], rate: float, duration: float, connections: int
) -> PostStats:
    """Offer ``rate`` alerts/s for ``duration`` s: post i is sent at ``start + i / rate``."""
    stats = PostStats()
    stats.seconds = await common.offer(link, payloads, rate, duration, connections, stats)
    return stats


# --------------------------------------------------------------------------- Redis reads


async def wait_grouped(redis: Any, expected: int, limit_s: float, poll: float = 0.02) -> float:
    """Monotonic time at which the queue was empty and ``expected`` alerts were grouped."""
    deadline = time.monotonic() + limit_s
    last = -1
    while time.monotonic() < deadline:
        if await redis.zcard(QUEUE) == 0:
            last = await grouped_count(redis)
            if last >= expected:
                return time.monotonic()
        await asyncio.sleep(poll)
    raise BenchError(f"only {last} of {expected} alerts grouped after {limit_s:.0f}s")


async def stream_tail_id(redis: Any) -> bytes:
    last = await redis.xrevrange(EVENTS, count=1)
    return last[0][0] if last else b"0-0"


async def events_after(redis: Any, after: bytes) -> list[tuple[int, str]]:
    """(ms, alert id) of each event appended after the entry id ``after``."""
    out: list[tuple[int, str]] = []
    start = b"(" + after
    while True:
        batch = await redis.xrange(EVENTS, min=start, max="+", count=5000)
        if not batch:
            return out
        for entry_id, fields in batch:
            out.append((int(entry_id.split(b"-")[0]), fields[b"alert_id"].decode()))
        start = b"(" + batch[-1][0]


@dataclass
class Latencies:
    to_event: list[float]
    to_start: list[float]
    missing: int


async def latencies(redis: Any, events: list[tuple[int, str]]) -> Latencies:
    import orjson

    to_event: list[float] = []
    to_start: list[float] = []
    missing = 0
    for i in range(0, len(events), 1000):
        chunk = events[i : i + 1000]
        pipe = redis.pipeline(transaction=False)
        for _, alert_id in chunk:
            pipe.hmget(f"ai:alert:{alert_id}", "doc", "created_at")
        for (ms, _), (doc, created) in zip(chunk, await pipe.execute(), strict=True):
            if doc is None:
                missing += 1
                continue
            received = float(orjson.loads(doc)["received_at"])
            to_event.append(ms / 1000 - received)
            to_start.append(float(created) - received)
    return Latencies(sorted(to_event), sorted(to_start), missing)


def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


# --------------------------------------------------------------------------- phases


@dataclass
class Env:
    args: argparse.Namespace
    stack: Stack  # Redis, api, link
    worker: subprocess.Popen[bytes] | None = None


@dataclass
class Throughput:
    alerts: int
    post_rate: float
    wall: float
    span_rate: float
    worker_cpu: float
    redis_cpu: float
    api_cpu: float
    events: int

    @property
    def rate(self) -> float:
        return self.alerts / self.wall if self.wall else 0.0


@dataclass
class LatencyRun:
    offered: float
    posted: PostStats
    lat: Latencies
    events: int
    worker_cpu: float
    redis_cpu: float
    api_cpu: float


def start_worker(env: Env) -> None:
    env.worker = common.start_worker(
        env.stack, env.args.concurrency, env.stack.workdir / "worker.log"
    )


def start_profiler(env: Env, pid: int) -> subprocess.Popen[bytes] | None:
    if not env.args.profile:
        return None
    spy = common.start_py_spy(env.stack.children, env.args.py_spy, pid, env.args.profile)
    time.sleep(1.0)  # py-spy attaches
    return spy


def stop_profiler(env: Env, spy: subprocess.Popen[bytes] | None) -> None:
    if spy is None:
        return
    os.killpg(spy.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        common.stop_group(spy)
    env.stack.children.procs.remove(spy)
    print(f"  py-spy profile of the worker (raw/folded): {env.args.profile}", flush=True)


async def throughput(env: Env) -> Throughput:
    import redis.asyncio as aredis

    args = env.args
    redis = aredis.Redis.from_url(env.stack.redis_url)
    try:
        before = await grouped_count(redis)
        tail_id = await stream_tail_id(redis)
        posted = await post_burst(
            env.stack.link, bodies(args.keys, "tp"), args.alerts, args.connections
        )
        if posted.failed:
            raise BenchError(f"posting: {posted.failed} failed: {posted.errors}")
        queued = await redis.zcard(QUEUE)
        if queued != args.alerts:
            raise BenchError(f"posted {args.alerts} alerts but the queue holds {queued}")
        print(
            f"  posted {posted.ok} alerts in {posted.seconds:.1f}s "
            f"({posted.ok / posted.seconds:.0f}/s), worker stopped; starting the worker",
            flush=True,
        )
        cpu_api0 = cpu_seconds(env.stack.api.pid)
        start_worker(env)
        assert env.worker is not None
        spy = start_profiler(env, env.worker.pid)
        t0 = time.monotonic()
        cpu_w0 = cpu_seconds(env.worker.pid)
        cpu_r0 = cpu_seconds(env.stack.redis_pid)
        t1 = await wait_grouped(redis, before + args.alerts, limit_s=max(120.0, args.alerts / 50))
        cpu_w = cpu_seconds(env.worker.pid) - cpu_w0
        cpu_r = cpu_seconds(env.stack.redis_pid) - cpu_r0
        cpu_a = cpu_seconds(env.stack.api.pid) - cpu_api0
        stop_profiler(env, spy)
        events = await events_after(redis, tail_id)
        span = (events[-1][0] - events[0][0]) / 1000 if len(events) > 1 else 0.0
        return Throughput(
            alerts=args.alerts,
            post_rate=posted.ok / posted.seconds,
            wall=t1 - t0,
            span_rate=(len(events) - 1) / span if span else 0.0,
            worker_cpu=cpu_w,
            redis_cpu=cpu_r,
            api_cpu=cpu_a,
            events=len(events),
        )
    finally:
        await redis.aclose()


async def latency(env: Env) -> LatencyRun:
    import redis.asyncio as aredis

    args = env.args
    assert env.worker is not None
    redis = aredis.Redis.from_url(env.stack.redis_url)
    try:
        before = await grouped_count(redis)
        tail_id = await stream_tail_id(redis)
        cpu_w0 = cpu_seconds(env.worker.pid)
        cpu_r0 = cpu_seconds(env.stack.redis_pid)
        cpu_a0 = cpu_seconds(env.stack.api.pid)
        posted = await post_paced(
            env.stack.link, bodies(args.keys, "lat"), args.rate, args.duration, args.connections
        )
        await wait_grouped(redis, before + posted.ok, limit_s=60.0)
        cpu_w = cpu_seconds(env.worker.pid) - cpu_w0
        cpu_r = cpu_seconds(env.stack.redis_pid) - cpu_r0
        cpu_a = cpu_seconds(env.stack.api.pid) - cpu_a0
        events = await events_after(redis, tail_id)
        lat = await latencies(redis, events)
        return LatencyRun(
            offered=posted.sent / posted.seconds if posted.seconds else 0.0,
            posted=posted,
            lat=lat,
            events=len(events),
            worker_cpu=cpu_w,
            redis_cpu=cpu_r,
            api_cpu=cpu_a,
        )
    finally:
        await redis.aclose()


# --------------------------------------------------------------------------- main


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def report(args: argparse.Namespace, tp: Throughput | None, lr: LatencyRun | None) -> bool:
    ok = True
    print()
    if tp is not None:
        verdict = "met" if tp.rate >= args.target_rate else "NOT met"
        print(f"throughput, one worker process (--concurrency {args.concurrency}):")
        print(
            f"  {tp.alerts} alerts over {args.keys} keys grouped in {tp.wall:.2f}s "
            f"-> {tp.rate:,.0f} alerts/s (target {args.target_rate:,.0f}: {verdict})"
        )
        print(f"  first->last event span rate: {tp.span_rate:,.0f} alerts/s")
        print(
            f"  cpu s: worker {tp.worker_cpu:.1f} ({tp.worker_cpu / tp.wall:.0%} of a core), "
            f"redis {tp.redis_cpu:.1f}, api {tp.api_cpu:.1f}"
        )
        if tp.events != tp.alerts:
            print(f"  FAILED: {tp.events} events for {tp.alerts} alerts (one each expected)")
            ok = False
    if lr is not None:
        lat = lr.lat
        p99 = pct(lat.to_event, 99)
        verdict = "met" if p99 * 1000 < args.target_p99 else "NOT met"
        print(
            f"latency at {args.rate:g} alerts/s offered for {args.duration:g}s "
            f"(achieved {lr.offered:.0f}/s over {args.connections} connections, client max lag "
            f"{lr.posted.max_lag * 1000:.0f} ms; {lr.posted.ok} posted):"
        )
        print(f"  {'ms from received_at':24}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")
        for name, values in (("-> event (commit, upper)", lat.to_event),
                             ("-> start (created_at)", lat.to_start)):  # fmt: skip
            print(
                f"  {name:24}"
                + "".join(ms(pct(values, q)) for q in (50, 90, 99))
                + ms(values[-1] if values else float("nan"))
            )
        print(f"  p99 -> event {p99 * 1000:.1f} ms (target < {args.target_p99:g} ms: {verdict})")
        seconds = lr.posted.seconds or 1.0
        print(
            f"  cpu: worker {lr.worker_cpu / seconds:.0%}, redis {lr.redis_cpu / seconds:.0%}, "
            f"api {lr.api_cpu / seconds:.0%} of a core"
        )
        if lr.posted.failed or lat.missing or lr.events != lr.posted.ok:
            print(
                f"  FAILED: {lr.posted.failed} posts failed {lr.posted.errors}, "
                f"{lr.events} events for {lr.posted.ok} alerts, {lat.missing} alerts missing"
            )
            ok = False
    return ok


def bench(args: argparse.Namespace, children: Children, workdir: Path) -> int:
    env = Env(args, common.start_stack(children, workdir, args.aof))
    print(
        f"{common.machine(args.aof)}; "
        f"worker --concurrency {args.concurrency}; {args.keys} grouping keys",
        flush=True,
    )
    tp = lr = None
    if "throughput" in args.phases:
        print("throughput phase", flush=True)
        tp = asyncio.run(throughput(env))
    if "latency" in args.phases:
        if env.worker is None:
            start_worker(env)
        print(f"latency phase: {args.rate:g} alerts/s for {args.duration:g}s", flush=True)
        lr = asyncio.run(latency(env))
    ok = report(args, tp, lr)
    common.print_log_tail("worker", workdir / "worker.log")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=20000, help="throughput: alerts (20000)")
    parser.add_argument("--keys", type=int, default=50, help="distinct grouping keys (50)")
    parser.add_argument("--rate", type=float, default=500.0, help="latency: alerts/s (500)")
    parser.add_argument("--duration", type=float, default=20.0, help="latency: seconds (20)")
    parser.add_argument("--connections", type=int, default=20, help="client connections (20)")
    parser.add_argument("--concurrency", type=int, default=50, help="worker --concurrency (50)")
    common.add_aof_argument(parser)
    parser.add_argument(
        "--phases",
        default="throughput,latency",
        help="comma-separated: throughput, latency (both)",
    )
    parser.add_argument("--target-rate", type=float, default=1500.0, help="alerts/s (1500)")
    parser.add_argument("--target-p99", type=float, default=50.0, help="ms (50)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="py-spy profile (raw/folded) of the worker during the throughput phase",
    )
    args = parser.parse_args()
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    missing = common.missing_tools("bench/pipeline", args.profile)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    args.py_spy = common.py_spy_path()
    return common.run_main(
        "bench/pipeline", lambda children, workdir: bench(args, children, workdir)
    )


if __name__ == "__main__":
    raise SystemExit(main())
