"""What the benchmark scripts share: child processes, the private stack, posting, readings.

Imported by ``bench/ingest.py``, ``bench/pipeline.py`` and ``bench/soak.py``, which are run as
scripts: each puts the repository root, then ``bench/``, at the front of ``sys.path`` before
``import common`` (the root first, so that ``ingest`` is the package, not ``bench/ingest.py``).

- :class:`Children` starts every process in its own session (process group) and stops the groups
  (SIGTERM, then SIGKILL) on any exit; :func:`run_main` wraps a benchmark with the signal handling
  (SIGINT/SIGTERM/SIGHUP raise ``KeyboardInterrupt``), a temporary folder and the exit statuses;
- :func:`start_stack` starts a private ``redis-server`` (``EmbeddedRedis``) and the real
  ``alert-ingest api`` with rate limits raised, waits for it, creates an API token and an
  ``alertmanager`` integration through the public API; :func:`start_worker` adds a worker;
- :func:`offer` posts at a fixed rate (post i at ``start + i / rate``) into :class:`PostStats`;
- readings: :func:`cpu_seconds`, :func:`rss_mb` (``/proc``), :func:`grouped_count` (Redis).
"""

from __future__ import annotations

import argparse
import asyncio
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
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
ALERT_INGEST = VENV_BIN / "alert-ingest"
FIXTURE = ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json"
QUEUE = "alert-ingest:queue"
EVENTS = "ai:events"
ORG = "bench-org"
HIGH_RATE = "100000000/1m"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


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


