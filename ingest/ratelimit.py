"""Sliding-window rate limits in Redis, checked and spent atomically by one Lua script.

Each limit is a key and a :class:`~ingest.settings.Rate`. The script estimates the count over the
last ``period`` as ``previous_window * (1 - elapsed_fraction) + current_window`` and, only when
*every* limit passes, spends one unit on each. When a limit fails, nothing is spent: a request
rejected at integration level does not use the organization's budget. Correct across any number
of api replicas because the decision happens inside Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from ingest.lua import Script
from ingest.settings import Rate

# Lua functions shared by every script that rate-limits (this module's and ``ingest.queue``'s).
LUA_FUNCTIONS = """
-- Window counters are read once per script and written once at the end (rl_flush), so a batch
-- of many requests costs a few commands, not a few per request.
local rl_counts = {}
local rl_dirty = {}
local function rl_count(key)
  local c = rl_counts[key]
  if c == nil then
    c = tonumber(redis.call('GET', key) or '0')
    rl_counts[key] = c
  end
  return c
end
local function rl_wait(prefix, limit, period, now)
  -- 0 when one more event fits in the sliding window, else milliseconds to wait
  local window = math.floor(now / period)
  local elapsed = (now - window * period) / period
  local cur = rl_count(prefix .. window)
  local prev = rl_count(prefix .. (window - 1))
  if prev * (1 - elapsed) + cur + 1 <= limit then
    return 0
  end
  if cur + 1 > limit then
    return math.max(1, (window + 1) * period - now)
  end
  -- the previous window's weight must shrink enough to make room for one more
  return math.max(1, math.ceil((1 - (limit - 1 - cur) / prev - elapsed) * period))
end
local function rl_spend(prefix, period, now)
  local key = prefix .. math.floor(now / period)
  rl_counts[key] = rl_count(key) + 1
  local d = rl_dirty[key]
  if d then
    d[1] = d[1] + 1
  else
    rl_dirty[key] = {1, period}
  end
end
local function rl_flush()
  for key, d in pairs(rl_dirty) do
    redis.call('INCRBY', key, d[1])
    redis.call('PEXPIRE', key, d[2] * 2)
  end
end
"""

# KEYS: the limits' window-key prefixes (``keys.rate_limit``). ARGV: 1 now ms, then a limit and a
# period (ms) per key. Returns {0, 0}, or the 1-based index of the failing limit and the wait (ms).
_SCRIPT = Script(
    LUA_FUNCTIONS
    + """
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
  local wait = rl_wait(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), now)
  if wait > 0 then
    return {i, wait}
  end
end
for i = 1, #KEYS do
  rl_spend(KEYS[i], tonumber(ARGV[2 * i + 1]), now)
end
rl_flush()
return {0, 0}
"""
)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def hit(self, limits: list[tuple[str, Rate]], now_ms: int) -> Verdict:
        """Spend one unit on every limit if all allow it; else say how long to wait (seconds)."""
        argv: list[int] = [now_ms]
        for _, rate in limits:
            argv += [rate.count, rate.period * 1000]
        failed, wait_ms = await _SCRIPT(self._redis, [k for k, _ in limits], argv)
        if int(failed) == 0:
            return Verdict(True)
        return Verdict(False, max(1, -(-int(wait_ms) // 1000)))
