"""SIGTERM and SIGINT stop a worker in every state (connecting, retrying, processing, draining),
and the api and dev mode while Redis is unreachable.

The signal handlers belong to the process (``worker.shutdown``), not to one arq ``Worker``
object: the retry loop builds a new one after each Redis outage, and a signal that came while
it waited between two of them used to go unheard until SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis, free_port
from tests.processes import Service, api, environment, running, wait_ready, worker
from tests.test_faults import post_alerts, setup_integration, wait_busy

pytestmark = pytest.mark.slow

STOP_WITHIN_S = 5.0
UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_stops_a_worker_retrying_an_unreachable_redis(
    sig: signal.Signals, tmp_path: Path
) -> None:
    service = worker(environment(UNREACHABLE, ALERT_INGEST_LOG_LEVEL="info"), tmp_path)
    with running(service):
        service.wait_for_log("redis unreachable; retrying")
        service.wait_for_log('"webhook dispatch paused"')  # a while later: between two passes
        assert service.stop_within(sig, STOP_WITHIN_S) == 0
    assert b"worker stopped" in service.log.read_bytes()
    assert b"Traceback" not in service.log.read_bytes()


def test_signal_stops_a_worker_waiting_for_redis_to_answer(tmp_path: Path) -> None:
    """Connecting: the server accepts the connection but never answers (a hung Redis)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        service = worker(environment(url, ALERT_INGEST_LOG_LEVEL="info"), tmp_path)
        with running(service):
            service.wait_for_log("worker started")
            assert service.stop_within(signal.SIGTERM, STOP_WITHIN_S) == 0
    log = service.log.read_bytes()
    assert b"worker stopped" in log and b"redis unreachable" not in log


async def test_processing_then_draining_then_a_second_signal_stops_at_once(
    own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    """Jobs in flight are waited for (the drain); a second signal ends the wait at once."""
    env = environment(own_redis_server.url, ALERT_INGEST_LOG_LEVEL="info")
    redis = Redis.from_url(own_redis_server.url)
    server = api(env, tmp_path)
    port = free_port()
    args = ["worker", "--metrics-port", str(port), "--completion-wait", "120"]
    busy = Service(args, env, tmp_path / "worker.log")
    with running(server, busy):
        await wait_ready(server.url)
        link = server.url + await setup_integration(server.url, redis)
        await post_alerts(link, 400, keys=20)
        busy.start()
        await wait_busy(redis, 20)
        assert own_redis_server.process is not None
        own_redis_server.process.send_signal(signal.SIGSTOP)  # jobs in flight now hang on Redis
        try:
            assert busy.process is not None
            os.killpg(busy.process.pid, signal.SIGTERM)
            busy.wait_for_log("stop requested")
            await asyncio.sleep(0.5)
            assert busy.process.poll() is None  # draining: up to --completion-wait
            assert busy.stop_within(signal.SIGTERM, STOP_WITHIN_S) == 0
        finally:
            own_redis_server.process.send_signal(signal.SIGCONT)
    assert b"second stop request" in busy.log.read_bytes()
    await redis.aclose()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_signal_stops_an_api_whose_redis_is_unreachable(
    sig: signal.Signals, tmp_path: Path
) -> None:
    server = api(environment(UNREACHABLE), tmp_path)
    with running(server):
        await wait_ready(server.url, "/health/live")
        assert server.stop_within(sig, STOP_WITHIN_S) == 0


async def test_signal_stops_dev_mode_waiting_for_an_unreachable_redis(tmp_path: Path) -> None:
    port = free_port()
    args = ["dev", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    dev = Service(args, environment(UNREACHABLE), tmp_path / "dev.log")
    dev.start()
    with running(dev):
        await wait_ready(f"http://127.0.0.1:{port}", "/health/live")  # its api child is up
        assert dev.process is not None
        dev.process.send_signal(signal.SIGTERM)  # to dev alone: it stops its children
        assert dev.process.wait(timeout=2 * STOP_WITHIN_S) == 0  # its children stop at once
    assert b"Traceback" not in dev.log.read_bytes()
