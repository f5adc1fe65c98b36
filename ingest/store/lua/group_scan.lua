-- KEYS: 1 an index. ARGV: 1 first rank, 2 last rank (newest first, inclusive), 3 group key
-- prefix, 4 team test ('any', 'none' or 'is'), 5 the team for 'is', 6 wanted labels (JSON
-- [[key, value], ...]). Replies the ids in that rank window whose group passes both tests.
local want = cjson.decode(ARGV[6])
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2])) do
  local f = redis.call('HMGET', ARGV[3] .. id, 'team_id', 'labels')
  local team = f[1] or ''
  local ok = ARGV[4] == 'any' or (ARGV[4] == 'none' and team == '')
             or (ARGV[4] == 'is' and team == ARGV[5])
  if ok and #want > 0 then
    local decoded, labels = pcall(cjson.decode, f[2] or '[]')
    local have = {}
    if decoded and type(labels) == 'table' then
      for _, item in ipairs(labels) do
        if type(item) == 'table' then have[tostring(item.key) .. '\0' .. tostring(item.value)] = true end
      end
    end
    for _, pair in ipairs(want) do
      if not have[pair[1] .. '\0' .. pair[2]] then ok = false break end
    end
  end
  if ok then out[#out + 1] = id end
end
return out
