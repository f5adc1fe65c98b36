"""``alert-ingest dev``: the one-command demo.

Starts an embedded Redis (when ``ALERT_INGEST_REDIS_URL`` is unset; data and AOF under
``--data-dir``), the api and one worker as child processes, creates an organization ``demo`` with
a token and a demo Alertmanager integration, and prints the URL, the Redis URL to export in other
shells (for ``alert-ingest tokens`` and ``dlq``), ready-to-paste curl commands and, as its last
line, once the api and the worker are both ready, the token. Ctrl-C (or SIGTERM) stops everything
it started.

- The api's port already taken (another dev, say): one line saying so, exit 1, nothing started.
- The token is kept in ``<data-dir>/dev-token.json`` (mode 0600) and reused by the next run while
  it is still valid; otherwise the previous one is revoked and a new one created, so restarts do
  not pile up all-scope tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis, free_port
from ingest.models import SCOPES
from ingest.redis_conn import connect
from ingest.settings import PREFIX, Settings
from ingest.store import tokens

DEMO_ORG = "demo"
DEMO_NAME = "Demo Alertmanager"
TOKEN_FILE = "dev-token.json"


def _request(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", token)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def port_taken(host: str, port: int) -> bool:
    """Whether something already answers on ``localhost:port`` (the URL the banner prints) or
    holds ``host:port`` (where the api would listen)."""
    with contextlib.suppress(OSError), socket.create_connection(("localhost", port), timeout=1):
        return True
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the api binds
        try:
            sock.bind(address)
        except OSError:
            return True
    return False


def _wait_ready(
    urls: list[str],
    children: list[subprocess.Popen[bytes]],
    stopping: Callable[[], bool],
    timeout: float = 60,
) -> bool:
    """Wait until every ``<url>/health/ready`` answers 200 (the api, the worker); False when a
    signal asked to stop first (Ctrl-C while Redis is unreachable stops now, not at the timeout)."""
    deadline = time.monotonic() + timeout
    waiting = list(urls)
    while waiting and time.monotonic() < deadline:
        if stopping():
            return False
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a child process exited during start-up; see its log above")
        try:
            with urllib.request.urlopen(waiting[0] + "/health/ready", timeout=1) as resp:
                if resp.status == 200:
                    waiting.pop(0)
                    continue
        except OSError:
            pass
        time.sleep(0.1)
    if waiting:
        raise RuntimeError(f"{waiting[0]} did not become ready in {timeout:.0f}s")
    return True


async def dev_token(redis_url: str, saved: Path) -> tuple[str, bool]:
    """The demo organization's all-scope token and whether it is the previous run's, reused.

    ``saved`` holds the previous run's token (id and secret). Still valid: reused. Otherwise
    that token is revoked (when it still exists) and a new one created and saved."""
    redis: Redis = connect(redis_url)
    try:
        previous = _read_saved(saved)
        if previous is not None:
            live = await tokens.authenticate(redis, previous["secret"])
            if live is not None and live.id == previous["id"]:
                return previous["secret"], True
            await tokens.revoke_token(redis, previous["id"])
        token, secret = await tokens.create_token(redis, DEMO_ORG, list(SCOPES), name="dev")
    finally:
        await redis.aclose()
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"id": token.id, "secret": secret}, out)
    return secret, False


def _read_saved(saved: Path) -> dict[str, str] | None:
    try:
        found = json.loads(saved.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(found, dict) and all(isinstance(found.get(k), str) for k in ("id", "secret")):
        return {"id": found["id"], "secret": found["secret"]}
    return None


def _demo_integration(base: str, token: str) -> dict[str, Any]:
    status, found = _request(
        "GET", f"{base}/api/v1/integrations/?name={DEMO_NAME.replace(' ', '+')}", token
    )
    if status == 200 and found["results"]:
        result: dict[str, Any] = found["results"][0]
        return result
    status, created = _request(
        "POST", f"{base}/api/v1/integrations/", token, {"type": "alertmanager", "name": DEMO_NAME}
    )
    if status == 401:  # our token, another server: something took the port after our check
        raise RuntimeError(f"{base} is not the api this dev started (is the port taken?)")
    if status != 201:
        raise RuntimeError(f"creating the demo integration failed: {status} {created}")
    return dict(created)


def run_dev(settings: Settings, data_dir: str) -> int:
    if port_taken(settings.host, settings.port):
        print(
            f"alert-ingest dev: port {settings.port} is already in use (another alert-ingest dev?);"
            " stop that process or choose another port with --port",
            file=sys.stderr,
        )
        return 1
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    redis: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not settings.redis_url_from_env:
        redis = EmbeddedRedis(root / "redis", appendonly=True)
        redis.start()
        redis_url = redis.url
    base = f"http://localhost:{settings.port}"
    if PREFIX + "BASE_URL" not in env:
        env[PREFIX + "BASE_URL"] = base
    env[PREFIX + "REDIS_URL"] = redis_url
    env[PREFIX + "PORT"] = str(settings.port)
    env.pop(PREFIX + "METRICS_PORT", None)  # the banner shows /metrics on the api port
    metrics_port = free_port()
    command = [sys.executable, "-m", "alert_ingest.cli"]
    children = [
        subprocess.Popen([*command, "api"], env=env),
        subprocess.Popen([*command, "worker", "--metrics-port", str(metrics_port)], env=env),
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        # both ready: their start-up log lines are out before the banner, the token stays last
        if not _wait_ready([base, f"http://127.0.0.1:{metrics_port}"], children, lambda: stopping):
            return 0
        token, reused = asyncio.run(dev_token(redis_url, root / TOKEN_FILE))
        integration = _demo_integration(base, token)
        example = root / "demo-alert.json"
        example.write_bytes((Path(__file__).parent / "demo_alert.json").read_bytes())
        token_line = f"kept in {root / TOKEN_FILE}, " + ("reused" if reused else "new")
        _banner(base, redis, redis_url, metrics_port, (token, token_line), integration, example)
        while not stopping:
            if any(child.poll() is not None for child in children):
                print("alert-ingest dev: a child process exited; stopping", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    except RuntimeError as exc:
        print(f"alert-ingest dev: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop(children)
        if redis is not None:
            redis.stop()


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _banner(
    base: str,
    redis: EmbeddedRedis | None,
    redis_url: str,
    metrics_port: int,
    token_and_line: tuple[str, str],
    integration: dict[str, Any],
    example: Path,
) -> None:
    token, token_line = token_and_line
    where = f"embedded, data in {redis.directory}" if redis else "ALERT_INGEST_REDIS_URL"
    lines = [
        "",
        "alert-ingest dev is running (Ctrl-C stops everything)",
        f"  api:          {base}   (metrics {base}/metrics)",
        f"  worker:       metrics http://localhost:{metrics_port}/metrics",
        f"  redis:        {redis_url} ({where})",
        f"  integration:  {integration['name']} ({integration['id']})",
        f"  link:         {integration['link']}",
        "",
        "Post the example Alertmanager notification:",
        f"  curl -sS -X POST -H 'Content-Type: application/json' --data @{example} "
        f"'{integration['link']}'",
        "See its alert group:",
        f"  curl -sS -H 'Authorization: {token}' {base}/api/v1/alert_groups/",
        "In another shell, before alert-ingest tokens or dlq (they use this Redis then):",
        f"  export ALERT_INGEST_REDIS_URL={shlex.quote(redis_url)}",
        "",
        f"API token (organization demo, all scopes; {token_line}):",
        token,
    ]
    print("\n".join(lines), flush=True)
