"""The queue contract between the api and the workers, and the one way jobs are written.

A job is arq's: the key ``arq:job:<alert id>`` (arq's own ``job_key_prefix``) holds the job
document in JSON (arq's ``serialize_job`` layout: ``f`` the function, ``k`` its keyword arguments,
``et`` the enqueue time in ms) and the alert id is a member of the queue zset, scored by that
time. The function is ``process_alert`` (``JOB_NAME``) with the fields of :class:`AlertJob`:
``alert_id``, ``integration_id``, ``received_at`` (epoch seconds, float), ``payload`` and, only
when there are any, ``notes`` (how the api read the body; the worker puts them in the trace). A job
waits for a worker at most ``JOB_EXPIRES_MS`` (a week, not arq's default day).

Jobs are written only by ``queue_jobs`` in Lua, with ``SET … NX``: a job already there (queued,
running, or retrying under the same alert id) is never overwritten, and its id is queued (``ZADD``)
only when its job was written, so a job waiting for a retry keeps its retry time. Two scripts use
it, batched (``ingest.batching``):

- a **link post** (``Enqueuer.enqueue``) costs one Redis round trip: the script checks that the link
  still exists (a deleted integration stops accepting at once, on every replica), applies the
  integration and organization rate limits (spending nothing when refused), and writes each alert
  as a job under a fresh alert id (an id already in use makes the caller draw longer ones). When
  it returns, Redis has acknowledged every write: the 200 that follows means durable. With
  ``ALERT_INGEST_REDIS_MIN_REPLICAS`` >= 1 it returns only once that many replicas confirmed the
  writes (``WAIT``), and raises ``ingest.lua.NotReplicated`` (a ``RedisError``: 503) when they
  did not in time. A re-queue waits the same way only through an ``Enqueuer`` built with
  ``replicas``; ``dlq replay`` builds one without. It removes each dead-letter entry after
  re-queueing it and replication keeps that order, so a failover that loses the re-queue
  loses the removal too, unless the primary changed between the two (an operator runs it and
  can list the dead letters again). Rate-limit counters and the link check are read once per
  batch and the counters and queue entries written once, at the end of the batch; each request
  awaits its own status.
- a **re-queue** (``Enqueuer.requeue``, used by ``dlq replay``) writes given jobs again, with their
  alert ids kept (so the worker's idempotency holds), without link check or rate limit, and
  answers how many it wrote.

The worker's periodic (cron) jobs wait in the same queue, under ids starting ``cron:``; each is
recorded beside the queue (``record_periodic``) before it is put there, so
``alert_queue_depth`` (the ``alert_ingest_queue_depth`` gauge, what KEDA scales on) counts alert
jobs only: 0 on an idle system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson
from arq.constants import job_key_prefix
from redis.asyncio import Redis

from ingest import ids
from ingest.batching import BatchedScript
from ingest.lua import Arg, Script
from ingest.ratelimit import LUA_FUNCTIONS
from ingest.settings import Rate
from ingest.store import keys

JOB_NAME = "process_alert"
ARQ_JOB_PREFIX: str = job_key_prefix
JOB_EXPIRES_MS = 7 * 86400 * 1000
PERIODIC_PREFIX = "cron:"
# a recorded periodic id no longer queued is forgotten after this long (it may be about to be)
PERIODIC_FORGET_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class AlertJob:
    """One queued alert: the keyword arguments of ``process_alert``."""

    alert_id: str
    integration_id: str
    received_at: float
    payload: Any
    notes: tuple[str, ...] = ()

    def kwargs(self) -> dict[str, Any]:
        kwargs = {
            "alert_id": self.alert_id,
            "integration_id": self.integration_id,
            "received_at": self.received_at,
            "payload": self.payload,
        }
        if self.notes:  # only then: a worker of an older version takes the job as before
            kwargs["notes"] = list(self.notes)
        return kwargs

    def body(self, enqueued_ms: int) -> bytes:
        """The arq job document (arq's ``serialize_job`` layout, in JSON)."""
        return orjson.dumps(
            {"t": None, "f": JOB_NAME, "a": [], "k": self.kwargs(), "et": enqueued_ms}
        )


class EnqueueStatus(IntEnum):
    """What the link script answered for one request (the numbers are the script's)."""

    GONE = -1
    ACCEPTED = 0
    LIMIT_INTEGRATION = 1
    LIMIT_ORGANIZATION = 2


@dataclass(frozen=True)
class EnqueueResult:
    status: EnqueueStatus
    alert_ids: tuple[str, ...] = ()
    retry_after: int = 0


# Per-batch state, read once and written once per round trip (see ``ingest.batching``).
_PROLOGUE = (
    LUA_FUNCTIONS
    + """
local links = {}
local queued = {}
-- Write the ``count`` jobs named by KEYS[first_key..] (ARGV from first_arg: alert id, job
-- document, ...) unless already there; queue the ids of those written (scored ``now``) at the
-- end of the batch. A job already there keeps its queue entry and score (a retry's time).
-- Returns how many were written.
local function queue_jobs(queue, first_key, count, first_arg, ttl, now, KEYS, ARGV)
  local zadd = queued[queue]
  if zadd == nil then
    zadd = {}
    queued[queue] = zadd
  end
  local written = 0
  for j = first_key, first_key + count - 1 do
    local arg = first_arg + (j - first_key) * 2
    if redis.call('SET', KEYS[j], ARGV[arg + 1], 'PX', ttl, 'NX') then
      zadd[#zadd + 1] = now
      zadd[#zadd + 1] = ARGV[arg]
      written = written + 1
    end
  end
  return written
end
"""
)
_EPILOGUE = """
rl_flush()
for queue, zadd in pairs(queued) do
  for i = 1, #zadd, 1000 do
    redis.call('ZADD', queue, unpack(zadd, i, math.min(i + 999, #zadd)))
  end
end
"""
# One call enqueues the alerts of one request.
# KEYS[1] link key, KEYS[2] queue zset, KEYS[3..4] rate-limit keys, KEYS[5..4+n] job keys,
# KEYS[5+n..4+2n] alert keys
# ARGV[1] integration id, ARGV[2] now ms, ARGV[3..6] limit/period pairs,
# ARGV[7] job ttl ms, ARGV[8..] alternating alert id, job body
# An alert id already in use (its job or its alert exists) answers {-2, 0} before anything is
# written or spent: the caller draws longer ids and calls again.
_LINK_POST = """
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
  rl_spend(KEYS[2 + i], tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i]), now)
end
return {0, queue_jobs(KEYS[2], 5, n, 8, tonumber(ARGV[7]), now, KEYS, ARGV)}
"""
# One call re-queues jobs. KEYS[1] queue zset, KEYS[2..] job keys.
# ARGV[1] now ms, ARGV[2] job ttl ms, ARGV[3..] alternating alert id, job body
_REQUEUE = """
return queue_jobs(KEYS[1], 2, #KEYS - 1, 3, tonumber(ARGV[2]), tonumber(ARGV[1]), KEYS, ARGV)
"""

_ID_TAKEN = -2  # the link script's answer when an alert id is in use: draw longer ids


def _jobs_args(jobs: list[AlertJob], now_ms: int) -> tuple[list[Arg], list[Arg]]:
    """The job keys of ``jobs`` and their (alert id, document) arguments, for ``queue_jobs``."""
    job_keys: list[Arg] = []
    args: list[Arg] = []
    for job in jobs:
        job_keys.append(ARQ_JOB_PREFIX + job.alert_id)
        args += [job.alert_id, job.body(now_ms)]
    return job_keys, args


class Enqueuer:
    """Writes alert jobs: those of a link post (checked and rate-limited) and re-queued ones."""

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

        def batched(body: str) -> BatchedScript:
            return BatchedScript(
                redis,
                body,
                max_batch=max_batch,
                prologue=_PROLOGUE,
                epilogue=_EPILOGUE,
                max_in_flight=max_in_flight,
                replicas=replicas,
                replica_timeout_ms=replica_timeout_ms,
            )

        self._link_post = batched(_LINK_POST)
        self._requeue = batched(_REQUEUE)

    async def enqueue(
        self,
        org_id: str,
        integration_id: str,
        link_token: str,
        limits: tuple[Rate, Rate],
        payloads: list[Any],
        notes: tuple[str, ...] = (),
    ) -> EnqueueResult:
        received_at = time.time()
        now_ms = int(received_at * 1000)
        length = 12
        while True:
            jobs = [
                AlertJob(ids.alert_id(length), integration_id, received_at, payload, notes)
                for payload in payloads
            ]
            status, extra = await self._link_post(
                self._keys(link_token, integration_id, org_id, jobs),
                self._argv(integration_id, now_ms, limits, jobs),
            )
            if int(status) != _ID_TAKEN or length >= ids.MAX_ID_LENGTH:
                break
            length += 1
        if int(status) == _ID_TAKEN:
            raise RuntimeError(f"every alert id drawn up to {length} characters is taken")
        code = EnqueueStatus(int(status))
        if code == EnqueueStatus.ACCEPTED:
            return EnqueueResult(code, tuple(job.alert_id for job in jobs))
        if code == EnqueueStatus.GONE:
            return EnqueueResult(code)
        return EnqueueResult(code, retry_after=max(1, -(-int(extra) // 1000)))

    def _keys(
        self, link_token: str, integration_id: str, org_id: str, jobs: list[AlertJob]
    ) -> list[Arg]:
        return [
            keys.link(link_token),
            self.queue_name,
            keys.rate_limit("integration", integration_id),
            keys.rate_limit("organization", org_id),
            *[ARQ_JOB_PREFIX + job.alert_id for job in jobs],
            *[keys.alert(job.alert_id) for job in jobs],
        ]

    @staticmethod
    def _argv(
        integration_id: str, now_ms: int, limits: tuple[Rate, Rate], jobs: list[AlertJob]
    ) -> list[Arg]:
        argv: list[Arg] = [integration_id, now_ms]
        for rate in limits:
            argv += [rate.count, rate.period * 1000]
        argv.append(JOB_EXPIRES_MS)
        for job in jobs:
            argv += [job.alert_id, job.body(now_ms)]
        return argv

    async def requeue(self, jobs: list[AlertJob]) -> int:
        """Queue ``jobs`` again under their own alert ids; returns how many were written (a job
        still there under its id is left as it is, queue score included, and not counted)."""
        now_ms = int(time.time() * 1000)
        args: list[Arg] = [now_ms, JOB_EXPIRES_MS]
        for job in jobs:
            args += [job.alert_id, job.body(now_ms)]
        job_keys = [ARQ_JOB_PREFIX + job.alert_id for job in jobs]
        return int(await self._requeue([self.queue_name, *job_keys], args))


_RECORD_PERIODIC = Script("""
-- KEYS: 1 queue, 2 periodic ids. ARGV: 1 now ms, 2 forget before ms, then the ids to record.
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])) do
  if not redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZREM', KEYS[2], id)
  end
end
return 1
""")
_ALERT_DEPTH = Script("""
-- KEYS: 1 queue, 2 periodic ids. The number of queued jobs that are not periodic ones.
local depth = redis.call('ZCARD', KEYS[1])
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('ZSCORE', KEYS[1], id) then
    depth = depth - 1
  end
end
return depth
""")


async def record_periodic(redis: Redis, queue_name: str, job_ids: list[str]) -> None:
    """Note periodic job ids before they are queued (so they are never counted as alerts), and
    forget those recorded long ago that have left the queue."""
    now_ms = int(time.time() * 1000)
    await _RECORD_PERIODIC(
        redis,
        [queue_name, keys.periodic_jobs(queue_name)],
        [now_ms, now_ms - PERIODIC_FORGET_MS, *job_ids],
    )


async def alert_queue_depth(redis: Redis, queue_name: str) -> int:
    """Alert jobs in the queue (waiting, running or retrying), periodic jobs not counted."""
    return int(await _ALERT_DEPTH(redis, [queue_name, keys.periodic_jobs(queue_name)], []))
