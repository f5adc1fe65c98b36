-- KEYS: 1 the index to read, 2 the org's silence ends
-- ARGV: 1 index layout (JSON), 2 now (s), 3 min score ('-inf' or ms), 4 max score ('+inf' or
--       ms), 5 page (from 1; past the end reads the last page), 6 page size (0: count only),
--       7 group key prefix, 8 most expired silences to settle, 9 alert key prefix and
--       10 route key prefix: with both, the page's rows come along (``group_rows``)
-- First, silences that have ended move their groups to ``firing`` (bounded; replies 'again'
-- while more remain). Then the index window [min, max], newest first: the count, the rank of
-- its newest member, the page number read, that page's ids and, when asked, their rows (the
-- group hashes, newest alerts and route liveness: one call for a whole list). O(log N + page).
local L = cjson.decode(ARGV[1])
local settle = tonumber(ARGV[8])
local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, settle)
for _, id in ipairs(ended) do
  if not reindex(L, ARGV[7] .. id, ARGV[2]) then redis.call('ZREM', KEYS[2], id) end
end
if #ended == settle then return {'again'} end
local lo, hi = ARGV[3], ARGV[4]
local count, first
if lo == '-inf' and hi == '+inf' then
  count, first = redis.call('ZCARD', KEYS[1]), 0
else
  count = redis.call('ZCOUNT', KEYS[1], lo, hi)
  first = hi == '+inf' and 0 or redis.call('ZCOUNT', KEYS[1], '(' .. hi, '+inf')
end
local size = tonumber(ARGV[6])
local page, ids = 1, {}
if size > 0 and count > 0 then
  local pages = math.floor((count + size - 1) / size)
  page = math.min(tonumber(ARGV[5]), pages)
  local start = first + (page - 1) * size
  local stop = math.min(start + size, first + count) - 1
  ids = redis.call('ZREVRANGE', KEYS[1], start, stop)
end
if ARGV[9] and ARGV[9] ~= '' then
  return {'ok', count, first, page, ids, group_rows(ids, ARGV[7], ARGV[9], ARGV[10])}
end
return {'ok', count, first, page, ids}
