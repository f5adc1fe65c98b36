-- KEYS: 1 group, 2 resolved groups, 3 open index, 4 last-resolved index, 5 maintenance index
-- ARGV: 1 action, 2 now, 3 actor, 4 silenced until ('' = forever), 5 root allowed ('' = none),
--       6 index layout (JSON)
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
reindex(cjson.decode(ARGV[6]), g, now)
return {'ok', extra}
