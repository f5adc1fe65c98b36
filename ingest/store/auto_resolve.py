"""Auto-resolve deadlines: groups of integrations whose sources never resolve.

An integration with ``auto_resolve_after`` (seconds) has each of its open groups in the sorted
set ``ai:auto-resolve`` with, as score, the time its newest alert was received plus that delay.
The worker arms a group after every alert it adds (``arm``: the deadline only moves later, so
alerts processed out of order never bring it forward). The periodic job reads only the due
entries (``due``, a range query on the scores), so its cost follows the number of due groups,
not the number of open ones.

``resolve`` is the API's resolve (``group_act.lua``, the same checks and the same closing of the
group for grouping) behind one more check in the same script: no alert received after the cutoff.
A group that got an alert since its entry was written is therefore never resolved by a stale
deadline, even when the alert lands during the job; the caller re-arms it (``later``).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from ingest import lua
from ingest.lua import Arg, Script
from ingest.store import keys
from ingest.store.aio import aw
from ingest.store.group_actions import COMMON, Outcome, index_keys, outcome_of

ACTOR = "auto-resolve"
# KEYS[6]: the group's alerts (score: received ms); ARGV[7]: the cutoff (ms). Runs before the
# action script, whose KEYS[1..5] and ARGV[1..6] are the API resolve's.
_GUARD = """
do
  local newest = redis.call('ZREVRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  if newest[2] and tonumber(newest[2]) > tonumber(ARGV[7]) then
    return {'later', newest[2]}
  end
end
"""
_RESOLVE = Script(COMMON + _GUARD + lua.read("ingest.store", "group_act.lua"))


@dataclass(frozen=True)
class Attempt:
    """``outcome``: ok, refused, missing or later; ``newest_ms``: the newest alert, for later."""

    outcome: Outcome
    newest_ms: int = 0


async def arm(redis: Redis, group_id: str, deadline: float) -> None:
    """Set the group's deadline, unless it already has a later one."""
    await aw(redis.zadd(keys.AUTO_RESOLVE, {group_id: deadline}, gt=True))


async def due(redis: Redis, now: float, limit: int) -> list[str]:
    """Up to ``limit`` group ids whose deadline has passed, earliest first."""
    raw = await redis.zrangebyscore(keys.AUTO_RESOLVE, "-inf", now, start=0, num=limit)
    return [r.decode() for r in raw]


async def disarm(redis: Redis, group_id: str) -> None:
    await aw(redis.zrem(keys.AUTO_RESOLVE, group_id))


async def resolve(redis: Redis, group: dict[str, str], now: float, cutoff: float) -> Attempt:
    """Resolve the group as ``auto-resolve`` if no alert was received after ``cutoff``."""
    script_keys = [*index_keys(group), keys.group_alerts(group["id"])]
    layout = keys.INDEX_LAYOUT_JSON
    args: list[Arg] = ["resolve", repr(now), ACTOR, "", "", layout, int(cutoff * 1000)]
    reply = await _RESOLVE(redis, script_keys, args)
    if reply[0] == b"later":
        return Attempt(Outcome("later"), int(float(reply[1])))
    return Attempt(outcome_of(reply))
