-- KEYS: 1 group, 2 resolved groups, 3 open index, 4 last-resolved index, 5 maintenance index
-- ARGV: 1 unused, 2 now, 3 actor, 4 index layout (JSON)
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
reindex(cjson.decode(ARGV[4]), g, ARGV[2])
return {'ok', newly}
