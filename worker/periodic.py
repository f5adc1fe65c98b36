"""Periodic jobs of the worker (arq cron): heartbeats, maintenance, auto-resolve, retention."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from ingest.metrics import QUEUE_DEPTH
from ingest.queue import alert_queue_depth
from ingest.store import dead_letters, keys
from worker import metrics
from worker.auto_resolve import auto_resolve
from worker.deps import DEPS, Deps
from worker.heartbeat import check_heartbeats
from worker.maintenance import expire_maintenance
from worker.retention import retention


async def sample_gauges(ctx: dict[str, Any]) -> None:
    """Read every gauge's value, then set them together: a scrape sees one sample's values."""
    deps: Deps = ctx[DEPS]
    dead = await dead_letters.size(deps.redis)
    depth = await alert_queue_depth(deps.redis, deps.settings.queue_name)
    expired = await deps.redis.scard(keys.HEARTBEAT_EXPIRED)  # type: ignore[misc]
    metrics.DEAD_LETTERS.set(dead)
    QUEUE_DEPTH.set(depth)
    metrics.HEARTBEATS_EXPIRED.set(int(expired))


def cron_jobs() -> list[CronJob]:
    every_5s = set(range(0, 60, 5))
    return [
        cron(sample_gauges, second=every_5s, run_at_startup=True, unique=False),
        cron(check_heartbeats, second=set(range(0, 60, 10))),
        cron(expire_maintenance, second=set(range(5, 60, 10))),
        cron(auto_resolve, second=every_5s),
        cron(retention, minute=set(range(2, 60, 5)), second=0),
    ]
