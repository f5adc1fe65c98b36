"""The worker's cache of integrations and their routes, each checked against its own version.

Every change of an integration or of its routes bumps ``ai:integration:<id>:version``. The worker
reads that version *before* the documents and hands it to the grouping script, which answers
``stale`` when the version moved since; only then is that one integration reloaded (a change of
one integration never disturbs the alerts of the others). Reading the version first makes a race
harmless: documents newer than their version only cause one extra reload.
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
    version: int = 0


class ConfigCache:
    def __init__(self, redis: Redis, max_entries: int = 10_000) -> None:
        self._redis = redis
        self._max = max_entries
        self._entries: dict[str, Config] = {}

    def forget(self, integration_id: str) -> None:
        self._entries.pop(integration_id, None)

    async def get(self, integration_id: str) -> Config:
        found = self._entries.get(integration_id)
        if found is None:
            version = await store.config_version(self._redis, integration_id)
            integration = await store.load(self._redis, integration_id)
            routes: tuple[Route, ...] = ()
            if integration is not None and integration.deleted_at is None:
                routes = tuple(await store.routes_of(self._redis, integration))
            found = Config(integration, routes, version)
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[integration_id] = found
        return found
