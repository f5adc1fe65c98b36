"""In-process cache of link token -> integration, a few seconds long.

Positive and negative answers are cached (a flood of posts with a bad token costs Redis one
lookup per TTL). Staleness is safe: the enqueue script re-checks that the link exists, so a
deleted integration stops accepting at once on every replica whatever this cache holds.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from ingest.models import Integration
from ingest.store import integrations as store


class LinkCache:
    def __init__(self, redis: Redis, ttl: float = 5.0, max_entries: int = 50_000) -> None:
        self._redis = redis
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, Integration | None]] = {}

    async def get(self, token: str) -> Integration | None:
        now = time.monotonic()
        hit = self._entries.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await store.by_link_token(self._redis, token)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[token] = (now + self._ttl, found)
        return found

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)
