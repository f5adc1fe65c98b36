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
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
FIXTURE = ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json"
QUEUE = "alert-ingest:queue"
ORG = "bench-org"
HIGH_RATE = "100000000/1m"
EVENTS = "ai:events"


def _load_ingest_bench() -> ModuleType:
    """bench/ingest.py's helpers (process groups, HTTP waits); its name clashes with ``ingest``."""
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


helpers = _load_ingest_bench()
BenchError = helpers.BenchError
Children = helpers.Children
stop_group = helpers.stop_group
cpu_seconds = helpers.cpu_seconds
wait_http = helpers.wait_http
http_json = helpers.http_json
tail = helpers.tail


# --------------------------------------------------------------------------- posting


def bodies(keys: int, tag: str) -> list[bytes]:
    """The fixture with ``keys`` distinct ``groupKey`` values (the default grouping key)."""
    doc = json.loads(FIXTURE.read_text())
    out = []
    for k in range(keys):
        doc["groupKey"] = f'{{}}:{{alertname="{tag}-{k}"}}'
        out.append(json.dumps(doc).encode())
    return out


@dataclass
class PostStats:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    max_lag: float = 0.0  # paced posting: how late the client was against its schedule

    def record(self, status: int | str) -> None:
        self.sent += 1
        if status == 200:
            self.ok += 1
            return
        self.failed += 1
        self.errors[str(status)] = self.errors.get(str(status), 0) + 1


async def _post(session: Any, link: str, body: bytes, stats: PostStats) -> None:
    import aiohttp

    try:
        async with session.post(
            link, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            await resp.read()
            stats.record(resp.status)
    except (TimeoutError, aiohttp.ClientError) as exc:
        stats.record(type(exc).__name__)


async def post_burst(link: str, payloads: list[bytes], n: int, connections: int) -> PostStats:
    """Post ``n`` alerts as fast as ``connections`` concurrent clients can."""
    import aiohttp

    stats = PostStats()
    counter = iter(range(n))
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), timeout=timeout
    ) as session:

        async def client() -> None:
            for i in counter:
                await _post(session, link, payloads[i % len(payloads)], stats)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(connections)))
        stats.seconds = time.monotonic() - started
    return stats


async def post_paced(
    link: str, payloads: list[bytes], rate: float, duration: float, connections: int
) -> PostStats:
    """Offer ``rate`` alerts/s for ``duration`` s: post i is sent at ``start + i / rate``."""
    import aiohttp

    stats = PostStats()
    total = int(rate * duration)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), timeout=timeout
    ) as session:
        started = loop.time()
        for i in range(total):
            due = started + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                stats.max_lag = max(stats.max_lag, -delay)
            task = loop.create_task(_post(session, link, payloads[i % len(payloads)], stats))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        stats.seconds = loop.time() - started
    return stats


# --------------------------------------------------------------------------- Redis reads


