"""Fan-out: events on ``ai:events`` become deliveries in lanes (``worker.webhooks.lanes``).

One worker at a time dispatches: it holds the lease ``ai:wh:dispatcher`` (renewed every loop,
``LEASE_S`` long) and reads the stream through the consumer group ``webhooks``. A single reader
keeps the stream's order into each lane (created before resolved); fanning out is one script per
batch of entries, cheap enough for one process. When the holder dies, another worker takes the
lease after it expires and first claims the entries the dead one had read but not fanned out
(``XAUTOCLAIM``), then goes on with new ones; the script acknowledges each entry as it fans it
out, so an entry is never fanned out twice.

An entry fires the webhooks of its organization that are enabled, of a trigger type the event
fires (``ingest.webhook.triggers_of_event``) and not excluded by their ``integration_filter``.
The ``trigger_template`` is evaluated at send time, with the full context.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ingest.lua import Script
from ingest.store import keys
from ingest.store import webhooks as store
from ingest.webhook import Webhook, triggers_of_event
from worker.webhooks.lanes import Lanes, member

log = logging.getLogger("worker.webhooks")
LEASE_S = 5.0
BATCH = 200
BLOCK_MS = 250

# KEYS: 1 lease. ARGV: 1 holder, 2 ttl ms. 1 when held by us now.
_LEASE = Script("""
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
""")

Entry = tuple[bytes, dict[bytes, bytes]]


class WebhookCache:
    """Each organization's webhooks, reloaded when its version moves (checked at most every
    ``max_age`` seconds, so a change reaches the workers within that)."""

    def __init__(self, redis: Redis, max_age: float = 0.5) -> None:
        self._redis = redis
        self._max_age = max_age
        self._by_org: dict[str, tuple[int, float, dict[str, Webhook]]] = {}

    async def of_org(self, org_id: str, fresh: bool = False) -> dict[str, Webhook]:
        """The org's webhooks; ``fresh`` checks the version now, whatever its age."""
        now = time.monotonic()
        cached = self._by_org.get(org_id)
        if cached is not None and not fresh and now - cached[1] < self._max_age:
            return cached[2]
        version = await store.version(self._redis, org_id)
        if cached is not None and cached[0] == version:
            self._by_org[org_id] = (version, now, cached[2])
            return cached[2]
        hooks = {w.id: w for w in await store.list_all(self._redis, org_id)}
        self._by_org[org_id] = (version, now, hooks)
        return hooks


def delivery_item(webhook: Webhook, stream_id: str, event: dict[str, str]) -> dict[str, Any]:
    return {
        "delivery_id": f"{webhook.id}-{stream_id}",
        "webhook_id": webhook.id,
        "event": {**event, "stream_id": stream_id},
        "attempt": 0,
        "first_try": None,
    }


class Dispatcher:
    def __init__(
        self, redis: Redis, lanes: Lanes, cache: WebhookCache, on_pushed: Callable[[], None]
    ) -> None:
        self._redis = redis
        self._lanes = lanes
        self._cache = cache
        self._on_pushed = on_pushed
        self.name = "dispatcher-" + secrets.token_hex(6)
        self._leading = False

    async def run(self) -> None:
        """Dispatch while holding the lease; Redis trouble pauses it, never ends it."""
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("webhook dispatch paused", extra={"error": repr(exc)})
                self._leading = False
                await asyncio.sleep(1.0)

    async def step(self) -> int:
        """One round: renew (or take) the lease, then fan out one batch. Returns entries read."""
        ttl_ms = int(LEASE_S * 1000)
        held = await _LEASE(self._redis, [keys.WEBHOOK_DISPATCHER], [self.name, ttl_ms])
        if not held:
            self._leading = False
            await asyncio.sleep(LEASE_S / 5)
            return 0
        if not self._leading:
            await store.ensure_events_group(self._redis)
            self._leading = True
            orphans = await self._orphans()
            if orphans:
                return await self._fan_out(orphans)
        streams: dict[Any, Any] = {keys.EVENTS: ">"}
        reply = await self._redis.xreadgroup(
            store.EVENTS_GROUP, self.name, streams, count=BATCH, block=BLOCK_MS
        )
        entries: list[Entry] = reply[0][1] if reply else []
        return await self._fan_out(entries) if entries else 0

    async def _orphans(self) -> list[Entry]:
        """Entries read by earlier dispatchers but never fanned out, oldest first."""
        found: list[Entry] = []
        start = "0-0"
        while True:
            reply = await self._redis.xautoclaim(
                keys.EVENTS, store.EVENTS_GROUP, self.name, 0, start, count=BATCH
            )
            start, claimed = reply[0], reply[1]
            found += [e for e in claimed if e[1]]
            if start in (b"0-0", "0-0") or not claimed:
                return found

    async def _fan_out(self, entries: list[Entry]) -> int:
        items: list[tuple[str, str, dict[str, Any]]] = []
        ids: list[str] = []
        checked: set[str] = set()  # orgs whose webhook version was checked for this batch
        for raw_id, raw_fields in entries:
            stream_id = raw_id.decode()
            ids.append(stream_id)
            event = {k.decode(): v.decode() for k, v in raw_fields.items()}
            for webhook in await self._matching(event, checked):
                lane = member(webhook.id, event.get("alert_group_id", ""))
                items.append((stream_id, lane, delivery_item(webhook, stream_id, event)))
        if ids:
            pushed = await self._lanes.fan_out(store.EVENTS_GROUP, ids, items)
            if pushed:
                self._on_pushed()
        return len(entries)

    async def _matching(self, event: dict[str, str], checked: set[str]) -> list[Webhook]:
        org_id = event.get("org_id", "")
        if not org_id:
            return []
        try:
            escalate = bool(orjson.loads(event.get("data") or "{}").get("escalate"))
        except (orjson.JSONDecodeError, AttributeError):
            escalate = False
        triggers = triggers_of_event(event.get("type", ""), escalate)
        if not triggers:
            return []
        # checked once per batch: a webhook created now fires from the next batch on
        hooks = await self._cache.of_org(org_id, fresh=org_id not in checked)
        checked.add(org_id)
        integration_id = event.get("integration_id", "")
        return [w for w in hooks.values() if w.fires_on(triggers, integration_id)]
