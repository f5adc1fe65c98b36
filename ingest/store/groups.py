"""Reading alert groups and alerts written by the worker's grouping script.

Group hashes and alert hashes are described in ``ingest.store.keys``; state changes made through
the API are in ``ingest.store.group_actions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest import lua
from ingest.lua import Script
from ingest.store import keys
from ingest.store.aio import aw

ROWS_LIB = lua.read("ingest.store", "group_rows.lua")
# ARGV: the group, alert and route key prefixes, then the group ids.
_ROWS = Script(
    ROWS_LIB
    + """
local ids = {}
for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
return group_rows(ids, ARGV[1], ARGV[2], ARGV[3])
"""
)
ROW_PREFIXES = (keys.GROUP_PREFIX, keys.ALERT_PREFIX, keys.ROUTE_PREFIX)


@dataclass(frozen=True)
class GroupRow:
    """A group as a list shows it: its hash, its newest alert, whether its route still exists."""

    group: dict[str, str]
    last_alert: dict[str, Any] | None
    route_live: bool


def _decode(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def text_pairs(flat: list[bytes]) -> dict[str, str]:
    """A hash read as a flat field/value array (inside a script), decoded."""
    text = [item.decode() for item in flat]  # one pass, then pairs: the fastest way measured
    it = iter(text)
    return dict(zip(it, it, strict=True))


def _alert_doc(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """An alert hash as the API sees it: its document with the hash's other fields."""
    doc: dict[str, Any] = orjson.loads(fields.pop(b"doc", b"{}"))
    doc.update((k.decode(), v.decode()) for k, v in fields.items())
    return doc


def _alert(flat: list[bytes]) -> dict[str, Any]:
    it = iter(flat)
    return _alert_doc(dict(zip(it, it, strict=True)))


def decode_rows(reply: list[list[list[bytes]]]) -> list[GroupRow]:
    """The ``group_rows`` script's answer; groups that are gone are left out."""
    groups, alerts_, routes = reply
    return [
        GroupRow(text_pairs(group), _alert(alert) if alert else None, bool(live))
        for group, alert, live in zip(groups, alerts_, routes, strict=True)
        if group
    ]


async def group_rows(redis: Redis, group_ids_: list[str]) -> list[GroupRow]:
    """The rows of ``group_ids_`` (in that order, those still stored): one script call."""
    if not group_ids_:
        return []
    return decode_rows(await _ROWS(redis, [], [*ROW_PREFIXES, *group_ids_]))


def maintained_integration_id(group: dict[str, str]) -> str:
    """The integration a maintenance group belongs to: ``maintenance_of`` (its own
    ``integration_id`` is a maintenance integration's); other groups: their ``integration_id``."""
    return group.get("maintenance_of") or group.get("integration_id", "")


async def get_group(redis: Redis, group_id: str) -> dict[str, str] | None:
    raw = await aw(redis.hgetall(keys.group(group_id)))
    return _decode(raw) if raw else None


async def get_org_group(redis: Redis, org_id: str, group_id: str) -> dict[str, str] | None:
    """The group when it exists and belongs to ``org_id``; None otherwise."""
    found = await get_group(redis, group_id)
    return found if found is not None and found.get("org_id") == org_id else None


async def group_ids(
    redis: Redis, org_id: str, min_ms: float | None = None, max_ms: float | None = None
) -> list[str]:
    """The org's group ids, newest first; optionally only those created in [min_ms, max_ms]."""
    key = keys.org_groups(org_id)
    if min_ms is None and max_ms is None:
        raw = await redis.zrevrange(key, 0, -1)
    else:
        high = "+inf" if max_ms is None else max_ms
        low = "-inf" if min_ms is None else min_ms
        raw = await redis.zrevrangebyscore(key, high, low)
    return [g.decode() for g in raw]


async def groups(redis: Redis, group_ids_: list[str]) -> list[dict[str, str]]:
    async with redis.pipeline(transaction=False) as pipe:
        for gid in group_ids_:
            pipe.hgetall(keys.group(gid))
        raw = await pipe.execute()
    return [_decode(r) for r in raw if r]


async def attached_group_ids(redis: Redis, root_id: str) -> list[str]:
    """Ids of the groups attached to the maintenance group ``root_id``."""
    members = await aw(redis.smembers(keys.group_attached(root_id)))
    return sorted(m.decode() for m in members)


async def alert_ids(redis: Redis, group_id: str) -> list[str]:
    """The group's kept alert ids, newest first."""
    return [a.decode() for a in await redis.zrevrange(keys.group_alerts(group_id), 0, -1)]


async def org_alert_count(redis: Redis, org_id: str) -> int:
    return int(await redis.zcard(keys.org_alerts(org_id)))


async def org_alert_ids(redis: Redis, org_id: str, start: int = 0, stop: int = -1) -> list[str]:
    """The org's kept alert ids, newest first, ranks ``start`` to ``stop`` (inclusive)."""
    raw = await redis.zrevrange(keys.org_alerts(org_id), start, stop)
    return [a.decode() for a in raw]


async def alert_in_org(redis: Redis, org_id: str, alert_id: str) -> bool:
    return await redis.zscore(keys.org_alerts(org_id), alert_id) is not None


async def alert_docs(redis: Redis, alert_ids_: list[str]) -> list[bytes | None]:
    """The stored documents (payload, trace; JSON) of the alerts, None for those gone."""
    async with redis.pipeline(transaction=False) as pipe:
        for aid in alert_ids_:
            pipe.hget(keys.alert(aid), "doc")
        docs: list[bytes | None] = await pipe.execute()
    return docs


async def alerts(redis: Redis, alert_ids_: list[str]) -> list[dict[str, Any]]:
    """Alert documents (payload, trace) with ``group_id``, ``result`` and ``created_at``."""
    async with redis.pipeline(transaction=False) as pipe:
        for aid in alert_ids_:
            pipe.hgetall(keys.alert(aid))
        raw = await pipe.execute()
    return [_alert_doc(item) for item in raw if item]
