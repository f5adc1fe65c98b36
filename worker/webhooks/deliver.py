"""Sending: each worker claims due lanes and delivers their heads, in order, one lane per slot.

Per delivery: look the webhook up (gone or disabled: dropped), ask its circuit breaker, build the
payload (``payload``), prepare the request (``request``), send it through the guarded connector
(``connector``) with a connect timeout of 5 s and a total of 10 s, never following redirects, and
log the attempt in the webhook's responses log. Then:

- 2xx: delivered; the lane moves on to its next item at once.
- connection error, timeout, 408, 429 or 5xx: retried after ``retry_base * 2**(attempt-1)``
  seconds (capped at ``retry_cap``), with full jitter in its upper half, and at least the
  ``Retry-After`` the receiver asked for (capped at the window); the lane waits, taking no slot.
  Past ``retry_window`` (600 s) since the first try, it is dead-lettered (``ai:wh:dead-letters``)
  and the lane moves on.
- anything else (3xx, other 4xx, a template or URL problem, an address the guard refuses):
  failed, not retried.

The delivery id (``X-Alert-Ingest-Delivery``) is fixed when the event is fanned out, so every
retry, and a re-send after a worker died mid-delivery, carries the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ingest.batching import BatchedScript
from ingest.netguard import IPNetwork
from ingest.settings import Settings
from ingest.trace import template_limits
from ingest.webhook import Webhook
from worker.webhooks import metrics
from worker.webhooks.breaker import Breakers
from worker.webhooks.connector import GuardedConnector, RefusedAddress
from worker.webhooks.dispatch import WebhookCache
from worker.webhooks.lanes import Claimed, Lanes, Record
from worker.webhooks.payload import FETCH, build
from worker.webhooks.request import Prepared, Problem, Skip, prepare

log = logging.getLogger("worker.webhooks")
EXCERPT = 4096
RETRYABLE_STATUS = frozenset({408, 429})
SECRET_HEADER_WORDS = ("auth", "token", "secret", "key", "password", "cookie", "signature")
MASK = "****************"


@dataclass(frozen=True)
class Policy:
    """How deliveries are sent and retried (the defaults are the documented ones)."""

    connect_timeout: float = 5.0
    total_timeout: float = 10.0
    retry_base: float = 1.0
    retry_cap: float = 120.0
    retry_window: float = 600.0
    slots: int = 50
    poll_s: float = 0.02


@dataclass
class Attempt:
    """What one send gave: ``status`` (or None), ``content``, ``error``, ``retry_after``."""

    status: int | None
    content: str
    error: str
    duration: float
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        if self.status is None:
            return not self.error.startswith("URL - ")
        return self.status >= 500 or self.status in RETRYABLE_STATUS

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def shown_headers(headers: dict[str, str]) -> str:
    """The sent headers for the log, with anything that may be a secret masked."""
    masked = {
        k: MASK if any(word in k.lower() for word in SECRET_HEADER_WORDS) else v
        for k, v in headers.items()
    }
    return orjson.dumps(masked).decode()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - now)
    return None


def new_session(allowed: tuple[IPNetwork, ...], policy: Policy) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=policy.total_timeout, sock_connect=policy.connect_timeout)
    return aiohttp.ClientSession(
        connector=GuardedConnector(allowed), timeout=timeout, trust_env=False, cookie_jar=None
    )


class Deliverer:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        lanes: Lanes,
        cache: WebhookCache,
        session: aiohttp.ClientSession,
        policy: Policy | None = None,
        breakers: Breakers | None = None,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._lanes = lanes
        self._cache = cache
        self.session = session
        self.policy = policy or Policy()
        self.breakers = breakers or Breakers()
        self._limits = template_limits(settings)
        self._active: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self._retention_s = settings.retention_days * 86400
        self._fetch = BatchedScript(redis, FETCH)

    async def run(self) -> None:
        """Claim due lanes into free slots until cancelled; Redis trouble only pauses."""
        while True:
            free = self.policy.slots - len(self._active)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await self._lanes.claim(free)
                except (RedisError, OSError) as exc:
                    log.warning("webhook delivery paused", extra={"error": repr(exc)})
                    await asyncio.sleep(1.0)
                    continue
            for lane in claimed:
                task = asyncio.create_task(self._work(lane))
                self._active.add(task)
                task.add_done_callback(self._done)
            metrics.BREAKERS_OPEN.set(self.breakers.open_count(time.time()))
            if len(claimed) < free or free <= 0:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.policy.poll_s)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._active.discard(task)
        self.wake.set()

    async def stop(self) -> None:
        for task in list(self._active):
            task.cancel()
        await asyncio.gather(*self._active, return_exceptions=True)

    async def _work(self, lane: Claimed | None) -> None:
        """Deliver the lane's heads one after the other while they succeed or finish."""
        try:
            while lane is not None:
                lane = await self.deliver(lane)
        except (RedisError, OSError) as exc:  # the lease runs out; another try later
            log.warning("webhook lane interrupted", extra={"error": repr(exc)})
        except Exception:  # a bug: logged; the lease runs out and the lane is tried again
            log.exception("webhook delivery failed unexpectedly")

    async def deliver(self, lane: Claimed) -> Claimed | None:
        """Handle the lane's head; returns the lane's next head when we may go on with it."""
        item = lane.item
        event: dict[str, str] = item["event"]
        org_id = event.get("org_id", "")
        webhook = (await self._cache.of_org(org_id)).get(item["webhook_id"])
        if webhook is None:  # created a moment ago? look again before dropping it
            webhook = (await self._cache.of_org(org_id, fresh=True)).get(item["webhook_id"])
        if webhook is None or not webhook.is_webhook_enabled:
            metrics.DELIVERIES.labels("dropped").inc()
            return await self._lanes.settle(lane, "pop")
        now = time.time()
        blocked = self.breakers.blocked_until(webhook.id, now)
        if blocked is not None:
            await self._lanes.settle(lane, "defer", at=blocked)
            return None
        payload = await build(self._fetch, self._settings, webhook, event)
        if payload is None:
            metrics.DELIVERIES.labels("dropped").inc()
            return await self._lanes.settle(lane, "pop")
        item["attempt"] = int(item.get("attempt") or 0) + 1
        item["first_try"] = item.get("first_try") or now
        prepared = prepare(
            webhook,
            payload,
            delivery_id=item["delivery_id"],
            settings=self._settings,
            limits=self._limits,
            now=int(now),
        )
        if isinstance(prepared, Skip):
            metrics.DELIVERIES.labels("skipped").inc()
            return await self._lanes.settle(lane, "pop")
        if isinstance(prepared, Problem):
            attempt = Attempt(None, "", prepared.text(), 0.0)
            outcome = "refused" if prepared.part == "URL" else "failed"
            metrics.DELIVERIES.labels(outcome).inc()
            entry = log_entry(item, payload, prepared, attempt, outcome)
            return await self._lanes.settle(lane, "pop", Record(entry))
        attempt = await self._send(prepared)
        return await self._settle(lane, webhook, item, payload, prepared, attempt)

    async def _settle(
        self,
        lane: Claimed,
        webhook: Webhook,
        item: dict[str, Any],
        payload: dict[str, Any],
        prepared: Prepared,
        attempt: Attempt,
    ) -> Claimed | None:
        now = time.time()
        if attempt.ok:
            self.breakers.success(webhook.id)
            metrics.DELIVERIES.labels("delivered").inc()
            recorded = _stream_seconds(item["event"].get("stream_id", ""))
            if recorded is not None:
                metrics.LATENCY.observe(max(0.0, now - recorded))
            entry = log_entry(item, payload, prepared, attempt, "delivered")
            remember = attempt.content or " "
            record = Record(entry, remember=remember, ttl_s=self._retention_s)
            return await self._lanes.settle(lane, "pop", record)
        if not attempt.retryable:
            if attempt.status is not None:
                self.breakers.success(webhook.id)  # it answered: the endpoint is alive
            outcome = "refused" if attempt.error.startswith("URL - ") else "failed"
            metrics.DELIVERIES.labels(outcome).inc()
            entry = log_entry(item, payload, prepared, attempt, outcome)
            return await self._lanes.settle(lane, "pop", Record(entry))
        self.breakers.failure(webhook.id, now)
        delay = self._delay(int(item["attempt"]), attempt.retry_after)
        if now + delay - float(item["first_try"]) > self.policy.retry_window:
            metrics.DELIVERIES.labels("dead_lettered").inc()
            log.warning(
                "webhook delivery dead-lettered",
                extra={"webhook_id": webhook.id, "delivery_id": item["delivery_id"]},
            )
            entry = log_entry(item, payload, prepared, attempt, "dead_lettered")
            dead = {**item, "error": attempt.error or f"HTTP {attempt.status}", "failed_at": now}
            return await self._lanes.settle(lane, "pop", Record(entry, dead=dead))
        metrics.DELIVERIES.labels("retried").inc()
        metrics.RETRIES.inc()
        entry = log_entry(item, payload, prepared, attempt, "retrying")
        await self._lanes.settle(lane, "retry", Record(entry), at=now + delay, item=item)
        return None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.policy.retry_cap, self.policy.retry_base * 2.0 ** (attempt - 1))
        delay = ceiling * (0.5 + random.random() / 2)  # jitter, not a secret
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.policy.retry_window))
        return delay

    async def _send(self, prepared: Prepared) -> Attempt:
        started = time.perf_counter()
        try:
            async with self.session.request(
                prepared.method,
                prepared.url,
                headers=prepared.headers,
                data=prepared.body,
                allow_redirects=False,
            ) as resp:
                raw = await resp.content.read(EXCERPT + 1)
                text = raw.decode("utf-8", errors="replace")
                status = resp.status
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"), time.time())
        except RefusedAddress as exc:
            return self._timed(Attempt(None, "", f"URL - {exc}", 0.0), started)
        except aiohttp.ClientConnectorError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, RefusedAddress):
                return self._timed(Attempt(None, "", f"URL - {cause}", 0.0), started)
            return self._timed(Attempt(None, "", f"Connection error: {exc}", 0.0), started)
        except aiohttp.InvalidURL as exc:
            return self._timed(Attempt(None, "", f"URL - invalid: {exc}", 0.0), started)
        except TimeoutError:
            return self._timed(Attempt(None, "", "Timeout: no answer in time", 0.0), started)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return self._timed(Attempt(None, "", f"{type(exc).__name__}: {exc}", 0.0), started)
        return self._timed(Attempt(status, excerpt(text), "", 0.0, retry_after), started)

    @staticmethod
    def _timed(attempt: Attempt, started: float) -> Attempt:
        attempt.duration = time.perf_counter() - started
        metrics.REQUEST_DURATION.observe(attempt.duration)
        return attempt


