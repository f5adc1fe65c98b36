"""Running a real arq worker (in process, burst mode) against the test Redis."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.store import groups
from worker.settings import create_worker


async def drain(settings: Settings, concurrency: int = 20) -> None:
    """Process every queued alert with a real arq worker, then return."""
    pool = ArqRedis.from_url(settings.redis_url)
    worker = create_worker(
        settings, pool, concurrency, burst=True, handle_signals=False, retry_base=0.01
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()
        await pool.aclose()


async def all_groups(redis: Redis, org: str = "org1") -> list[dict[str, str]]:
    """The org's groups, oldest first."""
    return list(reversed(await groups.groups(redis, await groups.group_ids(redis, org))))


async def group_alerts(redis: Redis, group_id: str) -> list[dict[str, Any]]:
    return await groups.alerts(redis, await groups.alert_ids(redis, group_id))


async def events(redis: Redis) -> list[dict[str, str]]:
    raw = await redis.xrange("ai:events")
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]
