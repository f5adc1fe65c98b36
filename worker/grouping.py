"""The atomic grouping step: one Lua script decides the group of an alert and stores it.

Inside Redis, so it is atomic across any number of worker replicas:

1. **Idempotency**: if the alert is already stored, nothing changes (``duplicate``).
2. **Freshness**: if the integration or its routes changed since the worker read them
   (``ai:integration:<id>:version``), nothing changes (``stale``): the worker reloads that
   integration and evaluates again.
3. **Group**: the open group for (integration, route, md5(grouping key)); else, for a resolve
   signal, the most recently resolved group for that key; else a new group (registered as the
   open one unless the alert must have its own group). In maintenance mode a new group is attached
   to the integration's maintenance group (created on first use).
4. **Append**: the alert is stored, the group's count and last alert updated; only the newest
   ``max_alerts`` alert ids (and documents) are kept, the count stays exact. An alert pushed out
   whose job may still run again (its arq job still exists: held by a worker that died, or
   retrying) keeps a stub without its document until that job would expire, so that a re-run
   finds it (``duplicate``) and neither stores it nor sends its events a second time.
5. **Source signals**: acknowledge when the ack signal is true and the group isn't acknowledged;
   resolve when the resolve signal is true and the group isn't resolved (which closes it for
   grouping, records it as the key's last resolved group and schedules it for retention). Either
   un-silences first.
6. The event types to emit are recorded on the alert (``events`` field); ``worker.events`` sends
   them once.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from ingest.batching import Arg, BatchedScript
from ingest.queue import ARQ_JOB_PREFIX
from ingest.store import keys

_SCRIPT = """
-- KEYS: 1 alert, 2 open index, 3 last-resolved index, 4 maintenance index, 5 org groups,
--       6 resolved groups, 7 config version, 8 org alerts
-- ARGV: 1 alert id, 2 new group id, 3 now (s), 4 received (ms), 5 resolve, 6 ack, 7 own group,
--       8 alert doc, 9 expected config version, 10 max alerts, 11 group prefix, 12 alert prefix,
--       13 maintenance mode, 14 new maintenance group id, 15 group fields (JSON object),
--       16 arq job key prefix
if redis.call('EXISTS', KEYS[1]) == 1 then
  local stored = redis.call('HMGET', KEYS[1], 'group_id', 'events')
  return {'duplicate', stored[1] or '', stored[2] or ''}
end
if (redis.call('GET', KEYS[7]) or '0') ~= ARGV[9] then
  return {'stale', '', ''}
end
local now = ARGV[3]
local resolve = ARGV[5] == '1'
local own = ARGV[7] == '1'
local gp = ARGV[11]
local gid = false
local created = false
local result = 'grouped'
if not own then
  gid = redis.call('GET', KEYS[2])
  if not gid and resolve then
    gid = redis.call('GET', KEYS[3])
  end
end
if not gid then
  gid = ARGV[2]
  created = true
  result = 'new_group'
  local fields = cjson.decode(ARGV[15])
  local gkey = gp .. gid
  for k, v in pairs(fields) do
    redis.call('HSET', gkey, k, v)
  end
  redis.call('HSET', gkey, 'id', gid, 'created_at', now, 'alerts_count', 0,
             'open_key', KEYS[2], 'resolved_key', KEYS[3], 'first_alert_id', ARGV[1])
  if not own then
    redis.call('SET', KEYS[2], gid)
  end
  redis.call('ZADD', KEYS[5], ARGV[4], gid)
  if ARGV[13] == 'maintenance' then
    local mg = redis.call('GET', KEYS[4])
    if not mg then
      mg = ARGV[14]
      local mkey = gp .. mg
      redis.call('HSET', mkey, 'id', mg, 'created_at', now, 'alerts_count', 0,
                 'is_maintenance', 1, 'title', 'Maintenance', 'labels', '[]')
      for _, f in ipairs({'org_id', 'integration_id', 'team_id'}) do
        if fields[f] then redis.call('HSET', mkey, f, fields[f]) end
      end
      redis.call('SET', KEYS[4], mg)
      redis.call('ZADD', KEYS[5], ARGV[4], mg)
    end
    redis.call('HSET', gkey, 'root_id', mg)
    redis.call('SADD', gp .. mg .. ':attached', gid)
    result = 'maintenance'
  end
