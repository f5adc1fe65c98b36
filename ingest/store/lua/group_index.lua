-- Group indexes, prepended to every script that creates, changes or removes groups. ``L`` is
-- the key layout (store/keys.py INDEX_LAYOUT, passed as JSON). A group hash carries ``ix``: the
-- state it is indexed under (absent: not indexed yet, e.g. written before indexes existed) and
-- ``started_ms``: its first alert's receipt, the score in every index.
local function ix_state(resolved, acked, silenced, until_, now)
  if resolved then return 'resolved' end
  if acked then return 'acknowledged' end
  if silenced and (not until_ or until_ == '' or tonumber(until_) > now) then
    return 'silenced'
  end
  return 'firing'
end
local function ix_fixed_keys(L, org, integ, route)
  local base = L.org .. org
  local out = {base .. L.all}
  if integ ~= '' then out[#out + 1] = base .. L.integration .. integ end
  if route ~= '' then out[#out + 1] = base .. L.route .. route end
  return out
end
local function ix_state_keys(L, org, state, integ, route)
  local base = L.org .. org
  local out = {base .. L.state .. state}
  if integ ~= '' then out[#out + 1] = base .. L.state_integration .. state .. L.sep .. integ end
  if route ~= '' then out[#out + 1] = base .. L.state_route .. state .. L.sep .. route end
  return out
end
local IX_FIELDS = {'id', 'org_id', 'integration_id', 'route_id', 'ix', 'started_ms', 'created_at',
                   'resolved_at', 'acknowledged_at', 'silenced_at', 'silenced_until'}
-- (Re)index the group at ``gkey`` as its state at ``now`` says; its state, or false if gone.
local function reindex(L, gkey, now)
  local f = redis.call('HMGET', gkey, unpack(IX_FIELDS))
  if not f[1] then return false end
  local id, org, integ, route = f[1], f[2] or '', f[3] or '', f[4] or ''
  local state = ix_state(f[8], f[9], f[10], f[11], tonumber(now))
  local score = f[6]
  if not f[5] then
    if not score then  -- written before indexes: it starts where the org's list placed it
      local listed = redis.call('ZSCORE', L.org .. org .. L.all, id)
      score = listed or string.format('%d', math.floor(tonumber(f[7] or '0') * 1000))
      redis.call('HSET', gkey, 'started_ms', score,
                 'created_at', string.format('%.3f', tonumber(score) / 1000))
    end
    for _, k in ipairs(ix_fixed_keys(L, org, integ, route)) do redis.call('ZADD', k, score, id) end
  elseif f[5] == state and state ~= 'silenced' then
    return state
  elseif f[5] ~= state then
    for _, k in ipairs(ix_state_keys(L, org, f[5], integ, route)) do redis.call('ZREM', k, id) end
  end
  for _, k in ipairs(ix_state_keys(L, org, state, integ, route)) do
    redis.call('ZADD', k, score, id)
  end
  local ends = L.org .. org .. L.silence
  if state == 'silenced' and f[11] and f[11] ~= '' then
    redis.call('ZADD', ends, f[11], id)
  else
    redis.call('ZREM', ends, id)
  end
  redis.call('HSET', gkey, 'ix', state)
  return state
end
-- Drop the group at ``gkey`` from every index (before its hash is deleted).
local function unindex(L, gkey)
  local f = redis.call('HMGET', gkey, 'id', 'org_id', 'integration_id', 'route_id', 'ix')
  if not f[1] then return end
  local id, org, integ, route = f[1], f[2] or '', f[3] or '', f[4] or ''
  redis.call('ZREM', L.org .. org .. L.all, id)
  if not f[5] then return end
  for _, k in ipairs(ix_fixed_keys(L, org, integ, route)) do redis.call('ZREM', k, id) end
  for _, k in ipairs(ix_state_keys(L, org, f[5], integ, route)) do redis.call('ZREM', k, id) end
  redis.call('ZREM', L.org .. org .. L.silence, id)
end
