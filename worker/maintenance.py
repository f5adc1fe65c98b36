"""Maintenance windows that end by themselves.

An integration in maintenance is listed in ``ai:maintenance-ends`` with the window's end (kept in
step by every save, ``ingest.store.integrations``). A unique arq cron checks it every 10 s: for
each window that has ended, under the organization's integrations lock, it ends the maintenance
exactly as ``maintenance_stop`` does (``ingest.domain.groups.end_maintenance``).
"""

from __future__ import annotations

import time
from typing import Any

from ingest.domain.groups import end_maintenance
from ingest.store import integrations as store
from ingest.store import keys
from ingest.store.locks import org_lock
from worker.deps import DEPS, Deps

ACTOR = "maintenance window ended"


async def expire_maintenance(ctx: dict[str, Any]) -> int:
    """End every maintenance window whose time is up; returns how many were ended."""
    deps: Deps = ctx[DEPS]
    redis = deps.redis
    now = time.time()
    ended = 0
    for raw in await redis.zrangebyscore(keys.MAINTENANCE_ENDS, "-inf", now, start=0, num=100):
        integration_id = raw.decode()
        integration = await store.load(redis, integration_id)
        if integration is None or integration.deleted_at is not None:
            await redis.zrem(keys.MAINTENANCE_ENDS, integration_id)
            continue
        async with org_lock(redis, f"integrations:{integration.org_id}"):
            integration = await store.load(redis, integration_id)
            if integration is None:
                continue
            end = integration.maintenance_end_at
            if integration.maintenance_mode is not None and end is not None and end <= now:
                await end_maintenance(redis, integration, ACTOR)
                ended += 1
            else:  # stopped meanwhile, or a later window: list it as stored
                await store.index_maintenance(redis, integration)
    return ended
