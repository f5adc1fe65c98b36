"""The hand-off from the api to the workers: arq-compatible jobs written by one Lua script.

A link request costs **one** Redis round trip: the script checks that the link still exists
(a deleted integration stops accepting at once, on every replica), applies the integration and
organization rate limits (spending nothing when refused), and writes each alert as an arq job
(``arq:job:<alert id>`` with the JSON-serialised job, plus the alert id in the queue zset).
When it returns, Redis has acknowledged every write: the 200 that follows means durable.

Concurrent requests share round trips: the script calls waiting in one event-loop turn go out
as one pipeline (``EVALSHA`` each, no MULTI: each call stays atomic on its own), and each request
awaits its own reply, so a 200 still means that request's alerts are written.

The job calls ``process_alert`` (``JOB_NAME``) with keyword arguments ``alert_id``,
``integration_id``, ``received_at`` (epoch seconds, float) and ``payload``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

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
-- KEYS[1] link key, KEYS[2] queue zset, KEYS[3..4] rate-limit prefixes, KEYS[5..] job keys
-- ARGV[1] integration id, ARGV[2] now ms, ARGV[3..6] limit/period pairs,
-- ARGV[7] job ttl ms, ARGV[8..] alternating alert id, job body
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {-1, 0}
end
local now = tonumber(ARGV[2])
for i = 1, 2 do
  local wait = rl_wait(KEYS[2 + i], tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i]), now)
  if wait > 0 then
    return {i, wait}
  end
end
for i = 1, 2 do
  rl_spend(KEYS[2 + i], tonumber(ARGV[2 + 2 * i]), now)
end
local ttl = tonumber(ARGV[7])
for j = 5, #KEYS do
  local arg = 8 + (j - 5) * 2
  redis.call('SET', KEYS[j], ARGV[arg + 1], 'PX', ttl, 'NX')
  redis.call('ZADD', KEYS[2], now, ARGV[arg])
end
return {0, #KEYS - 4}
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
        status, extra = await self._batcher.call([len(script_keys), *script_keys, *argv])
        if int(status) == ACCEPTED:
            return EnqueueResult(ACCEPTED, tuple(alert_ids))
        if int(status) == GONE:
            return EnqueueResult(GONE)
        return EnqueueResult(int(status), retry_after=max(1, -(-int(extra) // 1000)))

    async def _run_batch(self, calls: list[list[Any]]) -> list[Any]:
        """One pipeline of ``EVALSHA`` for ``calls``; a reply per call (an exception or a result).

        The script is loaded once when Redis answers NOSCRIPT (a restart, ``SCRIPT FLUSH``):
        a NOSCRIPT reply means that call did not run, so sending it again is safe.
        """
        results = await self._evalsha(calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            await self._redis.script_load(_SCRIPT)
            retried = await self._evalsha([calls[i] for i in missing])
            for i, r in zip(missing, retried, strict=True):
                results[i] = r
        return results

    async def _evalsha(self, calls: list[list[Any]]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for args in calls:
                pipe.execute_command("EVALSHA", self._sha, *args)
            return list(await pipe.execute(raise_on_error=False))


Call = tuple[list[Any], "asyncio.Future[Any]"]


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

    async def call(self, args: list[Any]) -> Any:
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
