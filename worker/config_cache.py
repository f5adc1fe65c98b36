"""The worker's cache of integrations and their routes, checked against ``ai:links-version``.

Reading the configuration costs nothing while nothing changed: the grouping script compares the
version the worker evaluated with and answers ``stale`` if anything changed since, and only then
the worker reloads (see ``worker.grouping``).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from ingest.models import Integration, Route
from ingest.store import integrations as store


@dataclass(frozen=True)
class Config:
    integration: Integration | None  # None: never existed; check ``deleted_at`` for deleted
    routes: tuple[Route, ...]


class ConfigCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self.version = -1
        self._entries: dict[str, Config] = {}

    async def refresh(self) -> None:
        """Drop everything if the configuration version moved."""
        version = await store.links_version(self._redis)
        if version != self.version:
            self._entries.clear()
            self.version = version

    async def get(self, integration_id: str) -> Config:
        if self.version < 0:
            await self.refresh()
        found = self._entries.get(integration_id)
        if found is None:
            integration = await store.load(self._redis, integration_id)
            routes: tuple[Route, ...] = ()
            if integration is not None and integration.deleted_at is None:
                routes = tuple(await store.routes_of(self._redis, integration))
            found = Config(integration, routes)
            self._entries[integration_id] = found
        return found
