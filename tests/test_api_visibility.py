"""What an operator sees of a running api: the ``listening on`` line, the JSON access log, metrics
on a port of their own, ``--version``, and ``dlq list`` when nothing is dead-lettered.

Real ``alert-ingest`` processes.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis, free_port
from tests.processes import Service, environment, running, wait_ready
from tests.test_faults import setup_integration

pytestmark = pytest.mark.slow


def start_api(env: dict[str, str], log: Path, *flags: str) -> tuple[Service, int]:
    port = free_port()
    args = ["api", "--host", "127.0.0.1", "--port", str(port), *flags]
    service = Service(args, env, log, f"http://127.0.0.1:{port}")
    service.start()
    return service, port


@pytest.mark.parametrize("serve", ["all", "links", "api"])
async def test_the_api_says_where_it_listens(
    serve: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    server, port = start_api(environment(redis_server.url), tmp_path / "api.log", "--serve", serve)
    with running(server):
        server.wait_for_log(f"listening on http://127.0.0.1:{port} (serving {serve})\n")
    assert b"metrics on" not in server.log.read_bytes()


async def test_access_log_and_metrics_on_their_own_port(
    redis_server: EmbeddedRedis, redis: Redis, tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = environment(
        redis_server.url,
        ALERT_INGEST_ACCESS_LOG="1",
        ALERT_INGEST_METRICS_PORT=str(metrics_port),
        ALERT_INGEST_LOG_LEVEL="warning",  # the access log is at info: it shows all the same
    )
    server, _ = start_api(env, tmp_path / "api.log")
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    with running(server):
        await wait_ready(server.url)
        server.wait_for_log(f"metrics on {metrics}\n")
        link = await setup_integration(server.url, redis)
        token = link.rstrip("/").rsplit("/", 1)[-1]
        async with aiohttp.ClientSession() as session:
            async with session.post(server.url + link + "?secret=q1", json={"a": 1}) as resp:
                assert resp.status == 200
            async with session.get(server.url + "/nowhere/" + token) as resp:
                assert resp.status == 404
            async with session.get(server.url + "/metrics") as resp:
                assert resp.status == 404  # not on the public port
            async with session.get(metrics) as resp:
                assert resp.status == 200
                exposition = await resp.text()
        server.wait_for_log('"route":"-"')
    # the same registry: the link post on the main port is counted on the metrics port
    assert 'handler="link",integration_type="formatted_webhook"} 1.0' in exposition
    log = server.log.read_text()
    assert token not in log and "q1" not in log
    access = [orjson.loads(line) for line in log.splitlines() if '"ingest.access"' in line]
    by_route = {(entry["method"], entry["route"]): entry for entry in access}
    post = by_route[("POST", "/integrations/v1/{type}/{token}/")]
    assert post["status"] == 200 and post["duration_ms"] >= 0 and post["event"] == "request"
    assert by_route[("GET", "-")]["status"] == 404
    assert by_route[("POST", "/api/v1/integrations/")]["status"] == 201
    assert not any(entry["route"] == "/metrics" for entry in access)


async def test_no_access_log_by_default(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    env = environment(redis_server.url, ALERT_INGEST_LOG_LEVEL="info")
    server, _ = start_api(env, tmp_path / "api.log")
    with running(server):
        await wait_ready(server.url)
        async with aiohttp.ClientSession() as session, session.get(server.url + "/metrics") as r:
            assert r.status == 200  # on the main port when METRICS_PORT is unset
    assert "ingest.access" not in server.log.read_text()


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alert_ingest.cli", *args],
                          env={**environment("redis://127.0.0.1:1/0"), **env},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_version() -> None:
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"alert-ingest {importlib.metadata.version('alert-ingest')}\n"


def test_dlq_list_says_when_it_is_empty(redis_server: EmbeddedRedis, redis: Redis) -> None:
    done = cli("dlq", "list", ALERT_INGEST_REDIS_URL=redis_server.url)
    assert done.returncode == 0 and done.stdout == "no dead-lettered alerts\n", done


async def test_the_worker_takes_its_metrics_port_from_the_variable(tmp_path: Path) -> None:
    port = free_port()
    env = environment("redis://127.0.0.1:1/0", ALERT_INGEST_METRICS_PORT=str(port))
    busy = Service(["worker"], env, tmp_path / "worker.log")
    busy.start()
    with running(busy):
        await wait_ready(f"http://127.0.0.1:{port}", "/health/live")
