"""Outgoing webhooks in Redis (see ``keys``): a document each, an org index, a name index, a
version the workers' caches watch, and each webhook's responses log.

``save(redis, org_id, fields, webhook_id=None)`` is the one way to create or change a webhook
from fields already validated (``ingest.api.webhook_input.parse``): the API uses it, and so can an
importer. Names are unique per organization; the save runs as one Lua script, so two concurrent
requests cannot both take a name. Every change bumps ``org_webhooks_version``.

The responses log keeps the newest ``MAX_RESPONSES`` (100) attempts per webhook, newest first.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from ingest import ids
from ingest.lua import Script
from ingest.store import keys
from ingest.store.aio import aw
from ingest.store.saves import SaveResult
from ingest.webhook import Webhook

MAX_RESPONSES = 100
EVENTS_GROUP = "webhooks"  # the consumer group of ``ai:events`` that delivery reads
SaveMode = Literal["create", "update", "delete"]

# KEYS: 1 doc, 2 org index, 3 org names, 4 org version, 5 responses.
# ARGV: 1 id, 2 doc ('' = delete), 3 name, 4 score, 5 mode: create | update | delete.
# Returns a SaveResult.
_SAVE = Script(f"""
local stored = redis.call('GET', KEYS[1])
local mode = ARGV[5]
if mode == 'create' and stored then return {SaveResult.ID_USED:d} end
if mode ~= 'create' and not stored then return {SaveResult.GONE:d} end
if mode ~= 'delete' then
  local holder = redis.call('HGET', KEYS[3], ARGV[3])
  if holder and holder ~= ARGV[1] then return {SaveResult.NAME_TAKEN:d} end
end
if stored then
  local old = cjson.decode(stored).name
  if (mode == 'delete' or old ~= ARGV[3]) and redis.call('HGET', KEYS[3], old) == ARGV[1] then
    redis.call('HDEL', KEYS[3], old)
  end
end
redis.call('INCR', KEYS[4])
if mode == 'delete' then
  redis.call('DEL', KEYS[1], KEYS[5])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {SaveResult.DONE:d}
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[1])
return {SaveResult.DONE:d}
""")

# KEYS: 1 doc, 2 responses. ARGV: 1 entry, 2 last index kept.
_LOG = Script("""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]))
return 1
""")


class NameTaken(Exception):
    """Another webhook of the organization has this name."""


class Gone(Exception):
    """The webhook was deleted while it was being updated."""


def _keys(org_id: str, webhook_id: str) -> list[str]:
    return [
        keys.webhook(webhook_id),
        keys.org_webhooks(org_id),
        keys.org_webhook_names(org_id),
        keys.org_webhooks_version(org_id),
        keys.webhook_responses(webhook_id),
    ]


async def _run(redis: Redis, webhook: Webhook, mode: SaveMode) -> SaveResult:
    doc = b"" if mode == "delete" else orjson.dumps(webhook.to_doc())
    args: list[Any] = [webhook.id, doc, webhook.name, int(webhook.created_at * 1000), mode]
    return SaveResult(int(await _SAVE(redis, _keys(webhook.org_id, webhook.id), args)))


async def save(
    redis: Redis, org_id: str, fields: dict[str, Any], webhook_id: str | None = None
) -> Webhook:
    """Create (``webhook_id`` None) or update a webhook with validated ``fields``.

    Creating needs ``name``, ``url``, ``http_method`` and ``trigger_type``; other fields take
    their defaults. Updating changes only the keys present. Raises :class:`NameTaken`, and
    :class:`Gone` when ``webhook_id`` does not exist in the org.
    """
    if webhook_id is not None:
        current = await get(redis, org_id, webhook_id)
        if current is None:
            raise Gone(webhook_id)
        doc = {**current.to_doc(), **fields}
        webhook = Webhook.from_doc(doc)
        outcome = await _run(redis, webhook, "update")
        if outcome == SaveResult.GONE:
            raise Gone(webhook_id)
        if outcome == SaveResult.NAME_TAKEN:
            raise NameTaken(webhook.name)
        return webhook
    length = 12
    while True:
        doc = {**fields, "id": ids.public_id("WH", length), "org_id": org_id}
        webhook = Webhook.from_doc({**doc, "created_at": time.time()})
        outcome = await _run(redis, webhook, "create")
        if outcome == SaveResult.NAME_TAKEN:
            raise NameTaken(webhook.name)
        if outcome == SaveResult.DONE:
            await ensure_events_group(redis)
            return webhook
        length += 1  # id collision: retry longer


async def ensure_events_group(redis: Redis) -> None:
    """Create the delivery consumer group at the stream's end, once: events recorded from the
    first webhook on are delivered even if no worker was running when they happened."""
    try:
        await redis.xgroup_create(keys.EVENTS, EVENTS_GROUP, id="$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def get(redis: Redis, org_id: str, webhook_id: str) -> Webhook | None:
    """The webhook if it exists and belongs to ``org_id``."""
    raw = await redis.get(keys.webhook(webhook_id))
    if raw is None:
        return None
    webhook = Webhook.from_doc(orjson.loads(raw))
    return webhook if webhook.org_id == org_id else None


async def list_all(redis: Redis, org_id: str) -> list[Webhook]:
    """The org's webhooks in creation order."""
    webhook_ids = await redis.zrange(keys.org_webhooks(org_id), 0, -1)
    if not webhook_ids:
        return []
    docs = await redis.mget([keys.webhook(w.decode()) for w in webhook_ids])
    return [Webhook.from_doc(orjson.loads(d)) for d in docs if d is not None]


async def version(redis: Redis, org_id: str) -> int:
    return int(await redis.get(keys.org_webhooks_version(org_id)) or 0)


async def delete(redis: Redis, webhook: Webhook) -> bool:
    """Delete the webhook and its responses log; deliveries still owed to it are dropped."""
    return await _run(redis, webhook, "delete") == SaveResult.DONE


async def add_response(redis: Redis, webhook_id: str, entry: dict[str, Any]) -> None:
    """Log one delivery attempt, keeping the newest ``MAX_RESPONSES`` (only while it exists)."""
    key_list = [keys.webhook(webhook_id), keys.webhook_responses(webhook_id)]
    await _LOG(redis, key_list, [orjson.dumps(entry), MAX_RESPONSES - 1])


async def responses(redis: Redis, webhook_id: str) -> list[dict[str, Any]]:
    """The logged attempts, newest first."""
    raw = await aw(redis.lrange(keys.webhook_responses(webhook_id), 0, MAX_RESPONSES - 1))
    return [orjson.loads(r) for r in raw]
