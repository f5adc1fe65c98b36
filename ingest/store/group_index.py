"""Reading the alert-group indexes: counted, paginated windows and bounded filtered scans.

The indexes (``ingest.store.keys.group_index``) are written by the scripts that change groups
(``group_index.lua``, prepended to each), scored by ``started_ms``. A read is one script call:

- ``page``: first, silences that ended move their groups to ``firing`` (a silence ends by time,
  with no write, so reads settle it; bounded per call); then the count of a ``[min, max]``
  score window and one page of it, newest first, with the page's rows (group hashes, newest
  alerts, route liveness: ``ingest.store.groups.GroupRow``). O(log N + page size). One call
  per list: per-command pipelines cost several times more client CPU than the reads.
- ``scan``: one window of ranks (a batch), filtered in Redis by team and labels; callers walk a
  window batch by batch, so no single call holds Redis or the api's event loop for long.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from ingest import lua
from ingest.lua import Arg, Script
from ingest.store import keys
from ingest.store.groups import ROWS_LIB, GroupRow, decode_rows

_INDEX = lua.read("ingest.store", "group_index.lua")
_PAGE = Script.from_package("ingest.store", "group_page.lua", prefix=_INDEX + ROWS_LIB)
# Index the groups whose hashes are the KEYS (for groups written outside the grouping and
# action scripts, and for the upgrade build); a group indexed already stays as it is.
REINDEX = Script(
    _INDEX
    + """
-- KEYS: group hashes; ARGV: 1 index layout, 2 now. Indexes each that is still a group.
local L = cjson.decode(ARGV[1])
local done = 0
for _, k in ipairs(KEYS) do
  if reindex(L, k, ARGV[2]) then done = done + 1 end
end
return done
"""
)
_SCAN = Script.from_package("ingest.store", "group_scan.lua")
# Ended silences settled per call: bounds one call's work (each is a handful of index writes).
SETTLE_BATCH = 200


@dataclass(frozen=True)
class Window:
    """``count`` members in the score window; the newest is at rank ``first`` (newest first)."""

    count: int
    first: int
    page: int
    ids: list[str]
    rows: list[GroupRow]  # the page's rows when asked for (``with_rows``), else empty


def _score(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else repr(value)


async def page(
    redis: Redis,
    org_id: str,
    index: str,
    now: float,
    min_ms: float | None = None,
    max_ms: float | None = None,
    page_number: int = 1,
    size: int = 0,
    with_rows: bool = False,
) -> Window:
    """The window ``[min_ms, max_ms]`` of ``index``: its count and page ``page_number``
    (with its rows when ``with_rows``)."""
    args: list[Arg] = [
        keys.INDEX_LAYOUT_JSON,
        repr(now),
        _score(min_ms, "-inf"),
        _score(max_ms, "+inf"),
        page_number,
        size,
        keys.GROUP_PREFIX,
        SETTLE_BATCH,
    ]
    if with_rows:
        args += [keys.ALERT_PREFIX, keys.ROUTE_PREFIX]
    while True:
        reply = await _PAGE(redis, [index, keys.org_silence_ends(org_id)], args)
        if reply[0] == b"ok":
            break
    count, first, number, ids = reply[1:5]
    rows = decode_rows(reply[5]) if with_rows else []
    return Window(int(count), int(first), int(number), [i.decode() for i in ids], rows)


async def scan(
    redis: Redis,
    index: str,
    first: int,
    last: int,
    team: str | None,
    any_team: bool,
    labels: list[tuple[str, str]],
) -> list[str]:
    """Ids at ranks ``first``..``last`` of ``index`` whose team and labels match."""
    test = "any" if any_team else ("none" if team is None else "is")
    args: list[Arg] = [first, last, keys.GROUP_PREFIX, test, team or "", orjson.dumps(labels)]
    return [i.decode() for i in await _SCAN(redis, [index], args)]


def queue_reindex(pipe: Pipeline, group_ids: list[str], now: float) -> None:
    """Add the indexing of ``group_ids`` to a transaction (``EVAL``: a MULTI can't reload)."""
    group_keys = [keys.group(g) for g in group_ids]
    layout = keys.INDEX_LAYOUT_JSON.decode()
    pipe.eval(REINDEX.source, len(group_keys), *group_keys, layout, repr(now))


async def first_member(redis: Redis, index: str) -> str | None:
    """The newest id of ``index`` (None when empty)."""
    found = await redis.zrevrange(index, 0, 0)
    return found[0].decode() if found else None
