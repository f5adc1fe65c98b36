-- Shared by group_act.lua and group_wipe.lua (prepended to each): KEYS[1] is the group.
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
