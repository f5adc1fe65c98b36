-- KEYS: 1 group, 2 group alerts, 3 resolved groups, 4 org groups, 5 org alerts, 6 open index,
--       7 last-resolved index, 8 maintenance index, 9 its attached set, 10 its root's attached
--       set (9 again when it has no root). ARGV: 1 group id, 2 alert key prefix, 3 group prefix,
--       4 index layout (JSON)
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
unindex(cjson.decode(ARGV[4]), KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[9])
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
for i = 6, 8 do
  if redis.call('GET', KEYS[i]) == id then redis.call('DEL', KEYS[i]) end
end
return 1
