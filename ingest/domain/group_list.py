"""The one way to list an organization's alert groups: filtered, counted, paginated.

Both the public API and the web console call :func:`find_groups`. Order: newest first by when
the group's first alert was received (``started_ms``), ties by id. Every filter of
``GroupFilter`` combines with AND; how each kind of list is answered:

- ``id``: one hash read.
- ``state``, ``integration_id``, ``route_id`` and ``started_at`` in any combination: a score
  window of one index (all groups; per state, integration or route; state x integration, state x
  route; a route implies its integration), so the count is exact and any page costs
  O(log N + page size), however deep.
- ``team_id`` and ``label``: the narrowest index above, walked in batches of ``SCAN_BATCH``
  ranks, each filtered inside Redis (one short script call); the count stays exact. The work
  grows with that index's window, never all at once: each batch is a separate call.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from redis.asyncio import Redis

from ingest.domain.group_filter import ANY_TEAM, GroupFilter
from ingest.store import group_index, keys
from ingest.store import groups as store

SCAN_BATCH = 500


@dataclass(frozen=True)
class GroupPage:
    """``count`` groups match; ``rows`` is page ``page`` of them (past the end: the last)."""

    count: int
    page: int
    rows: list[store.GroupRow]


async def find_groups(
    redis: Redis,
    org_id: str,
    wanted: GroupFilter,
    page: int = 1,
    size: int = 50,
    now: float | None = None,
) -> GroupPage:
    """Page ``page`` (of ``size`` groups) of the org's groups that match ``wanted``."""
    now = time.time() if now is None else now
    if wanted.id is not None:
        rows = await store.group_rows(redis, [wanted.id])  # one read: the row is the answer
        hit = [r for r in rows if r.group.get("org_id") == org_id and wanted.matches(r.group, now)]
        return GroupPage(len(hit), 1, hit)
    index = await _index(redis, org_id, wanted)
    if index is None:
        return GroupPage(0, 1, [])
    min_ms, max_ms = (None, None) if wanted.started is None else wanted.started
    if min_ms is not None and max_ms is not None:
        min_ms, max_ms = min_ms * 1000, max_ms * 1000
    if not wanted.scans:
        window = await group_index.page(
            redis, org_id, index, now, min_ms, max_ms, page, size, with_rows=True
        )
        return GroupPage(window.count, window.page, window.rows)
    window = await group_index.page(redis, org_id, index, now, min_ms, max_ms)
    count, number, ids = await _scan(redis, wanted, index, window, page, size)
    return GroupPage(count, number, await store.group_rows(redis, ids))


async def _index(redis: Redis, org_id: str, wanted: GroupFilter) -> str | None:
    """The narrowest index for ``wanted``; None when the filter can match nothing."""
    state, route, integration = wanted.index_state, wanted.route_id, wanted.integration_id
    if route is not None and integration is not None:
        # A route belongs to one integration: its groups are all of that integration or none.
        member = await group_index.first_member(redis, keys.group_index(org_id, route_id=route))
        group = await store.get_group(redis, member) if member is not None else None
        if group is None or group.get("integration_id") != integration:
            return None
        integration = None
    return keys.group_index(org_id, state, integration, route)


async def _scan(
    redis: Redis,
    wanted: GroupFilter,
    index: str,
    window: group_index.Window,
    page: int,
    size: int,
) -> tuple[int, int, list[str]]:
    """Walk ``window`` in batches; the match count, the page number read and its ids."""
    start = (page - 1) * size
    chosen: list[str] = []
    tail: deque[str] = deque(maxlen=size)  # the last page, when ``page`` is past the end
    count = 0
    team = None if wanted.team_id == ANY_TEAM else wanted.team_id
    any_team = wanted.team_id == ANY_TEAM
    end = window.first + window.count
    for first in range(window.first, end, SCAN_BATCH):
        last = min(first + SCAN_BATCH, end) - 1
        for gid in await group_index.scan(redis, index, first, last, team, any_team, wanted.labels):
            if start <= count < start + size:
                chosen.append(gid)
            tail.append(gid)
            count += 1
    pages = max(1, -(-count // size))
    if page <= pages:
        return count, page, chosen
    return count, pages, list(tail)[-(count - (pages - 1) * size) :] if count else []