def log_entry(
    item: dict[str, Any],
    payload: dict[str, Any],
    prepared: Prepared | Problem,
    attempt: Attempt,
    outcome: str,
) -> dict[str, Any]:
    """One line of the webhook's responses log (secrets masked, bodies capped)."""
    sent = isinstance(prepared, Prepared)
    body = prepared.body if isinstance(prepared, Prepared) else None
    known = prepared.payload_json if isinstance(prepared, Prepared) else None  # already dumped
    return {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "url": prepared.url if sent or prepared.url else attempt.error,
        "request_trigger": prepared.trigger_output if isinstance(prepared, Prepared) else "",
        "request_headers": shown_headers(prepared.headers) if sent else None,  # type: ignore[union-attr]
        "request_data": excerpt(body.decode(errors="replace")) if body is not None else None,
        "status_code": attempt.status,
        "content": attempt.content or (attempt.error or None),
        "event_data": excerpt((known or orjson.dumps(payload)).decode()),
        "event_type": payload["event"]["type"],
        "delivery_id": item["delivery_id"],
        "attempt": item["attempt"],
        "outcome": outcome,
        "duration_ms": round(attempt.duration * 1000, 3),
        "error": attempt.error or None,
    }


def _stream_seconds(stream_id: str) -> float | None:
    head = stream_id.split("-")[0]
    return int(head) / 1000 if head.isdigit() else None
