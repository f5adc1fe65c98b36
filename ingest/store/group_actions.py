"""State changes of alert groups made through the API, each one atomic Lua script.

Workers may be appending alerts to, or resolving, the same group at the same moment, so every
precondition is checked inside the script that makes the change (no read-then-write):

- ``act(group, action, actor, now, silence_until, via_root)``: ``acknowledge``,
  ``unacknowledge``, ``resolve``, ``unresolve``, ``silence``, ``unsilence``. Checks run in the
  reference's order and a refusal returns its message. ``resolve`` closes the group for grouping
  (like a source resolve); ``unresolve`` clears resolve, acknowledge and silence and **reopens**
  the group for grouping when no other group is open for its key. ``via_root`` lets a maintenance
  group's resolve reach its attached groups.
- ``wipe(group, actor, now)``: resolve (``resolved_by`` empty), drop the title, mark it wiped,
  close every index; then every alert's payload (and trace, derived from it) is emptied.
- ``delete(group)``: the group, its alerts and every index entry are removed; groups attached to
  it are detached.

A silence whose ``silenced_until`` has passed counts as no silence (derived at read time too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.store import keys

_COMMON = """
local g = KEYS[1]
local function status()
  local f = redis.call('HMGET', g, 'id', 'acknowledged_at', 'resolved_at', 'silenced_at',
                       'silenced_until', 'root_id', 'is_maintenance', 'wiped_at')
  local now = tonumber(ARGV[2])
  local until_ = f[5] and tonumber(f[5])
  return {
    id = f[1], acked = f[2] ~= false, resolved = f[3] ~= false,
    silenced = f[4] ~= false and (not until_ or until_ > now),
    attached = f[6] ~= false and f[6] ~= '', maintenance = f[7] == '1', wiped = f[8] ~= false,
  }
end
-- close the group for grouping: KEYS[3] open index, KEYS[4] last-resolved index
-- and KEYS[5] maintenance index; true when this was the integration's current maintenance group
local function close(id, remember)
  if redis.call('GET', KEYS[3]) == id then
    redis.call('DEL', KEYS[3])
    if remember then redis.call('SET', KEYS[4], id) end
  end
  if redis.call('GET', KEYS[5]) == id then
    redis.call('DEL', KEYS[5])
    return true
  end
  return false
end
"""

_ACT = (
    _COMMON
    + """
-- KEYS: 1 group, 2 resolved groups, 3 open index, 4 last-resolved index, 5 maintenance index
-- ARGV: 1 action, 2 now, 3 actor, 4 silenced until ('' = forever), 5 root allowed ('' = none)
if redis.call('EXISTS', g) == 0 then return {'missing', ''} end
local s = status()
local a, now, actor = ARGV[1], ARGV[2], ARGV[3]
local attached = s.attached and redis.call('HGET', g, 'root_id') ~= ARGV[5]
local function cant(what) return {'refused', "Can't " .. a .. ' ' .. what .. ' alert group'} end
local extra = ''
if a == 'acknowledge' then
  if s.acked then return cant('an acknowledged') end
  if s.resolved then return cant('a resolved') end
  if attached then return cant('an attached') end
  if s.maintenance then return cant('a maintenance') end
  redis.call('HDEL', g, 'silenced_at', 'silenced_until')
  redis.call('HSET', g, 'acknowledged_at', now, 'acknowledged_by', actor)
elseif a == 'unacknowledge' then
  if not s.acked then return cant('an unacknowledged') end
  if s.resolved then return cant('a resolved') end
  if attached then return cant('an attached') end
  if s.maintenance then return cant('a maintenance') end
  redis.call('HDEL', g, 'silenced_at', 'silenced_until', 'acknowledged_at', 'acknowledged_by')
elseif a == 'resolve' then
  if s.resolved then return cant('a resolved') end
  if attached then return cant('an attached') end
  redis.call('HDEL', g, 'silenced_at', 'silenced_until')
  redis.call('HSET', g, 'resolved_at', now, 'resolved_by', actor)
  if close(s.id, true) then extra = 'ended_maintenance' end
  redis.call('ZADD', KEYS[2], now, s.id)
elseif a == 'unresolve' then
  if not s.resolved then return cant('an unresolved') end
  if attached then return cant('an attached') end
  if s.maintenance then return cant('a maintenance') end
  if s.wiped then return cant('a wiped') end
  redis.call('HDEL', g, 'resolved_at', 'resolved_by', 'acknowledged_at', 'acknowledged_by',
             'silenced_at', 'silenced_until')
  redis.call('ZREM', KEYS[2], s.id)
  if redis.call('GET', KEYS[4]) == s.id then redis.call('DEL', KEYS[4]) end
  if not redis.call('GET', KEYS[3]) then
    redis.call('SET', KEYS[3], s.id)
    extra = 'reopened'
  end
elseif a == 'silence' then
  if s.resolved then return cant('a resolved') end
  if s.acked then return cant('an acknowledged') end
  if attached then return cant('an attached') end
  redis.call('HSET', g, 'silenced_at', now)
  if ARGV[4] == '' then
    redis.call('HDEL', g, 'silenced_until')
  else
    redis.call('HSET', g, 'silenced_until', ARGV[4])
  end
elseif a == 'unsilence' then
  if not s.silenced then return cant('an unsilenced') end
  if s.resolved then return cant('a resolved') end
  if s.acked then return cant('an acknowledged') end
  if attached then return cant('an attached') end
  redis.call('HDEL', g, 'silenced_at', 'silenced_until')
else
  return redis.error_reply('unknown action ' .. a)
