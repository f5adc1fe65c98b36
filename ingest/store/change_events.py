"""Change events (deploys, config changes) received on an integration: a capped, expiring list.

PagerDuty's ``/v2/change/enqueue`` carries events that inform and never alert, so they are kept
beside the integration rather than queued for the worker: newest first, at most ``MAX_KEPT`` per
integration, and the list expires ``KEEP_SECONDS`` after the last write (PagerDuty keeps them 90
days). The write checks, in the same script, that the link still belongs to the integration, so a
deleted integration stops accepting at once; a 202 means the event is in Redis. Rate limits are
the caller's (the same ``RateLimiter`` limits as alerts).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.lua import Script
from ingest.store import keys
from ingest.store.aio import aw

MAX_KEPT = 1000
KEEP_SECONDS = 90 * 86400

# KEYS: 1 link, 2 the list; ARGV: 1 integration id, 2 document, 3 kept, 4 ttl ms
_ADD = Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
""")


class ChangeEvents:
    def __init__(self, redis: Redis, wait: tuple[int, int] | None = None) -> None:
        """``wait`` (replicas, timeout ms): acknowledge only replicated events (``WAIT``)."""
        self._redis = redis
        self._wait = wait

    async def add(self, integration_id: str, link_token: str, event: dict[str, Any]) -> bool:
        """Store one change event (``received_at`` is added); False when the link is gone."""
        doc = orjson.dumps({"received_at": time.time(), **event})
        script_keys = [keys.link(link_token), keys.change_events(integration_id)]
        argv: list[str | bytes | int] = [integration_id, doc, MAX_KEPT, KEEP_SECONDS * 1000]
        return bool(await _ADD(self._redis, script_keys, argv, self._wait))

    async def recent(self, integration_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` change events of an integration, newest first."""
        raw = await aw(self._redis.lrange(keys.change_events(integration_id), 0, limit - 1))
        return [orjson.loads(item) for item in raw]
