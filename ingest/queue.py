"""The hand-off from the api to the workers: arq-compatible jobs written by one Lua script.

A link request costs **one** Redis round trip: the script checks that the link still exists
(a deleted integration stops accepting at once, on every replica), applies the integration and
organization rate limits (spending nothing when refused), and writes each alert as an arq job
(``arq:job:<alert id>`` with the JSON-serialised job, plus the alert id in the queue zset).
When it returns, Redis has acknowledged every write: the 200 that follows means durable. With
``ALERT_INGEST_REDIS_MIN_REPLICAS`` >= 1 it returns only once that many replicas confirmed the
writes (``WAIT``), and raises ``ingest.lua.NotReplicated`` (a ``RedisError``: 503) when they
did not in time.

Concurrent requests share round trips (``ingest.batching``): the calls made in one event-loop turn
go out as one ``EVALSHA`` that runs each call in order and returns one status per call (or an
error to that caller only); each request awaits its own status, so a 200 still means that
request's alerts are written. Rate-limit counters and the link check are read once per batch and
the counters and queue entries written once, at the end of the batch.

The job calls ``process_alert`` (``JOB_NAME``) with keyword arguments ``alert_id``,
``integration_id``, ``received_at`` (epoch seconds, float) and ``payload``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest import ids
from ingest.batching import BatchedScript
from ingest.ratelimit import LUA_FUNCTIONS
from ingest.settings import Rate
from ingest.store import keys

JOB_NAME = "process_alert"
ARQ_JOB_PREFIX = "arq:job:"
# Jobs wait this long for a worker before arq drops them: a week, not arq's default day.
JOB_EXPIRES_MS = 7 * 86400 * 1000

# Per-batch state, read once and written once per round trip (see ``ingest.batching``).
_PROLOGUE = (
    LUA_FUNCTIONS
    + """
local links = {}
local queued = {}
"""
)
# One call enqueues the alerts of one request.
# KEYS[1] link key, KEYS[2] queue zset, KEYS[3..4] rate-limit prefixes, KEYS[5..4+n] job keys,
# KEYS[5+n..4+2n] alert keys
# ARGV[1] integration id, ARGV[2] now ms, ARGV[3..6] limit/period pairs,
# ARGV[7] job ttl ms, ARGV[8..] alternating alert id, job body
# An alert id already in use (its job or its alert exists) answers {-2, 0} before anything is
# written or spent: the caller draws longer ids and calls again.
_BODY = """
local owner = links[KEYS[1]]
if owner == nil then
  owner = redis.call('GET', KEYS[1]) or false
  links[KEYS[1]] = owner
end
if owner ~= ARGV[1] then
  return {-1, 0}
end
local now = tonumber(ARGV[2])
for i = 1, 2 do
  local wait = rl_wait(KEYS[2 + i], tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i]), now)
  if wait > 0 then
    return {i, wait}
  end
end
local n = (#KEYS - 4) / 2
for j = 5, 4 + n do
  if redis.call('EXISTS', KEYS[j], KEYS[j + n]) > 0 then
    return {-2, 0}
  end
end
for i = 1, 2 do
  rl_spend(KEYS[2 + i], tonumber(ARGV[2 + 2 * i]), now)
end
local ttl = tonumber(ARGV[7])
local zadd = queued[KEYS[2]]
if zadd == nil then
  zadd = {}
  queued[KEYS[2]] = zadd
end
for j = 5, 4 + n do
  local arg = 8 + (j - 5) * 2
  redis.call('SET', KEYS[j], ARGV[arg + 1], 'PX', ttl, 'NX')
  zadd[#zadd + 1] = now
  zadd[#zadd + 1] = ARGV[arg]
end
return {0, n}
"""
_EPILOGUE = """
rl_flush()
for queue, zadd in pairs(queued) do
  for i = 1, #zadd, 1000 do
    redis.call('ZADD', queue, unpack(zadd, i, math.min(i + 999, #zadd)))
  end
end
"""

ID_TAKEN = -2  # internal: answered by drawing longer ids
GONE = -1
ACCEPTED = 0
LIMIT_INTEGRATION = 1
LIMIT_ORGANIZATION = 2


@dataclass(frozen=True)
class EnqueueResult:
    status: int  # ACCEPTED, GONE, LIMIT_INTEGRATION or LIMIT_ORGANIZATION
    alert_ids: tuple[str, ...] = ()
    retry_after: int = 0


def job_body(
    alert_id: str, integration_id: str, received_at: float, payload: Any, now_ms: int
) -> bytes:
    """The arq job document (arq's ``serialize_job`` layout, in JSON)."""
    kwargs = {
        "alert_id": alert_id,
        "integration_id": integration_id,
        "received_at": received_at,
        "payload": payload,
    }
    return orjson.dumps({"t": None, "f": JOB_NAME, "a": [], "k": kwargs, "et": now_ms})


class Enqueuer:
    """Checks the link and rate limits and enqueues the alerts of one request, atomically."""

    def __init__(
        self,
        redis: Redis,
        queue_name: str,
        max_batch: int = 128,
        max_in_flight: int = 1,
        replicas: int = 0,
        replica_timeout_ms: int = 500,
    ) -> None:
        self.queue_name = queue_name
        self._script = BatchedScript(
            redis,
            _BODY,
            max_batch=max_batch,
            prologue=_PROLOGUE,
            epilogue=_EPILOGUE,
            max_in_flight=max_in_flight,
            replicas=replicas,
            replica_timeout_ms=replica_timeout_ms,
        )

    async def enqueue(
        self,
        org_id: str,
        integration_id: str,
        link_token: str,
        limits: tuple[Rate, Rate],
        payloads: list[Any],
    ) -> EnqueueResult:
        received_at = time.time()
        now_ms = int(received_at * 1000)
        length = 12
        while True:
            alert_ids = [ids.alert_id(length) for _ in payloads]
            status, extra = await self._script(
                self._keys(link_token, integration_id, org_id, alert_ids),
                self._argv(integration_id, now_ms, received_at, limits, alert_ids, payloads),
            )
            if int(status) != ID_TAKEN or length >= ids.MAX_ID_LENGTH:
                break
            length += 1
        if int(status) == ACCEPTED:
            return EnqueueResult(ACCEPTED, tuple(alert_ids))
        if int(status) == ID_TAKEN:
            raise RuntimeError(f"every alert id drawn up to {length} characters is taken")
        if int(status) == GONE:
            return EnqueueResult(GONE)
        return EnqueueResult(int(status), retry_after=max(1, -(-int(extra) // 1000)))

    def _keys(
        self, link_token: str, integration_id: str, org_id: str, alert_ids: list[str]
    ) -> list[str]:
        return [
            keys.link(link_token),
            self.queue_name,
            keys.rate_limit("integration", integration_id),
            keys.rate_limit("organization", org_id),
            *[ARQ_JOB_PREFIX + a for a in alert_ids],
            *[keys.alert(a) for a in alert_ids],
        ]

    @staticmethod
    def _argv(
        integration_id: str,
        now_ms: int,
        received_at: float,
        limits: tuple[Rate, Rate],
        alert_ids: list[str],
        payloads: list[Any],
    ) -> list[Any]:
        argv: list[Any] = [integration_id, now_ms]
        for rate in limits:
            argv += [rate.count, rate.period * 1000]
        argv.append(JOB_EXPIRES_MS)
        for alert_id, payload in zip(alert_ids, payloads, strict=True):
            argv += [alert_id, job_body(alert_id, integration_id, received_at, payload, now_ms)]
        return argv
