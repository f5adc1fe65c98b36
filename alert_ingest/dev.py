"""``alert-ingest dev``: the one-command demo.

Starts an embedded Redis (when ``ALERT_INGEST_REDIS_URL`` is unset; data and AOF under
``--data-dir``), the api and one worker as child processes, creates an organization ``demo`` with
a token and a demo Alertmanager integration, and prints the URL, the token and ready-to-paste
curl commands. Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


def _wait_ready(url: str, children: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a child process exited during start-up; see its log above")
        try:
            with urllib.request.urlopen(url + "/health/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the api did not become ready at {url} in {timeout:.0f}s")


async def _token(redis_url: str) -> str:
    redis: Redis = connect(redis_url)
    try:
        _, secret = await tokens.create_token(redis, DEMO_ORG, list(SCOPES), name="dev")
        return secret
    finally:
        await redis.aclose()


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
    if status != 201:
        raise RuntimeError(f"creating the demo integration failed: {status} {created}")
    return dict(created)


def run_dev(settings: Settings, data_dir: str) -> int:
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
        _wait_ready(base, children)
        token = asyncio.run(_token(redis_url))
        integration = _demo_integration(base, token)
        example = root / "demo-alert.json"
        example.write_bytes((Path(__file__).parent / "demo_alert.json").read_bytes())
        _banner(base, redis, redis_url, metrics_port, token, integration, example)
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
    token: str,
    integration: dict[str, Any],
    example: Path,
) -> None:
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
        "",
        "API token (organization demo, all scopes):",
        token,
    ]
    print("\n".join(lines), flush=True)
