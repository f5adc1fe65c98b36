"""Reading alert groups and alerts written by the worker's grouping script."""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.store import keys
from ingest.store.aio import aw


def _decode(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


async def get_group(redis: Redis, group_id: str) -> dict[str, str] | None:
    raw = await aw(redis.hgetall(keys.group(group_id)))
    return _decode(raw) if raw else None


async def group_ids(redis: Redis, org_id: str) -> list[str]:
    """The org's group ids, newest first."""
    return [g.decode() for g in await redis.zrevrange(keys.org_groups(org_id), 0, -1)]


async def groups(redis: Redis, group_ids_: list[str]) -> list[dict[str, str]]:
    async with redis.pipeline(transaction=False) as pipe:
        for gid in group_ids_:
            pipe.hgetall(keys.group(gid))
        raw = await pipe.execute()
    return [_decode(r) for r in raw if r]


async def alert_ids(redis: Redis, group_id: str) -> list[str]:
    """The group's kept alert ids, newest first."""
    return [a.decode() for a in await redis.zrevrange(keys.group_alerts(group_id), 0, -1)]


async def alerts(redis: Redis, alert_ids_: list[str]) -> list[dict[str, Any]]:
    """Alert documents (payload, trace) with ``group_id``, ``result`` and ``created_at``."""
    async with redis.pipeline(transaction=False) as pipe:
        for aid in alert_ids_:
            pipe.hgetall(keys.alert(aid))
        raw = await pipe.execute()
    out = []
    for item in raw:
        if not item:
            continue
        fields = _decode(item)
        doc: dict[str, Any] = orjson.loads(fields.pop("doc"))
        doc.update(fields)
        out.append(doc)
    return out
