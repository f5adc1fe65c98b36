"""``AlertWorker``: arq's ``Worker`` with alert jobs claimed and finished in batches.

arq claims each job on its own, in its poll loop, one after the other: ``WATCH`` the job's
in-progress key, ``EXISTS``, ``ZSCORE``, ``MULTI``/``PSETEX``/``EXEC`` (four round trips), then per
job one round trip to fetch it (``GET`` job, ``INCR``/``EXPIRE`` its try counter) and one to finish
it. At a few thousand alerts/s those round trips, not the pipeline, bound a worker process.

Here one script claims up to ``claim_batch`` (25) of the job ids a poll read, as many as there
are free job slots, with the same checks and keys as arq: not in progress elsewhere, still queued
with a score not in the future; it sets the in-progress key (``job_timeout + 10`` s; its value is
the worker's ``owner`` token, see ``_release_own_claims``), reads the
job and counts the try, all at once. As arq, it goes on past the ids it cannot claim (held by
another worker, or by a dead one until its in-progress keys expire) to the rest the poll read: a
head of the queue held by a killed worker must not stall the others.
Alert jobs (``process_alert``) then run as arq would run them: ``ctx`` with ``job_id``,
``job_try``, ``enqueue_time``, ``score``; ``job_timeout``; ``Retry`` re-queues with its delay;
cancellation (shutdown) releases the job for another worker; any other exception, or more tries
than ``max_tries``, finishes it as failed (arq keeps no results here: ``keep_result`` is 0). The
finishing writes (delete job, try counter and in-progress key, remove from the queue) of the jobs
that end together go out as one batched script call (``ingest.batching``). A finish that fails
on a lost connection is retried (a failover takes seconds); a job that began before the Redis
primary changed is released to run again rather than finished (see ``_finish``).

Slots are refilled as soon as a job ends while more jobs wait (not at the next poll), one claim of
at most ``claim_batch`` jobs at a time: the jobs then run in a few cohorts that overlap, one
computing while another waits for Redis, instead of all of them in lock-step.

Any other job (the cron jobs) is handed back to arq's own ``run_job`` after undoing the try count
(arq counts it again), so it runs exactly as in a plain arq worker. Cron jobs are queued under
``cron:<name>:<due ms>`` ids (arq's ids for unique ones; non-unique ones add the worker's
``owner``), each recorded first with ``ingest.queue.record_periodic`` so the queue depth metric
leaves them out.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from arq import Retry
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)
from arq.cron import CronJob
from arq.jobs import SerializationError, deserialize_job_raw
from arq.utils import ms_to_datetime, timestamp_ms, to_unix_ms
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ingest.batching import BatchedScript
from ingest.lua import Arg, Script
from ingest.queue import JOB_NAME, record_periodic
from ingest.redis_conn import primary_generation

log = logging.getLogger("worker.runner")

RETRY_KEY_TTL_S = 88400  # as arq
CLAIM_BATCH = 25
FINISH_WITHIN_S = 15.0  # a finish is retried this long: a Sentinel failover takes seconds
ParsedJob = tuple[str, tuple[Any, ...], dict[str, Any], int | None, int]

_CLAIM = Script("""
-- KEYS: 1 queue, then per job: in-progress, job, try counter.
-- ARGV: 1 now ms, 2 in-progress ttl ms, 3 try counter ttl s, 4 most jobs to claim, 5 the
-- worker's owner token (the in-progress value), then the job ids. Returns id, score, body
-- ('' when expired), try for each job claimed.
local now = tonumber(ARGV[1])
local most = tonumber(ARGV[4]) * 4
local out = {}
for i = 6, #ARGV do
  if #out >= most then
    break
  end
  local id = ARGV[i]
  local k = 2 + (i - 6) * 3
  if redis.call('EXISTS', KEYS[k]) == 0 then
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and tonumber(score) <= now then
      redis.call('SET', KEYS[k], ARGV[5], 'PX', ARGV[2])
      local body = redis.call('GET', KEYS[k + 1]) or ''
      local try = redis.call('INCR', KEYS[k + 2])
      redis.call('EXPIRE', KEYS[k + 2], ARGV[3])
      table.insert(out, id)
      table.insert(out, score)
      table.insert(out, body)
      table.insert(out, try)
    end
  end
end
return out
""")

_RELEASE_OWN = Script("""
-- KEYS: in-progress keys. ARGV[1] the worker's owner token. Deletes those the token holds.
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
""")

_FINISH = """
-- KEYS: 1 queue, 2 abort set, 3 in-progress, 4 job, 5 try counter.
-- ARGV: 1 job id, 2 'done' (finished: success or failure), 'retry' (re-queue with a delay of
-- ARGV[3] ms added to its score) or 'release' (cancelled: another worker may run it).
if ARGV[2] == 'done' then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  if ARGV[2] == 'retry' and tonumber(ARGV[3]) > 0 then
    redis.call('ZINCRBY', KEYS[1], ARGV[3], ARGV[1])
  end
  redis.call('DEL', KEYS[3])