async def grouped_count(redis: Any) -> int:
    """Sum of ``alerts_count`` over the org's groups (exact, unlike the kept alerts)."""
    ids = await redis.zrange(f"ai:org:{ORG}:groups", 0, -1)
    if not ids:
        return 0
    pipe = redis.pipeline(transaction=False)
    for gid in ids:
        pipe.hget(b"ai:group:" + gid, "alerts_count")
    return sum(int(c or 0) for c in await pipe.execute())


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
    children: Children
    workdir: Path
    redis_url: str
    redis_pid: int
    api: subprocess.Popen[bytes]
    link: str
    env: dict[str, str]
    worker: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0


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
    from ingest.embedded_redis import free_port

    env.metrics_port = free_port()
    log = env.workdir / "worker.log"
    with log.open("wb") as out:
        env.worker = env.children.start(
            [
                str(VENV_BIN / "alert-ingest"),
                "worker",
                "--concurrency",
                str(env.args.concurrency),
                "--metrics-port",
                str(env.metrics_port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env.env,
        )
    wait_http(f"http://127.0.0.1:{env.metrics_port}/health/live", env.worker, log)


def start_profiler(env: Env, pid: int) -> subprocess.Popen[bytes] | None:
    if not env.args.profile:
        return None
    spy = env.children.start(
        [
            *(env.args.py_spy, "record", "-r", "200", "--format", "raw"),
            *("-o", str(env.args.profile), "-p", str(pid)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    return spy


def stop_profiler(env: Env, spy: subprocess.Popen[bytes] | None) -> None:
    if spy is None:
        return
    os.killpg(spy.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop_group(spy)
    env.children.procs.remove(spy)
    print(f"  py-spy profile of the worker (raw/folded): {env.args.profile}", flush=True)


async def throughput(env: Env) -> Throughput:
    import redis.asyncio as aredis

    args = env.args
    redis = aredis.Redis.from_url(env.redis_url)
    try:
        before = await grouped_count(redis)
        tail_id = await stream_tail_id(redis)
        posted = await post_burst(env.link, bodies(args.keys, "tp"), args.alerts, args.connections)
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
        cpu_api0 = cpu_seconds(env.api.pid)
        start_worker(env)
        assert env.worker is not None
        spy = start_profiler(env, env.worker.pid)
        t0 = time.monotonic()
        cpu_w0 = cpu_seconds(env.worker.pid)
        cpu_r0 = cpu_seconds(env.redis_pid)
        t1 = await wait_grouped(redis, before + args.alerts, limit_s=max(120.0, args.alerts / 50))
        cpu_w = cpu_seconds(env.worker.pid) - cpu_w0
        cpu_r = cpu_seconds(env.redis_pid) - cpu_r0
        cpu_a = cpu_seconds(env.api.pid) - cpu_api0
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
    redis = aredis.Redis.from_url(env.redis_url)
    try:
        before = await grouped_count(redis)
        tail_id = await stream_tail_id(redis)
        cpu_w0 = cpu_seconds(env.worker.pid)
        cpu_r0 = cpu_seconds(env.redis_pid)
        cpu_a0 = cpu_seconds(env.api.pid)
        posted = await post_paced(
            env.link, bodies(args.keys, "lat"), args.rate, args.duration, args.connections
        )
        await wait_grouped(redis, before + posted.ok, limit_s=60.0)
        cpu_w = cpu_seconds(env.worker.pid) - cpu_w0
        cpu_r = cpu_seconds(env.redis_pid) - cpu_r0
        cpu_a = cpu_seconds(env.api.pid) - cpu_a0
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


async def create_token(redis_url: str) -> str:
    from ingest.redis_conn import connect
    from ingest.store.tokens import create_token as create

    redis = connect(redis_url)
    try:
        _, secret = await create(redis, ORG, ["integrations:write"], "bench")
    finally:
        await redis.aclose()
    return str(secret)


def setup(args: argparse.Namespace, children: Children, workdir: Path) -> Env:
    from ingest.embedded_redis import EmbeddedRedis, free_port

    redis_server = EmbeddedRedis(
        workdir / "redis", appendonly=args.aof != "no", appendfsync=args.aof
    )
    redis_server.start()
    assert redis_server.process is not None
    children.procs.append(redis_server.process)  # stopped with the others on any exit

    api_port = free_port()
    base = f"http://127.0.0.1:{api_port}"
    env = {
        **os.environ,
        "ALERT_INGEST_REDIS_URL": redis_server.url,
        "ALERT_INGEST_HOST": "127.0.0.1",
        "ALERT_INGEST_PORT": str(api_port),
        "ALERT_INGEST_BASE_URL": base,
        "ALERT_INGEST_RATE_LIMIT_INTEGRATION": HIGH_RATE,
        "ALERT_INGEST_RATE_LIMIT_ORGANIZATION": HIGH_RATE,
        "ALERT_INGEST_LOG_LEVEL": "warning",
        "ALERT_INGEST_QUEUE_NAME": QUEUE,
    }
    api_log = workdir / "api.log"
    with api_log.open("wb") as out:
        api = children.start(
            [str(VENV_BIN / "alert-ingest"), "api"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    wait_http(f"{base}/health/live", api, api_log)
    secret = asyncio.run(create_token(redis_server.url))
    integration = http_json(
        "POST", f"{base}/api/v1/integrations/", {"type": "alertmanager", "name": "bench"}, secret
    )
    return Env(
        args=args,
        children=children,
        workdir=workdir,
        redis_url=redis_server.url,
        redis_pid=redis_server.process.pid,
        api=api,
        link=integration["link"],
        env=env,
    )


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
    env = setup(args, children, workdir)
    print(
        f"machine: {os.cpu_count()} cpus, {platform.python_implementation()} "
        f"{platform.python_version()}; redis AOF "
        f"{'off' if args.aof == 'no' else 'on, appendfsync ' + args.aof}; "
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
    worker_log = workdir / "worker.log"
    if worker_log.exists() and worker_log.stat().st_size:
        print(f"worker log (last lines):\n{tail(worker_log, 1000)}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=20000, help="throughput: alerts (20000)")
    parser.add_argument("--keys", type=int, default=50, help="distinct grouping keys (50)")
    parser.add_argument("--rate", type=float, default=500.0, help="latency: alerts/s (500)")
    parser.add_argument("--duration", type=float, default=20.0, help="latency: seconds (20)")
    parser.add_argument("--connections", type=int, default=20, help="client connections (20)")
    parser.add_argument("--concurrency", type=int, default=50, help="worker --concurrency (50)")
    parser.add_argument(
        "--aof", choices=["no", "everysec", "always"], default="everysec", help="(everysec)"
    )
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
    sys.path.insert(0, str(ROOT))
    if not (VENV_BIN / "alert-ingest").exists():
        print(
            "bench/pipeline: .venv/bin/alert-ingest not found (pip install -e .)", file=sys.stderr
        )
        return 2
    args.py_spy = str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else "py-spy"
    if args.profile and shutil.which(args.py_spy) is None:
        print(
            "bench/pipeline: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr
        )
        return 2

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            try:
                return bench(args, children, Path(tmp))
            finally:
                children.stop_all()
    except KeyboardInterrupt:
        print("\nbench/pipeline: interrupted; stopped every process it started", file=sys.stderr)
        return 130
    except (BenchError, urllib.error.URLError, OSError) as exc:
        print(f"bench/pipeline: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
