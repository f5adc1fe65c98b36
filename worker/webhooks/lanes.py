"""Deliveries owed, in Redis: one *lane* (list) per (webhook, alert group), in event order.

A lane is what keeps one group's events to one webhook in order: only its head is ever being
sent, and the next item waits until the head is delivered, failed or dead-lettered. The sorted
set ``ai:wh:lanes`` holds every lane with work; its score is when the lane may be taken next. A
worker *claims* due lanes by moving their score ``lease`` seconds ahead, so a lane is sent by one
worker at a time, and a worker that dies holding one only delays it: once the lease runs out
another worker claims it and sends the same head again (at-least-once, with the same delivery
id). Retries move the lane's score to the retry time, so a failing lane takes no job slot while
it waits.

Each item is a JSON document: ``delivery_id`` (stable across retries), ``webhook_id``, ``event``
(the stream entry's fields plus ``stream_id``), ``attempt`` (tries so far) and ``first_try``
(epoch seconds of the first try, which bounds the retry window).

``fan_out`` appends the items of a batch of stream entries and acknowledges the entries in the
events consumer group in the same script, so an entry is fanned out exactly once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.batching import BatchedScript
from ingest.lua import Script
from ingest.store import keys
from ingest.store.webhooks import MAX_RESPONSES

# KEYS: 1 stream, 2 lanes zset. ARGV: 1 consumer group, 2 now ms, 3 lane prefix, 4 number of
# stream ids n, 5..4+n the ids, then (member, item) pairs. Entries already acknowledged (by a
# dispatcher that had claimed them before) add nothing.
_FAN_OUT = Script("""
local n = tonumber(ARGV[4])
local fresh = {}
for i = 5, 4 + n do
  fresh[ARGV[i]] = redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1
end
local pushed = 0
for i = 5 + n, #ARGV, 3 do
  if fresh[ARGV[i]] then
    redis.call('RPUSH', ARGV[3] .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[i + 1])
    pushed = pushed + 1
  end
end
return pushed
""")

# KEYS: 1 lanes zset. ARGV: 1 now ms, 2 lease ms, 3 most lanes, 4 lane prefix.
# Returns member, head item pairs; lanes found empty are dropped from the set.
_CLAIM = Script("""
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
local until_ = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do
  local head = redis.call('LINDEX', ARGV[4] .. member, 0)
  if head then
    redis.call('ZADD', KEYS[1], 'XX', until_, member)
    table.insert(out, member)
    table.insert(out, head)
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return out
""")

# KEYS: 1 lanes zset, 2 lane, 3 webhook doc, 4 its responses log, 5 the group's latest
# responses, 6 dead letters. ARGV: 1 member, 2 the head as claimed, 3 action: 'pop' (done with it:
# return the next head, lease renewed to ARGV[4] ms) | 'retry' (replace the head with ARGV[5],
# lane due at ARGV[4] ms) | 'defer' (lane due at ARGV[4] ms); 6 log entry ('' = none, kept only
# while the webhook exists), 7 entries kept, 8 webhook id, 9 response to remember ('' = none),
# 10 its ttl s, 11 dead letter ('' = none). The attempt is recorded even when the head changed
# meanwhile (the lease ran out and another worker took over), but the lane is then left alone.
_SETTLE = """
if ARGV[6] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('LPUSH', KEYS[4], ARGV[6])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[7]) - 1)
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[8], ARGV[9])
  redis.call('EXPIRE', KEYS[5], ARGV[10])
end
if ARGV[11] ~= '' then
  redis.call('LPUSH', KEYS[6], ARGV[11])
  redis.call('LTRIM', KEYS[6], 0, 9999)
end
local head = redis.call('LINDEX', KEYS[2], 0)
if head ~= ARGV[2] then return false end
local action = ARGV[3]
if action == 'pop' then
  redis.call('LPOP', KEYS[2])
  local next_ = redis.call('LINDEX', KEYS[2], 0)
  if not next_ then
    redis.call('ZREM', KEYS[1], ARGV[1])
    return false
  end
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  return next_
end
if action == 'retry' then redis.call('LSET', KEYS[2], 0, ARGV[5]) end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return false
"""


@dataclass
class Claimed:
    """A lane this worker holds, and its head item (``raw`` as stored, ``item`` parsed)."""

    member: str
    raw: bytes
    item: dict[str, Any]

    @property
    def lane(self) -> str:
        return keys.WEBHOOK_LANE_PREFIX + self.member


def member(webhook_id: str, group_id: str) -> str:
    return f"{webhook_id}:{group_id}"


class Lanes:
    def __init__(self, redis: Redis, lease_s: float) -> None:
        self._redis = redis
        self._lease_ms = int(lease_s * 1000)
        self._settle = BatchedScript(redis, _SETTLE)  # the lanes that finish together: one trip

    async def fan_out(
        self, group: str, stream_ids: list[str], items: list[tuple[str, str, dict[str, Any]]]
    ) -> int:
        """Acknowledge ``stream_ids`` and append ``(stream id, member, item)``s to their lanes."""
        args: list[Any] = [group, now_ms(), keys.WEBHOOK_LANE_PREFIX, len(stream_ids)]
        args += stream_ids
        for stream_id, lane_member, item in items:
            args += [stream_id, lane_member, orjson.dumps(item)]
        return int(await _FAN_OUT(self._redis, [keys.EVENTS, keys.WEBHOOK_LANES], args))

    async def claim(self, most: int) -> list[Claimed]:
        args: list[Any] = [now_ms(), self._lease_ms, most, keys.WEBHOOK_LANE_PREFIX]
        flat = await _CLAIM(self._redis, [keys.WEBHOOK_LANES], args)
        return [
            Claimed(flat[i].decode(), flat[i + 1], orjson.loads(flat[i + 1]))
            for i in range(0, len(flat), 2)
        ]

    async def settle(
        self, claimed: Claimed, action: str, record: Record | None = None, *,
        at: float = 0.0, item: dict[str, Any] | None = None,
    ) -> Claimed | None:  # fmt: skip
        """Record the attempt (``record``) and move the lane on, in one round trip.

        ``pop``: done with the head; returns the lane's next head (still held by us), or None.
        ``retry``: try again at ``at`` (epoch seconds) with the updated ``item``. ``defer``: hand
        the lane back, due at ``at`` (an open circuit breaker).
        """
        record = record or Record()
        due = now_ms() + self._lease_ms if action == "pop" else int(at * 1000)
        webhook_id = claimed.item["webhook_id"]
        group_id = claimed.item["event"].get("alert_group_id", "")
        script_keys = [
            keys.WEBHOOK_LANES, claimed.lane, keys.webhook(webhook_id),
            keys.webhook_responses(webhook_id), keys.group_webhook_responses(group_id),
            keys.WEBHOOK_DEAD_LETTERS,
        ]  # fmt: skip
        args: list[Any] = [
            claimed.member, claimed.raw, action, due, orjson.dumps(item) if item else "",
            orjson.dumps(record.entry) if record.entry else "", MAX_RESPONSES, webhook_id,
            record.remember, record.ttl_s, orjson.dumps(record.dead) if record.dead else "",
        ]  # fmt: skip
        raw = await self._settle(script_keys, args)
        return Claimed(claimed.member, raw, orjson.loads(raw)) if raw else None


@dataclass
class Record:
    """What to write with a settle: the log ``entry``, the response to ``remember`` for the
    group (for ``ttl_s``), a ``dead`` letter."""

    entry: dict[str, Any] | None = None
    remember: str = ""
    ttl_s: int = 0
    dead: dict[str, Any] | None = None


def now_ms() -> int:
    return int(time.time() * 1000)
