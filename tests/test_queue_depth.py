"""``alert_ingest_queue_depth`` counts alert jobs only: 0 on an idle system, N with N queued.

The worker's periodic (cron) jobs wait in the same queue; KEDA scales on this gauge, so counting
them would keep a worker running forever.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.queue import AlertJob
from ingest.settings import Settings
from ingest.store import dead_letters, keys
from tests.processes import environment, running, wait_ready, worker
from worker.settings import create_worker

Client = TestClient[Any, Any]


def gauges(text: str) -> dict[str, float]:
    return {
        sample.name: float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.type == "gauge"
    }


async def queued_ids(redis: Redis, queue: str) -> list[str]:
    return [raw.decode() for raw in await redis.zrange(queue, 0, -1)]


async def test_an_idle_worker_reports_an_empty_queue(
    redis_server: EmbeddedRedis, redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    # a dead letter makes the worker's sample visible: the gauges are set together
    await dead_letters.add(redis, AlertJob("Aold", "C1", 1.0, {}), "RuntimeError: x", 5)
    service = worker(environment(redis_server.url), tmp_path)
    with running(service):
        await wait_ready(service.url, within=60)
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                async with session.get(service.url + "/metrics") as resp:
                    sampled = gauges(await resp.text())
                if sampled["alert_ingest_dead_letter_size"] == 1:
                    break
                await asyncio.sleep(0.1)
        assert sampled["alert_ingest_dead_letter_size"] == 1, "the worker never sampled"
        # the sample ran as a periodic job, itself in the queue while it ran
        assert sampled["alert_ingest_queue_depth"] == 0
        recorded = [
            raw.decode()
            for raw in await redis.zrange(keys.periodic_jobs(settings.queue_name), 0, -1)
        ]
        assert any(i.startswith("cron:sample_gauges:") for i in recorded)


async def test_queued_alerts_are_counted_and_periodic_jobs_are_not(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    pool = ArqRedis.from_url(settings.redis_url)
    try:  # the worker's own code queues its periodic jobs (sample_gauges runs at start-up)
        arq_worker = create_worker(settings, pool, handle_signals=False)
        await arq_worker.run_cron(datetime.now(tz=arq_worker.timezone), 0.5)
    finally:
        await pool.aclose()
    periodic = await queued_ids(redis, settings.queue_name)
    assert periodic and all(i.startswith("cron:") for i in periodic)
    created = await (
        await client.post("/api/v1/integrations/", json={"type": "webhook"}, headers=auth)
    ).json()
    link = created["link"].removeprefix("http://testserver")
    for n in range(7):
        assert (await client.post(link, json={"n": n})).status == 200
    assert len(await queued_ids(redis, settings.queue_name)) == 7 + len(periodic)
    deadline = time.monotonic() + 30  # the api samples every 5 s
    while time.monotonic() < deadline:
        depth = gauges(await (await client.get("/metrics")).text())["alert_ingest_queue_depth"]
        if depth == 7:
            break
        await asyncio.sleep(0.2)
    assert depth == 7
