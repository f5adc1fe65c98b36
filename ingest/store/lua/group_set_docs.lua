-- KEYS: alert hashes; ARGV: their new documents (only alerts that still exist are changed)
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'doc', ARGV[i]) end
end
return #KEYS
