"""Auto-resolve: the periodic job that resolves the groups of sources that never resolve.

Runs every 5 s (an arq cron, so one run per tick however many workers there are). It reads only
the due deadlines (``ingest.store.auto_resolve``), ``BATCH`` at a time, at most ``MAX_PER_RUN``
per run, and for each group:

- gone, already resolved, attached to a maintenance group, a maintenance group itself, or of an
  integration that no longer has ``auto_resolve_after``: its deadline is dropped;
- an alert received within ``auto_resolve_after``: its deadline is moved to that alert's time plus
  the delay (the check is inside the resolving script, so an alert landing during the job counts);
- otherwise resolved with ``resolved_by`` = ``auto-resolve``, and its ``alert_group_resolved``
  event sent with ``data.actor`` = ``auto-resolve``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ingest.domain.groups import EVENT_TYPES, action_event_data
from ingest.events import send_action_event
from ingest.store import auto_resolve as store
from ingest.store import groups as group_store
from worker.deps import DEPS, Deps

log = logging.getLogger("worker.auto_resolve")
BATCH = 500
MAX_PER_RUN = 20_000


async def auto_resolve(ctx: dict[str, Any], at: float | None = None) -> int:
    """Resolve every group whose deadline has passed; returns how many were resolved.

    ``at`` replaces the clock (tests: a run as if at that time)."""
    deps: Deps = ctx[DEPS]
    resolved = checked = 0
    while checked < MAX_PER_RUN:
        now = time.time() if at is None else at
        batch = await store.due(deps.redis, now, BATCH)
        if not batch:
            break
        for group_id in batch:
            checked += 1
            resolved += await _check(deps, group_id, now)
    if resolved:
        log.info("groups auto-resolved", extra={"resolved": resolved, "checked": checked})
    return resolved


async def _check(deps: Deps, group_id: str, now: float) -> int:
    group = await group_store.get_group(deps.redis, group_id)
    after = None
    if group is not None and not group.get("resolved_at") and not group.get("is_maintenance"):
        integration = (await deps.cache.get(group.get("integration_id", ""))).integration
        if integration is not None and integration.deleted_at is None:
            after = integration.auto_resolve_after
    if group is None or after is None:
        await store.disarm(deps.redis, group_id)
        return 0
    attempt = await store.resolve(deps.redis, group, now, now - after)
    if attempt.outcome.status == "later":
        await store.arm(deps.redis, group_id, attempt.newest_ms / 1000 + after)
        return 0
    await store.disarm(deps.redis, group_id)
    if not attempt.outcome.ok:
        return 0
    data = await action_event_data(deps.redis, group, "resolve", store.ACTOR)
    await send_action_event(deps.redis, EVENT_TYPES["resolve"], group, data)
    return 1