end
return 1
"""


class AlertWorker(Worker):
    """arq ``Worker`` that claims, runs and finishes ``process_alert`` jobs in batches."""

    def __init__(
        self, *args: Any, claim_batch: int = CLAIM_BATCH, owner: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.claim_batch = claim_batch
        self.owner = owner or secrets.token_hex(8)
        self._seen_generation: int | None = None
        self._finish_script: BatchedScript | None = None
        self._pick_lock = asyncio.Lock()
        self._more_queued = False  # the last read saw more jobs than free slots
        self._refilling = False
        self._refill_task: asyncio.Task[None] | None = None
        if self.burst and self.max_burst_jobs >= 0:
            raise ValueError("AlertWorker does not support max_burst_jobs")

    @property
    def _finisher(self) -> BatchedScript:
        if self._finish_script is None:
            self._finish_script = BatchedScript(self.pool, _FINISH)
        return self._finish_script

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        async with self._pick_lock:
            if not self.allow_pick_jobs:  # stopping: a refill under way claims nothing more
                return
            generation = primary_generation(self.pool)
            if generation != self._seen_generation:
                await self._release_own_claims()
                self._seen_generation = generation
            free = min(self.max_jobs - self.job_counter, self.claim_batch)
            if free <= 0:
                return
            # our own jobs stay queued until finished: read past them
            fresh = [j for j in (b.decode() for b in job_ids) if j not in self.tasks]
            claimed = await self._claim(fresh, free) if fresh else []
            # refill early only while claims succeed and more wait; else the poll loop goes on
            self._more_queued = bool(claimed) and (
                len(job_ids) >= self.queue_read_limit or len(fresh) > free
            )
            for job_id, score, body, job_try in claimed:
                job = _alert_job(body, self.job_deserializer)
                if job is None:
                    coro = self._run_by_arq(job_id, score)
                else:
                    coro = self._run_alert(job_id, score, job, job_try)
                # as arq: the job slot is taken until the task is done
                await self.sem.acquire()
                self.job_counter += 1
                task = self.loop.create_task(coro)
                task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
                self.tasks[job_id] = task

    async def run_cron(self, n: datetime, delay: float, num_windows: int = 2) -> None:
        """Queue the cron jobs due before ``n`` + ``num_windows`` x ``delay`` (as arq does), each
        under a ``cron:`` id recorded beside the queue first (see ``ingest.queue``)."""
        horizon = n + timedelta(seconds=delay * num_windows)
        due: list[tuple[CronJob, str, datetime]] = []
        for job in self.cron_jobs:
            if job.next_run is None:
                if not job.run_at_startup:
                    job.calculate_next(n)
                    continue
                job.next_run = n
            if job.next_run < horizon:
                at = job.next_run
                job_id = job.job_id or f"{job.name}:{to_unix_ms(at)}"
                due.append((job, job_id if job.unique else f"{job_id}:{self.owner}", at))
                job.calculate_next(at)
        if not due:
            return
        await record_periodic(self.pool, self.queue_name, [job_id for _, job_id, _ in due])
        now = datetime.now(tz=self.timezone)
        await asyncio.gather(
            *(
                self.pool.enqueue_job(
                    job.name,
                    _job_id=job_id,
                    _queue_name=self.queue_name,
                    _defer_until=at if at > now else None,
                )
                for job, job_id, at in due
            )
        )

    async def stop_picking(self) -> None:
        """Claim no more jobs; returns once a claim under way has ended (its jobs are tasks)."""
        self.allow_pick_jobs = False
        async with self._pick_lock:
            pass

    async def _release_own_claims(self) -> None:
        """At start and after a change of primary: free the in-progress marks this worker holds
        for jobs it is not running, so they are claimed again at once.

        A claim whose answer was lost (the primary died after running it, and it had reached
        the replica) would otherwise hold its job for arq's ``job_timeout + 10`` s. A restarted
        arq loop (same ``owner``) runs nothing yet, so every mark it holds is such a one."""
        queued = await self.pool.zrangebyscore(
            self.queue_name, min=float("-inf"), max=timestamp_ms(), start=0, num=1000
        )
        marks: list[Arg] = [
            in_progress_key_prefix + job_id
            for job_id in (raw.decode() for raw in queued)
            if job_id not in self.tasks
        ]
        if marks and (freed := await _RELEASE_OWN(self.pool, marks, [self.owner])):
            log.warning("released claims lost in a redis failover", extra={"jobs": freed})

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._maybe_refill()

    def _maybe_refill(self) -> None:
        if (
            self._more_queued
            and not self._refilling
            and self.allow_pick_jobs
            and self.job_counter < self.max_jobs
        ):
            self._refilling = True
            self._refill_task = self.loop.create_task(self._refill())

    async def _refill(self) -> None:
        """A slot freed while more jobs wait: take them now, not at the next poll."""
        try:
            job_ids = await self.pool.zrangebyscore(
                self.queue_name,
                min=float("-inf"),
                max=timestamp_ms(),
                start=self._queue_read_offset,
                num=self.queue_read_limit,
            )
            await self.start_jobs(job_ids)
        except Exception as exc:  # the poll loop picks the jobs up instead
            log.warning("refill failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            self._more_queued = False
        finally:
            self._refilling = False
        self._maybe_refill()

    async def _claim(self, job_ids: list[str], most: int) -> list[tuple[str, int, bytes, int]]:
        """Claim up to ``most`` of ``job_ids``, in order, skipping those it cannot claim."""
        keys: list[Arg] = [self.queue_name]
        for job_id in job_ids:
            keys += [
                in_progress_key_prefix + job_id,
                job_key_prefix + job_id,
                retry_key_prefix + job_id,
            ]
        args: list[Arg] = [
            timestamp_ms(),
            int(self.in_progress_timeout_s * 1000),
            RETRY_KEY_TTL_S,
            most,
            self.owner,
            *job_ids,
        ]
        flat = await _CLAIM(self.pool, keys, args)
        return [
            (flat[i].decode(), int(float(flat[i + 1])), flat[i + 2], int(flat[i + 3]))
            for i in range(0, len(flat), 4)
        ]

    async def _run_by_arq(self, job_id: str, score: int) -> None:
        """A job that is not an alert: arq runs it (and counts its try again, so undo ours)."""
        await self.pool.decr(retry_key_prefix + job_id)
        await self.run_job(job_id, score)

    async def _finish(self, job_id: str, how: str, generation: int, delay_ms: int = 0) -> None:
        """Finish the job; retried through a Redis outage or failover for ``FINISH_WITHIN_S``.

        A job that began on a primary that is gone may have written to it after the replica was
        promoted (asynchronous replication): such a job is not marked done but released, so it
        runs again on the new primary, where the pipeline's idempotence on the alert id makes the
        second run add what was lost and nothing twice.
        """
        keys: list[Arg] = [
            self.queue_name,
            abort_jobs_ss,
            in_progress_key_prefix + job_id,
            job_key_prefix + job_id,
            retry_key_prefix + job_id,
        ]
        # a job released at shutdown is not worth waiting for: its mark expires by itself
        deadline = self.loop.time() + (FINISH_WITHIN_S if how != "release" else 0.0)
        delay = 0.1
        while True:
            if how == "done" and primary_generation(self.pool) != generation:
                log.info("redis primary changed during the job; running it again",
                            extra={"job_id": job_id})  # fmt: skip
                how = "release"
            try:
                await asyncio.shield(self._finisher(keys, [job_id, how, delay_ms]))
                return
            except (RedisConnectionError, RedisTimeoutError, OSError):
                if self.loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _run_alert(self, job_id: str, score: int, job: ParsedJob, job_try: int) -> None:
        _, args, kwargs, enqueue_try, enqueue_ms = job
        if enqueue_try and enqueue_try > job_try:
            job_try = enqueue_try
            await self.pool.setex(retry_key_prefix + job_id, RETRY_KEY_TTL_S, str(job_try))
        generation = primary_generation(self.pool)
        function = self.functions[JOB_NAME]
        max_tries = self.max_tries if function.max_tries is None else function.max_tries
        if job_try > max_tries:
            log.warning("job max tries exceeded", extra={"job_id": job_id, "job_try": job_try})
            self.jobs_failed += 1
            return await self._finish(job_id, "done", generation)
        ctx = {
            **self.ctx,
            "job_id": job_id,
            "job_try": job_try,
            "enqueue_time": ms_to_datetime(enqueue_ms),
            "score": score,
        }
        timeout_s = self.job_timeout_s if function.timeout_s is None else function.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await function.coroutine(ctx, *args, **kwargs)
        except Retry as exc:
            delay = exc.defer_score + (timestamp_ms() - score) if exc.defer_score else 0
            self.jobs_retried += 1
            await self._finish(job_id, "retry", generation, delay)
        except asyncio.CancelledError:
            self.jobs_retried += 1  # as arq: released, run again by a worker later
            await self._finish(job_id, "release", generation)
        except Exception:
            log.exception("job failed", extra={"job_id": job_id, "job_try": job_try})
            self.jobs_failed += 1
            await self._finish(job_id, "done", generation)
        else:
            self.jobs_complete += 1
            await self._finish(job_id, "done", generation)


def _alert_job(body: bytes, deserializer: Any) -> ParsedJob | None:
    """The parsed job when it is an alert job; None when arq should run (or report) it."""
    if not body:
        return None  # expired: arq reports and finishes it
    try:
        job: ParsedJob = deserialize_job_raw(body, deserializer=deserializer)
    except SerializationError:
        return None
    return job if job[0] == JOB_NAME else None


__all__ = ["AlertWorker"]
