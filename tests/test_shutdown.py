"""Graceful shutdown: SIGTERM lets in-flight work finish (api requests, worker jobs)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from tests.processes import api, environment, running, wait_ready, worker
from tests.test_faults import post_alerts, setup_integration, wait_busy, wait_processed

pytestmark = pytest.mark.slow


async def test_worker_sigterm_finishes_jobs_in_flight(
    own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    env = environment(own_redis_server.url, ALERT_INGEST_LOG_LEVEL="info")
    redis = Redis.from_url(own_redis_server.url)
    server = api(env, tmp_path)
    first = worker(env, tmp_path, concurrency=50)
    with running(server, first):
        await wait_ready(server.url)
        link = server.url + await setup_integration(server.url, redis)
        await post_alerts(link, 600, keys=40)
        await wait_ready(first.url, "/health/live")
        await wait_busy(redis, 50)
        started = time.monotonic()
        first.signal(signal.SIGTERM)
        assert first.process is not None and first.process.returncode == 0
        assert time.monotonic() - started < 15
        # no alert was left half-done: none is marked in progress (cron jobs have uuid ids)
        assert await redis.keys("arq:in-progress:A*") == []
        second = worker(env, tmp_path)
        with running(second):
            groups = await wait_processed(redis, 600, within=60)
        assert sum(int(g["alerts_count"]) for g in groups) == 600
    log = worker_logs(tmp_path)
    assert b"worker stopped" in log and b"Traceback" not in log
    assert b"webhook dispatch paused" not in log  # webhooks stop before the pool closes
    for line in log.splitlines():  # structured logs: one JSON object per line
        entry = orjson.loads(line)
        assert {"ts", "level", "logger", "event"} <= set(entry)
    await redis.aclose()


def worker_logs(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.glob("worker-*.log"))


async def test_api_sigterm_never_loses_a_200(
    own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    env = environment(own_redis_server.url)
    redis = Redis.from_url(own_redis_server.url)
    server = api(env, tmp_path)
    with running(server):
        await wait_ready(server.url)
        link = server.url + await setup_integration(server.url, redis)
        accepted: set[int] = set()
        failed = 0

        async def sender(start: int) -> None:
            nonlocal failed
            async with aiohttp.ClientSession() as session:
                for n in range(start, start + 10_000):
                    try:
                        async with session.post(link, json={"n": n}) as resp:
                            if resp.status == 200:
                                accepted.add(n)
                                continue
                    except aiohttp.ClientError:
                        pass
                    failed += 1
                    return

        senders = asyncio.gather(*(sender(k * 100_000) for k in range(8)))
        await asyncio.sleep(0.5)
        server.signal(signal.SIGTERM)
        await senders
        assert server.process is not None and server.process.returncode == 0
        assert accepted and failed == 8  # every sender eventually hit the stopped api
        queued = await redis.zrange("alert-ingest:queue", 0, -1)
        bodies = [await redis.get(b"arq:job:" + q) for q in queued]
        numbers = {int(b.split(b'"n":')[1].split(b"}")[0]) for b in bodies if b}
        assert accepted <= numbers
    await redis.aclose()
