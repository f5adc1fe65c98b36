"""The dead-letter list: alert jobs that failed every try, kept with their error for replay.

``replay`` queues an entry's job again exactly as a link post queues one (``ingest.queue``:
same job document, same alert id, never over a job still there), then removes the entry.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.queue import AlertJob, Enqueuer
from ingest.store import keys
from ingest.store.aio import aw


async def add(redis: Redis, job: AlertJob, error: str, tries: int) -> None:
    entry = {**job.kwargs(), "error": error, "tries": tries, "failed_at": time.time()}
    await aw(redis.rpush(keys.DEAD_LETTERS, orjson.dumps(entry)))


async def entries(redis: Redis) -> list[dict[str, Any]]:
    raw = await aw(redis.lrange(keys.DEAD_LETTERS, 0, -1))
    return [orjson.loads(item) for item in raw]


async def size(redis: Redis) -> int:
    return int(await aw(redis.llen(keys.DEAD_LETTERS)))


async def replay(redis: Redis, queue_name: str, alert_id: str | None = None) -> list[str]:
    """Re-queue one entry (by alert id) or all; returns the alert ids queued again."""
    enqueuer = Enqueuer(redis, queue_name)
    replayed: list[str] = []
    for raw in await aw(redis.lrange(keys.DEAD_LETTERS, 0, -1)):
        entry = orjson.loads(raw)
        if alert_id is not None and entry.get("alert_id") != alert_id:
            continue
        job = AlertJob(
            entry["alert_id"],
            entry["integration_id"],
            entry["received_at"],
            entry["payload"],
            tuple(entry.get("notes") or ()),
        )
        await enqueuer.requeue([job])
        await aw(redis.lrem(keys.DEAD_LETTERS, 1, raw))
        replayed.append(job.alert_id)
    return replayed
