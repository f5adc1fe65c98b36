"""Retention: resolved alert groups (and their alerts) older than ``RETENTION_DAYS`` are deleted.

Runs every 5 minutes on one worker (arq unique cron), in batches, for at most ``TIME_SLICE``
seconds a run (a job's timeout also sets arq's in-progress expiry for every job: keep it short);
each group is removed, with its index entries, by one Lua script that first checks it is still
resolved and old enough (a user may have unresolved it meanwhile).
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from ingest import lua
from ingest.lua import Arg, Script
from ingest.store import keys
from worker.deps import DEPS, Deps

BATCH = 200
TIME_SLICE = 10.0

_SCRIPT = Script(
    lua.read("ingest.store", "group_index.lua")
    + """
-- KEYS: 1 group, 2 group alerts, 3 resolved groups, 4 group attached set
-- ARGV: 1 group id, 2 cutoff (s), 3 alert prefix, 4 org prefix, 5 org alerts suffix
--       (the org's alerts key is built from these pieces of store/keys.py), 6 index layout
local resolved = redis.call('HGET', KEYS[1], 'resolved_at')
if not resolved or tonumber(resolved) > tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
local org = redis.call('HGET', KEYS[1], 'org_id') or ''
local resolved_key = redis.call('HGET', KEYS[1], 'resolved_key')
local alerts = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, a in ipairs(alerts) do
  redis.call('DEL', ARGV[3] .. a)
  redis.call('ZREM', ARGV[4] .. org .. ARGV[5], a)
end
if resolved_key and redis.call('GET', resolved_key) == ARGV[1] then
  redis.call('DEL', resolved_key)
end
unindex(cjson.decode(ARGV[6]), KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""
)


async def purge(
    redis: Redis, retention_days: int, now: float | None = None, time_slice: float = TIME_SLICE
) -> int:
    """Delete resolved groups older than the retention; returns how many were deleted."""
    cutoff = (now or time.time()) - retention_days * 86400
    deleted = 0
    stop_at = time.monotonic() + time_slice
    while time.monotonic() < stop_at:
        batch = await redis.zrangebyscore(keys.RESOLVED_GROUPS, "-inf", cutoff, start=0, num=BATCH)
        if not batch:
            return deleted
        for raw in batch:
            gid = raw.decode()
            script_keys = [
                keys.group(gid),
                keys.group_alerts(gid),
                keys.RESOLVED_GROUPS,
                keys.group_attached(gid),
            ]
            args: list[Arg] = [gid, cutoff, keys.ALERT_PREFIX, keys.ORG_PREFIX]
            args += [keys.ORG_ALERTS_SUFFIX, keys.INDEX_LAYOUT_JSON]
            deleted += int(await _SCRIPT(redis, script_keys, args))
    return deleted


async def retention(ctx: dict[str, Any]) -> None:
    deps: Deps = ctx[DEPS]
    await purge(deps.redis, deps.settings.retention_days)
