"""The hand-off from the api to the workers: arq-compatible jobs written by one Lua script.

A link request costs **one** Redis round trip: the script checks that the link still exists
(a deleted integration stops accepting at once, on every replica), applies the integration and
organization rate limits (spending nothing when refused), and writes each alert as an arq job
(``arq:job:<alert id>`` with the JSON-serialised job, plus the alert id in the queue zset).
When it returns, Redis has acknowledged every write: the 200 that follows means durable.

Concurrent requests share round trips: the calls made in one event-loop turn go out as one
``EVALSHA`` of the script, which runs each call in order (atomically, as the whole batch is) and
returns one status per call; each request awaits its own status, so a 200 still means that
request's alerts are written.

The job calls ``process_alert`` (``JOB_NAME``) with keyword arguments ``alert_id``,
``integration_id``, ``received_at`` (epoch seconds, float) and ``payload``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import hiredis
import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from ingest import ids
from ingest.ratelimit import LUA_FUNCTIONS
from ingest.settings import Rate
from ingest.store import keys

JOB_NAME = "process_alert"
ARQ_JOB_PREFIX = "arq:job:"
ARQ_RESULT_PREFIX = "arq:result:"
# Jobs wait this long for a worker before arq drops them: a week, not arq's default day.
JOB_EXPIRES_MS = 7 * 86400 * 1000

_SCRIPT = (
    LUA_FUNCTIONS
    + """
-- One call enqueues the alerts of one request; a batch of calls runs in one script (below).
-- K[1] link key, K[2] queue zset, K[3..4] rate-limit prefixes, K[5..] job keys
-- A[1] integration id, A[2] now ms, A[3..6] limit/period pairs,
-- A[7] job ttl ms, A[8..] alternating alert id, job body
local links = {}
local queued = {}
local function enqueue(K, A)
  local owner = links[K[1]]
  if owner == nil then
    owner = redis.call('GET', K[1]) or false
    links[K[1]] = owner
  end
  if owner ~= A[1] then
    return -1, 0
  end
  local now = tonumber(A[2])
  for i = 1, 2 do
    local wait = rl_wait(K[2 + i], tonumber(A[1 + 2 * i]), tonumber(A[2 + 2 * i]), now)
    if wait > 0 then
      return i, wait
    end
  end
  for i = 1, 2 do
    rl_spend(K[2 + i], tonumber(A[2 + 2 * i]), now)
  end
  local ttl = tonumber(A[7])
  local zadd = queued[K[2]]
  if zadd == nil then
    zadd = {}
    queued[K[2]] = zadd
  end
  for j = 5, #K do
    local arg = 8 + (j - 5) * 2
    redis.call('SET', K[j], A[arg + 1], 'PX', ttl, 'NX')
    zadd[#zadd + 1] = now
    zadd[#zadd + 1] = A[arg]
  end
  return 0, #K - 4
end
-- ARGV[1] number of calls n, ARGV[2c], ARGV[2c+1] key and arg counts of call c, then the
-- args of every call in order; KEYS holds the keys of every call in order.
-- Returns status1, extra1, status2, extra2, ...
local n = tonumber(ARGV[1])
local out = {}
local k, a = 1, 2 + 2 * n
for c = 1, n do
  local nk, na = tonumber(ARGV[2 * c]), tonumber(ARGV[2 * c + 1])
  local status, extra = enqueue({unpack(KEYS, k, k + nk - 1)}, {unpack(ARGV, a, a + na - 1)})
  out[2 * c - 1] = status
  out[2 * c] = extra
  k = k + nk
  a = a + na
end
rl_flush()
for queue, zadd in pairs(queued) do
  for i = 1, #zadd, 1000 do
    redis.call('ZADD', queue, unpack(zadd, i, math.min(i + 999, #zadd)))
  end
end
return out
"""
)

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
        self, redis: Redis, queue_name: str, max_batch: int = 128, max_in_flight: int = 1
    ) -> None:
        self._redis = redis
        self._sha = hashlib.sha1(_SCRIPT.encode()).hexdigest()
        self.queue_name = queue_name
        self._batcher = _Batcher(self._run_batch, max_batch, max_in_flight)

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
        alert_ids = [ids.alert_id(now_ms) for _ in payloads]
        script_keys = [
            keys.link(link_token),
            self.queue_name,
            keys.rate_limit("integration", integration_id),
            keys.rate_limit("organization", org_id),
        ] + [ARQ_JOB_PREFIX + a for a in alert_ids]
        argv: list[Any] = [integration_id, now_ms]
        for rate in limits:
            argv += [rate.count, rate.period * 1000]
        argv.append(JOB_EXPIRES_MS)
        for alert_id, payload in zip(alert_ids, payloads, strict=True):
            argv += [alert_id, job_body(alert_id, integration_id, received_at, payload, now_ms)]
        status, extra = await self._batcher.call((script_keys, argv))
        if int(status) == ACCEPTED:
            return EnqueueResult(ACCEPTED, tuple(alert_ids))
        if int(status) == GONE:
            return EnqueueResult(GONE)
        return EnqueueResult(int(status), retry_after=max(1, -(-int(extra) // 1000)))

    async def _run_batch(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Run ``calls`` (keys, args) in one ``EVALSHA``; one (status, extra) per call.

        The script is loaded when Redis answers NOSCRIPT (after a restart or ``SCRIPT FLUSH``):
        a NOSCRIPT reply means nothing ran, so sending the batch again is safe.
        """
        all_keys: list[str] = []
        header: list[Any] = [len(calls)]
        all_args: list[Any] = []
        for call_keys, call_args in calls:
            all_keys += call_keys
            all_args += call_args
            header += [len(call_keys), len(call_args)]
        command = ("EVALSHA", self._sha, len(all_keys), *all_keys, *header, *all_args)
        try:
            flat = await self._execute(command)
        except NoScriptError:
            await self._redis.script_load(_SCRIPT)
            flat = await self._execute(command)
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    async def _execute(self, command: tuple[Any, ...]) -> Any:
        """``execute_command`` minus its Python packing: hiredis packs the (large) command.

        Same connection handling as redis-py: a connection from the client's pool (plain,
        TLS or Sentinel-managed), dropped by redis-py on any I/O error or timeout, returned to
        the pool afterwards; an error reply raises (``NoScriptError``, ``ResponseError``).
        """
        pool = self._redis.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(hiredis.pack_command(command))
            return await conn.read_response()
        finally:
            await pool.release(conn)


Call = tuple[Any, "asyncio.Future[Any]"]


class _Batcher:
    """Groups the calls made during one event-loop turn into one ``run`` (one Redis round trip).

    At most ``max_in_flight`` batches are in flight; calls made meanwhile wait for the next batch,
    so batches grow with load and stay at one call when idle (no added latency). Each caller
    gets its own reply, or the batch's exception when the round trip failed.
    """

    def __init__(
        self,
        run: Any,  # async (list of calls) -> list of replies, exceptions included
        max_batch: int,
        max_in_flight: int,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[Call] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((args, future))
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and self._in_flight < self._max_in_flight:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[Call]) -> None:
        try:
            replies = await self._run([args for args, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), reply in zip(batch, replies, strict=True):
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        finally:
            self._in_flight -= 1
            if self._pending and not self._scheduled:
                self._flush()
