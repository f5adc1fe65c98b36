"""Many calls of one Lua script in one Redis round trip.

The api enqueues many requests at once and the worker runs many alerts at once; each calls the
same scripts (enqueue; grouping, events, job finish). ``BatchedScript`` collects the calls made
during one event-loop turn and sends them as one ``EVALSHA`` of a wrapper that runs the script
once per call, in order, each call atomic on its own (as the whole batch is: Redis runs one script
at a time). Each caller gets its own reply, or its own error: a call that fails is caught with
``pcall`` and answered as an error reply to that caller only, with the writes it made before
failing kept, exactly as a failing script on its own would.

At most ``max_in_flight`` batches (default one) are in flight per script; calls made meanwhile go
out with the next batch, so batches grow with load and are one call when idle (no added latency).
The wrapper runs as an ``ingest.lua.Script``: loaded when Redis answers ``NOSCRIPT`` (after a
restart or ``SCRIPT FLUSH``); such a reply means nothing ran, so sending the batch again is safe.

With ``replicas`` >= 1, each batch is followed on the same connection by ``WAIT replicas
timeout_ms`` (sent with it, one round trip): when fewer replicas confirm they hold the batch's
writes in time, every caller of the batch gets ``ingest.lua.NotReplicated`` (the writes stay on
the primary, unconfirmed; the caller answers as for any Redis error, and a retry may write twice).

The script body is written as for ``EVAL`` (``KEYS``, ``ARGV``, a ``return`` at the end); it runs
as a Lua function whose parameters are named ``KEYS`` and ``ARGV``. It must return a value (not
nil). An optional ``prologue`` runs once before the calls of a batch (shared functions and state,
e.g. counters read once per batch) and an ``epilogue`` once after them (e.g. writing those
counters back); an error there fails the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from ingest.lua import Arg, Script

_WRAPPER = """
-- prologue
local function one(KEYS, ARGV)
-- body
end
-- ARGV[1] number of calls n, ARGV[2c], ARGV[2c+1] key and arg counts of call c, then the args
-- of every call in order; KEYS holds the keys of every call in order. One reply per call.
local n = tonumber(ARGV[1])
local out = {}
local k, a = 1, 2 + 2 * n
for c = 1, n do
  local nk, na = tonumber(ARGV[2 * c]), tonumber(ARGV[2 * c + 1])
  local ok, res = pcall(one, {unpack(KEYS, k, k + nk - 1)}, {unpack(ARGV, a, a + na - 1)})
  if ok then
    out[c] = res
  elseif type(res) == 'table' and res.err then
    out[c] = res
  else
    out[c] = redis.error_reply(tostring(res))
  end
  k = k + nk
  a = a + na
end
-- epilogue
return out
"""

Call = tuple[Sequence[Arg], Sequence[Arg], "asyncio.Future[Any]"]


class BatchedScript:
    """``await script(keys, args)`` runs ``body`` with them, batched with concurrent calls."""

    def __init__(
        self,
        redis: Redis,
        body: str,
        max_batch: int = 256,
        prologue: str = "",
        epilogue: str = "",
        max_in_flight: int = 1,
        replicas: int = 0,
        replica_timeout_ms: int = 500,
    ) -> None:
        self._redis = redis
        self._wait = (replicas, replica_timeout_ms) if replicas > 0 else None
        before_body, rest = _WRAPPER.split("-- body\n")
        loop, after = rest.split("-- epilogue\n")
        head = before_body.replace("-- prologue\n", prologue + "\n")
        self.script = Script(head + body + "\n" + loop + epilogue + "\n" + after)
        self._max_batch = max_batch
        self._pending: list[Call] = []
        self._in_flight = 0
        self._max_in_flight = max_in_flight
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending or self._in_flight >= self._max_in_flight:
            return
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[Call]) -> None:
        try:
            replies = await self._run(batch)
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, _, future), reply in zip(batch, replies, strict=True):
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

    async def _run(self, batch: list[Call]) -> list[Any]:
        all_keys: list[Arg] = []
        header: list[Arg] = [len(batch)]
        all_args: list[Arg] = []
        for keys, args, _ in batch:
            all_keys += keys
            all_args += args
            header += [len(keys), len(args)]
        return list(await self.script(self._redis, all_keys, header + all_args, self._wait))