def start_service(
    children: Children,
    cmd: list[str],
    log: Path,
    health_url: str,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with its output in ``log`` and wait until ``health_url`` answers 200."""
    with log.open("wb") as out:
        proc = children.start(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    wait_http(health_url, proc, log)
    return proc


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


def print_log_tail(name: str, log: Path) -> None:
    """The end of a child's log, when it wrote anything (warnings and errors only)."""
    if log.exists() and log.stat().st_size:
        print(f"{name} log (last lines):\n{tail(log, 1000)}")


def py_spy_path() -> str:
    return str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else "py-spy"


def start_py_spy(
    children: Children, py_spy: str, pid: int, output: Path, duration: float | None = None
) -> subprocess.Popen[bytes]:
    """``py-spy record`` (raw/folded) of ``pid``: for ``duration`` s, or until SIGINT."""
    limit = ["-d", f"{duration:g}"] if duration is not None else []
    return children.start(
        [
            *(py_spy, "record", *limit, "-r", "200", "--format", "raw"),
            *("-o", str(output), "-p", str(pid)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_main(name: str, bench: Callable[[Children, Path], int]) -> int:
    """Run ``bench(children, workdir)``; stop every child on exit, error, Ctrl-C or SIGTERM/HUP.

    ``name`` (``bench/ingest``) prefixes the messages. Exit status: the benchmark's, 130 when
    interrupted, 1 on an error.
    """

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix=name.replace("/", "-") + "-") as tmp:
            try:
                return bench(children, Path(tmp))
            finally:
                children.stop_all()
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted; stopped every process it started", file=sys.stderr)
        return 130
    except (BenchError, urllib.error.URLError, OSError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1


def missing_tools(name: str, profile: Path | None = None) -> str | None:
    """``None`` when ``alert-ingest`` (and, with ``profile``, py-spy) are there; else says why."""
    if not ALERT_INGEST.exists():
        return f"{name}: .venv/bin/alert-ingest not found (pip install -e .)"
    if profile and shutil.which(py_spy_path()) is None:
        return f"{name}: --profile needs py-spy: .venv/bin/pip install py-spy"
    return None


# --------------------------------------------------------------------------- readings


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (from /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def grouped_count(redis: Any) -> int:
    """Sum of ``alerts_count`` over the org's groups (exact, unlike the kept alerts)."""
    ids = await redis.zrange(f"ai:org:{ORG}:groups", 0, -1)
    if not ids:
        return 0
    pipe = redis.pipeline(transaction=False)
    for gid in ids:
        pipe.hget(b"ai:group:" + gid, "alerts_count")
    return sum(int(c or 0) for c in await pipe.execute())


def machine(aof: str) -> str:
    """The start of the ``machine:`` line every benchmark prints first."""
    return (
        f"machine: {os.cpu_count()} cpus, {platform.python_implementation()} "
        f"{platform.python_version()}; redis AOF "
        f"{'off' if aof == 'no' else 'on, appendfsync ' + aof}"
    )


def add_aof_argument(parser: argparse.ArgumentParser, help: str = "(everysec)") -> None:
    parser.add_argument(
        "--aof", choices=["no", "everysec", "always"], default="everysec", help=help
    )


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """A private Redis and the real api on it, with a token and an alertmanager integration."""

    children: Children
    workdir: Path
    redis_url: str
    redis_pid: int
    api: subprocess.Popen[bytes]
    api_log: Path
    base: str  # http://127.0.0.1:<api port>
    link: str  # the integration's link, posted to
    env: dict[str, str]  # the api's environment, also given to workers
    secret: str = ""  # an API token with every scope


async def create_token(redis_url: str) -> str:
    from ingest.redis_conn import connect
    from ingest.store.tokens import create_token as create

    redis = connect(redis_url)
    try:
        _, secret = await create(redis, ORG, ["integrations:write"], "bench")
    finally:
        await redis.aclose()
    return str(secret)


def http_json(method: str, url: str, body: Any, token: str) -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def start_stack(
    children: Children, workdir: Path, aof: str, replicas: int = 0, min_replicas: int = 0
) -> Stack:
    """Redis (AOF off with ``aof="no"``, else on with that appendfsync), api, token, integration.

    With ``replicas``, that many local replicas of the primary (same AOF setting), in sync before
    the api starts; ``min_replicas`` is the api's ``ALERT_INGEST_REDIS_MIN_REPLICAS``. Redis and
    the api are in ``children``: stopped with the others on any exit.
    """
    from ingest.embedded_redis import EmbeddedRedis, free_port

    quick_sync = ["--repl-diskless-sync-delay", "0"]
    redis_server = EmbeddedRedis(
        workdir / "redis", appendonly=aof != "no", appendfsync=aof, extra_args=quick_sync
    )
    redis_server.start()
    assert redis_server.process is not None
    children.procs.append(redis_server.process)
    for n in range(replicas):
        replica = EmbeddedRedis(workdir / f"replica-{n}", appendonly=aof != "no",
                                appendfsync=aof, extra_args=[*quick_sync, "--replicaof",
                                "127.0.0.1", str(redis_server.port)])  # fmt: skip
        replica.start()
        assert replica.process is not None
        children.procs.append(replica.process)
    if replicas:
        wait_replicas(redis_server.url, replicas)

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
        "ALERT_INGEST_RATE_LIMIT_API": HIGH_RATE,
        "ALERT_INGEST_LOG_LEVEL": "warning",
        "ALERT_INGEST_QUEUE_NAME": QUEUE,
        "ALERT_INGEST_REDIS_MIN_REPLICAS": str(min_replicas),
    }
    api_log = workdir / "api.log"
    api = start_service(children, [str(ALERT_INGEST), "api"], api_log, f"{base}/health/live", env)
    secret = asyncio.run(create_token(redis_server.url))
    integration = http_json(
        "POST", f"{base}/api/v1/integrations/", {"type": "alertmanager", "name": "bench"}, secret
    )
    return Stack(
        children=children,
        workdir=workdir,
        redis_url=redis_server.url,
        redis_pid=redis_server.process.pid,
        api=api,
        api_log=api_log,
        base=base,
        link=integration["link"],
        env=env,
        secret=secret,
    )


def wait_replicas(redis_url: str, replicas: int, timeout: float = 20.0) -> None:
    """Until ``replicas`` replicas confirm a write (``WAIT``): their first sync is done."""
    import redis as redis_sync

    with redis_sync.Redis.from_url(redis_url) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client.set("bench:replicas-ready", "1")
            if int(client.wait(replicas, 500)) >= replicas:
                return
    raise BenchError(f"{replicas} replicas not in sync within {timeout:g} s")


def start_worker(stack: Stack, concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    """A real ``alert-ingest worker --concurrency N``, once its ``/health/live`` answers."""
    from ingest.embedded_redis import free_port

    port = free_port()
    cmd = [str(ALERT_INGEST), "worker", "--concurrency", str(concurrency)]
    cmd += ["--metrics-port", str(port)]
    return start_service(
        stack.children, cmd, log, f"http://127.0.0.1:{port}/health/live", stack.env
    )


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
    """Counters of a poster (``sent`` counts a post when it is sent; read live by samplers)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    max_lag: float = 0.0  # paced posting: how late the client was against its schedule

    def record(self, status: int | str) -> None:
        if status == 200:
            self.ok += 1
            return
        self.failed += 1
        self.errors[str(status)] = self.errors.get(str(status), 0) + 1


def client_session(connections: int) -> Any:
    """An aiohttp session of at most ``connections`` connections, 30 s per request."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def post_one(session: Any, link: str, body: bytes, stats: PostStats) -> None:
    """POST one alert and record the answer's status (or the client error's name)."""
    import aiohttp

    try:
        async with session.post(
            link, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            await resp.read()
            stats.record(resp.status)
    except (TimeoutError, aiohttp.ClientError) as exc:
        stats.record(type(exc).__name__)


async def offer(
    link: str,
    payloads: list[bytes],
    rate: float,
    duration: float,
    connections: int,
    stats: PostStats,
) -> float:
    """Offer ``rate`` alerts/s for ``duration`` s: post i is sent at ``start + i / rate``.

    Returns the seconds it took, until the last answer.
    """
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    async with client_session(connections) as session:
        started = loop.time()
        for i in range(int(rate * duration)):
            delay = started + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                stats.max_lag = max(stats.max_lag, -delay)
            stats.sent += 1
            task = loop.create_task(post_one(session, link, payloads[i % len(payloads)], stats))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return loop.time() - started
