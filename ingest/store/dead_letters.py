"""The dead-letter list: alert jobs that failed every try, kept with their error for replay."""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.queue import ARQ_JOB_PREFIX, JOB_EXPIRES_MS, job_body
from ingest.store import keys
from ingest.store.aio import aw


async def add(redis: Redis, job: dict[str, Any], error: str, tries: int) -> None:
    entry = {**job, "error": error, "tries": tries, "failed_at": time.time()}
    await aw(redis.rpush(keys.DEAD_LETTERS, orjson.dumps(entry)))


async def entries(redis: Redis) -> list[dict[str, Any]]:
    raw = await aw(redis.lrange(keys.DEAD_LETTERS, 0, -1))
    return [orjson.loads(item) for item in raw]


async def size(redis: Redis) -> int:
    return int(await aw(redis.llen(keys.DEAD_LETTERS)))


async def replay(redis: Redis, queue_name: str, alert_id: str | None = None) -> list[str]:
    """Re-queue one entry (by alert id) or all; returns the alert ids queued again."""
    replayed: list[str] = []
    for raw in await aw(redis.lrange(keys.DEAD_LETTERS, 0, -1)):
        entry = orjson.loads(raw)
        if alert_id is not None and entry.get("alert_id") != alert_id:
            continue
        now_ms = int(time.time() * 1000)
        body = job_body(
            entry["alert_id"],
            entry["integration_id"],
            entry["received_at"],
            entry["payload"],
            now_ms,
        )
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(ARQ_JOB_PREFIX + entry["alert_id"], body, px=JOB_EXPIRES_MS)
            pipe.zadd(queue_name, {entry["alert_id"]: now_ms})
            pipe.lrem(keys.DEAD_LETTERS, 1, raw)
            await pipe.execute()
        replayed.append(entry["alert_id"])
    return replayed