end
local gkey = gp .. gid
local akey = gkey .. ':alerts'
redis.call('HSET', KEYS[1], 'doc', ARGV[8], 'group_id', gid, 'created_at', now)
redis.call('ZADD', akey, ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[8], ARGV[4], ARGV[1])
redis.call('HINCRBY', gkey, 'alerts_count', 1)
redis.call('HSET', gkey, 'last_alert_id', ARGV[1])
local excess = redis.call('ZCARD', akey) - tonumber(ARGV[10])
if excess > 0 then
  local old = redis.call('ZRANGE', akey, 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', akey, 0, excess - 1)
  for _, a in ipairs(old) do
    local job_ttl = redis.call('PTTL', ARGV[16] .. a)
    if job_ttl == -2 then
      redis.call('DEL', ARGV[12] .. a)
    else  -- its job may run again: keep what the duplicate check and the events need
      redis.call('HDEL', ARGV[12] .. a, 'doc')
      redis.call('PEXPIRE', ARGV[12] .. a, job_ttl > 0 and job_ttl or 86400000)
    end
    redis.call('ZREM', KEYS[8], a)
  end
end
local events = {}
if created then
  table.insert(events, 'alert_group_created')
else
  table.insert(events, 'alert_added')
end
local state = redis.call('HMGET', gkey, 'acknowledged_at', 'resolved_at', 'silenced_at')
if ARGV[6] == '1' and not state[1] then
  redis.call('HDEL', gkey, 'silenced_at', 'silenced_until')
  redis.call('HSET', gkey, 'acknowledged_at', now, 'acknowledged_by', 'source')
  table.insert(events, 'alert_group_acknowledged')
  if result == 'grouped' then result = 'acknowledged' end
end
if resolve and not state[2] then
  redis.call('HDEL', gkey, 'silenced_at', 'silenced_until')
  redis.call('HSET', gkey, 'resolved_at', now, 'resolved_by', 'source')
  if redis.call('GET', KEYS[2]) == gid then
    redis.call('DEL', KEYS[2])
  end
  if not own then
    redis.call('SET', KEYS[3], gid)
  end
  redis.call('ZADD', KEYS[6], now, gid)
  table.insert(events, 'alert_group_resolved')
  if result == 'grouped' or result == 'acknowledged' then result = 'resolved' end
end
local joined = table.concat(events, ',')
redis.call('HSET', KEYS[1], 'events', joined, 'result', result)
return {result, gid, joined}
"""


@dataclass(frozen=True)
class GroupDecision:
    """``result``: new_group, grouped, acknowledged, resolved, maintenance, duplicate or stale."""

    result: str
    group_id: str
    events: tuple[str, ...]


class Grouper:
    def __init__(self, redis: Redis) -> None:
        self._script = BatchedScript(redis, _SCRIPT)

    async def commit(
        self,
        *,
        alert_id: str,
        new_group_id: str,
        integration_id: str,
        route_id: str,
        grouping_id: str,
        own_group: bool,
        resolve: bool,
        acknowledge: bool,
        now: float,
        received_at: float,
        alert_doc: bytes,
        config_version: int,
        max_alerts: int,
        maintenance_mode: str | None,
        new_maintenance_group_id: str,
        group_fields: dict[str, str],
    ) -> GroupDecision:
        script_keys = [
            keys.alert(alert_id),
            keys.open_group(integration_id, route_id, grouping_id),
            keys.last_resolved(integration_id, route_id, grouping_id),
            keys.maintenance_group(integration_id),
            keys.org_groups(group_fields["org_id"]),
            keys.RESOLVED_GROUPS,
            keys.integration_version(integration_id),
            keys.org_alerts(group_fields["org_id"]),
        ]
        args: list[Arg] = [
            alert_id,
            new_group_id,
            repr(now),
            int(received_at * 1000),
            int(resolve),
            int(acknowledge),
            int(own_group),
            alert_doc,
            config_version,
            max_alerts,
            keys.GROUP_PREFIX,
            keys.ALERT_PREFIX,
            maintenance_mode or "",
            new_maintenance_group_id,
            orjson.dumps(group_fields),
            ARQ_JOB_PREFIX,
        ]
        result, group_id, events = await self._script(script_keys, args)
        names = events.decode() if events else ""
        return GroupDecision(
            result.decode(), group_id.decode(), tuple(filter(None, names.split(",")))
        )
