"""Outgoing webhook delivery, run inside every worker process (more workers, more delivery).

- ``dispatch``: one worker at a time reads the event stream and fans each event out into a
  *lane* per (webhook, alert group) that it fires (``lanes``).
- ``deliver``: every worker claims due lanes and sends their heads in order, with timeouts,
  retries with backoff and jitter, dead-lettering, a circuit breaker per webhook (``breaker``)
  and a connection limit per destination.
- ``connector``: the SSRF guard at connect time; ``request`` builds the request (templates,
  headers, body, signature); ``payload`` the event payload and template context.

``WebhookService(redis, settings)`` wires them; ``start()`` and ``stop()`` bound its lifetime.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from ingest.settings import Settings
from worker.shutdown import cancel_and_wait
from worker.webhooks.deliver import Deliverer, Policy, new_session
from worker.webhooks.dispatch import Dispatcher, WebhookCache
from worker.webhooks.lanes import Lanes

STOP_WITHIN_S = 2.0  # a task that outlives this is left to asyncio.run's own cleanup
LANE_LEASE_S = 15.0  # longer than one delivery can take (10 s total timeout + margin)


class WebhookService:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        policy: Policy | None = None,
        lease_s: float = LANE_LEASE_S,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.policy = policy or Policy()
        self.lanes = Lanes(redis, lease_s)
        self.cache = WebhookCache(redis)
        self._tasks: list[asyncio.Task[None]] = []
        self.deliverer: Deliverer | None = None

    async def start(self) -> None:
        session = new_session(self.settings.webhook_allowed_networks, self.policy)
        self.deliverer = Deliverer(
            self.redis, self.settings, self.lanes, self.cache, session, self.policy
        )
        dispatcher = Dispatcher(self.redis, self.lanes, self.cache, self.deliverer.wake.set)
        self._tasks = [
            asyncio.create_task(dispatcher.run(), name="webhook-dispatch"),
            asyncio.create_task(self.deliverer.run(), name="webhook-deliver"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks, STOP_WITHIN_S)
        if self.deliverer is not None:
            await self.deliverer.stop()
            await self.deliverer.session.close()
