-- KEYS: 1 alert, 2 open index, 3 last-resolved index, 4 maintenance index, 5 org groups
--       (all groups index, written by reindex),
--       6 resolved groups, 7 config version, 8 org alerts
-- ARGV: 1 alert id, 2 new group id, 3 now (s), 4 received (ms), 5 resolve, 6 ack, 7 own group,
--       8 alert doc, 9 expected config version, 10 max alerts, 11 group prefix, 12 alert prefix,
--       13 maintenance mode, 14 new maintenance group id, 15 group fields (JSON object),
--       16 arq job key prefix, 17 group alerts suffix, 18 group attached suffix,
--       19 index layout (JSON; reindex() comes from group_index.lua, in the prologue)
-- (keys of groups and alerts found here are prefix .. id [.. suffix], pieces from store/keys.py)
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
local L = cjson.decode(ARGV[19])
local started = string.format('%.3f', tonumber(ARGV[4]) / 1000)
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
  redis.call('HSET', gkey, 'id', gid, 'created_at', started, 'started_ms', ARGV[4],
             'alerts_count', 0, 'open_key', KEYS[2], 'resolved_key', KEYS[3],
             'first_alert_id', ARGV[1])
  if not own then
    redis.call('SET', KEYS[2], gid)
  end
  if ARGV[13] == 'maintenance' then
    local mg = redis.call('GET', KEYS[4])
    if not mg then
      mg = ARGV[14]
      local mkey = gp .. mg
      redis.call('HSET', mkey, 'id', mg, 'created_at', started, 'started_ms', ARGV[4],
                 'alerts_count', 0, 'is_maintenance', 1, 'title', 'Maintenance', 'labels', '[]')
      for _, f in ipairs({'org_id', 'integration_id', 'team_id'}) do
        if fields[f] then redis.call('HSET', mkey, f, fields[f]) end
      end
      redis.call('SET', KEYS[4], mg)
      reindex(L, mkey, now)
    end
    redis.call('HSET', gkey, 'root_id', mg)
    redis.call('SADD', gp .. mg .. ARGV[18], gid)
    result = 'maintenance'
  end
end
local gkey = gp .. gid
local akey = gkey .. ARGV[17]
redis.call('HSET', KEYS[1], 'doc', ARGV[8], 'group_id', gid, 'created_at', now)
redis.call('ZADD', akey, ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[8], ARGV[4], ARGV[1])
redis.call('HINCRBY', gkey, 'alerts_count', 1)
-- the newest by received time (the index score), whatever order the workers ran them in
redis.call('HSET', gkey, 'last_alert_id', redis.call('ZREVRANGE', akey, 0, 0)[1])
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
reindex(L, gkey, now)
local joined = table.concat(events, ',')
redis.call('HSET', KEYS[1], 'events', joined, 'result', result)
return {result, gid, joined}
