"""Rate limits in Redis (GCRA), checked and spent atomically by one Lua script.

Each limit is a key and a :class:`~ingest.settings.Rate` of ``count`` per ``period``. The limiter
is the generic cell rate algorithm: a limit allows a burst of ``count`` requests, then one every
``period / count``, so a steady sender gets exactly the configured rate. The key holds one number,
the *theoretical arrival time* (microseconds): the time the subject's budget would be full again.
Why not window counters: their estimate over a sliding window can refuse a request for longer than
the wait it announced (a client obeying ``Retry-After`` got a second 429) and admits a sender
obeying it at half the configured rate; here the wait returned is exactly the time until one more
request fits, so a client that waits it is admitted on its first retry.

Only when *every* limit passes is one unit spent on each. When a limit fails, nothing is spent: a
request rejected at integration level does not use the organization's budget. Correct across any
number of api replicas because the decision happens inside Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from ingest.lua import Script
from ingest.settings import Rate

# Lua functions shared by every script that rate-limits (this module's and ``ingest.queue``'s).
LUA_FUNCTIONS = """
-- Arrival times are read once per script and written once at the end (rl_flush), so a batch
-- of many requests costs a few commands, not a few per request. Times in microseconds: integers
-- a double holds exactly, so the stored value round-trips without drift.
local rl_tats = {}
local rl_dirty = {}
local function rl_tat(key, now)
  local t = rl_tats[key]
  if t == nil then
    t = tonumber(redis.call('GET', key) or '0')
    rl_tats[key] = t
  end
  return math.max(t, now * 1000)
end
local function rl_wait(key, limit, period, now)
  -- 0 when one more request fits, else the milliseconds until it would
  local interval = math.floor(period * 1000 / limit)
  local late = rl_tat(key, now) + interval - (now + period) * 1000
  if late <= 0 then
    return 0
  end
  return math.max(1, math.ceil(late / 1000))
end
local function rl_spend(key, limit, period, now)
  rl_tats[key] = rl_tat(key, now) + math.floor(period * 1000 / limit)
  rl_dirty[key] = now
end
local function rl_flush()
  for key, now in pairs(rl_dirty) do
    local t = rl_tats[key]
    redis.call('SET', key, string.format('%.0f', t), 'PX', math.ceil(t / 1000 - now) + 1)
  end
end
"""

# KEYS: the limits' keys (``keys.rate_limit``). ARGV: 1 now ms, then a limit and a
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
  rl_spend(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), now)
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