end
return {'ok', extra}
"""
)

_WIPE = (
    _COMMON
    + """
-- KEYS: 1 group, 2 resolved groups, 3 open index, 4 last-resolved index, 5 maintenance index
-- ARGV: 1 unused, 2 now, 3 actor
if redis.call('EXISTS', g) == 0 then return {'missing', ''} end
local s = status()
local newly = ''
if not s.resolved then
  redis.call('HSET', g, 'resolved_at', ARGV[2])
  redis.call('HDEL', g, 'resolved_by')
  newly = 'resolved'
end
redis.call('HDEL', g, 'silenced_at', 'silenced_until', 'title')
if not s.wiped then redis.call('HSET', g, 'wiped_at', ARGV[2], 'wiped_by', ARGV[3]) end
close(s.id, false)
if redis.call('GET', KEYS[4]) == s.id then redis.call('DEL', KEYS[4]) end
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], s.id)
return {'ok', newly}
"""
)

_SET_DOCS = """
-- KEYS: alert hashes; ARGV: their new documents (only alerts that still exist are changed)
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'doc', ARGV[i]) end
end
return #KEYS
"""

_DELETE = """
-- KEYS: 1 group, 2 group alerts, 3 resolved groups, 4 org groups, 5 org alerts, 6 open index,
--       7 last-resolved index, 8 maintenance index, 9 its attached set, 10 its root's attached
--       set (9 again when it has no root). ARGV: 1 group id, 2 alert key prefix, 3 group prefix
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local id = ARGV[1]
for _, child in ipairs(redis.call('SMEMBERS', KEYS[9])) do
  local ckey = ARGV[3] .. child
  if redis.call('HGET', ckey, 'root_id') == id then redis.call('HDEL', ckey, 'root_id') end
end
for _, a in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', ARGV[2] .. a)
  redis.call('ZREM', KEYS[5], a)
end
redis.call('SREM', KEYS[10], id)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[9])
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
for i = 6, 8 do
  if redis.call('GET', KEYS[i]) == id then redis.call('DEL', KEYS[i]) end
end
return 1
"""


@dataclass(frozen=True)
class Outcome:
    """``status``: ok, refused or missing; ``message``: why it was refused, else a detail:
    ``reopened`` (unresolve), ``ended_maintenance`` (resolve), ``resolved`` (wipe)."""

    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _index_keys(group: dict[str, str]) -> list[str]:
    integration_id = group.get("integration_id", "")
    route_id, grouping_id = group.get("route_id", ""), group.get("grouping_id", "")
    return [
        keys.group(group["id"]),
        keys.RESOLVED_GROUPS,
        keys.open_group(integration_id, route_id, grouping_id),
        keys.last_resolved(integration_id, route_id, grouping_id),
        keys.maintenance_group(integration_id),
    ]


def _outcome(reply: list[bytes]) -> Outcome:
    return Outcome(reply[0].decode(), reply[1].decode())


class GroupActions:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._act = redis.register_script(_ACT)
        self._wipe = redis.register_script(_WIPE)
        self._set_docs = redis.register_script(_SET_DOCS)
        self._delete = redis.register_script(_DELETE)

    async def act(
        self,
        group: dict[str, str],
        action: str,
        actor: str,
        now: float,
        silenced_until: float | None = None,
        via_root: str = "",
    ) -> Outcome:
        until = "" if silenced_until is None else repr(silenced_until)
        args = [action, repr(now), actor, until, via_root]
        return _outcome(await self._act(keys=_index_keys(group), args=args))

    async def wipe(self, group: dict[str, str], actor: str, now: float) -> Outcome:
        """Resolve and wipe; ``message`` is ``resolved`` when the wipe resolved the group."""
        outcome = _outcome(await self._wipe(keys=_index_keys(group), args=["", repr(now), actor]))
        if outcome.ok:
            await self._empty_alerts(group["id"])
        return outcome

    async def _empty_alerts(self, group_id: str) -> None:
        """Empty each kept alert's payload and trace (no alert joins a wiped group any more)."""
        ids_ = [a.decode() for a in await self._redis.zrange(keys.group_alerts(group_id), 0, -1)]
        if not ids_:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for aid in ids_:
                pipe.hget(keys.alert(aid), "doc")
            docs = await pipe.execute()
        alert_keys: list[str] = []
        new_docs: list[bytes] = []
        for aid, raw in zip(ids_, docs, strict=True):
            if raw is None:
                continue
            doc: dict[str, Any] = orjson.loads(raw)
            doc["payload"] = {}
            doc["trace"] = {"wiped": True}
            alert_keys.append(keys.alert(aid))
            new_docs.append(orjson.dumps(doc))
        if alert_keys:
            await self._set_docs(keys=alert_keys, args=new_docs)

    async def delete(self, group: dict[str, str]) -> bool:
        gid, integration_id = group["id"], group.get("integration_id", "")
        route_id, grouping_id = group.get("route_id", ""), group.get("grouping_id", "")
        script_keys = [
            keys.group(gid),
            keys.group_alerts(gid),
            keys.RESOLVED_GROUPS,
            keys.org_groups(group.get("org_id", "")),
            keys.org_alerts(group.get("org_id", "")),
            keys.open_group(integration_id, route_id, grouping_id),
            keys.last_resolved(integration_id, route_id, grouping_id),
            keys.maintenance_group(integration_id),
            keys.group_attached(gid),
            keys.group_attached(group.get("root_id") or gid),
        ]
        return bool(
            await self._delete(keys=script_keys, args=[gid, keys.ALERT_PREFIX, keys.GROUP_PREFIX])
        )
