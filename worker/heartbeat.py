"""Heartbeat expiry: a periodic job that opens and resolves "heartbeat expired" alert groups.

An integration's heartbeat link records the time of each heartbeat (``ai:heartbeats``). Every few
seconds one worker (arq's unique cron) compares each integration's last heartbeat with its
``heartbeat_timeout`` (default 600 s): when overdue it adds an alert to the integration's heartbeat
group (grouping key ``heartbeat:<integration id>``, default route), which opens it; when heartbeats
resume it adds a resolving alert, which resolves it. Events are sent like any alert's, with
titles and messages written here (the integration's templates are for its payloads, not ours).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ingest import ids
from ingest.queue import AlertJob
from ingest.store import keys
from ingest.store.aio import aw
from ingest.timefmt import iso
from templates_engine import ChannelRendering, RenderedChannel
from worker import metrics
from worker.commit import alert_doc, commit_alert
from worker.config_cache import Config
from worker.deps import DEPS, Deps
from worker.events import event_data, template_channels
from worker.grouping import Commit, Placement


def heartbeat_grouping_id(integration_id: str) -> str:
    return hashlib.md5(f"heartbeat:{integration_id}".encode()).hexdigest()


async def report(deps: Deps, config: Config, last: float, expired: bool) -> str:
    """Add the expired (or restored) alert to the heartbeat group; returns the group id.

    Returns "" when the integration was deleted meanwhile.
    """
    integration = config.integration
    assert integration is not None
    now = time.time()
    state = "expired" if expired else "restored"
    payload: dict[str, Any] = {
        "heartbeat": state,
        "integration_id": integration.id,
        "last_heartbeat_at": iso(last),
        "timeout_seconds": integration.heartbeat_timeout,
    }
    job = AlertJob(ids.alert_id(), integration.id, now, payload)
    grouping_id = heartbeat_grouping_id(integration.id)

    async def build(config: Config) -> Commit:
        integration = config.integration
        assert integration is not None
        route = config.routes[-1]
        trace = {"source": "heartbeat", "grouping_key": f"heartbeat:{integration.id}",
                 "grouping_id": grouping_id, "resolve_signal": not expired,
                 "route": {"route_id": route.id, "tried": []}}  # fmt: skip
        return Commit(
            alert_id=job.alert_id,
            place=Placement.of(integration, route),
            grouping_id=grouping_id,
            alert_doc=alert_doc(job, trace),
            now=now,
            received_at=now,
            title=f"Heartbeat expired: {integration.name}",
            resolve=not expired,
        )

    done = await commit_alert(deps, integration.id, build)
    if done is None:
        return ""
    integration = done.config.integration
    assert integration is not None
    route = done.config.routes[-1]
    title = f"Heartbeat {state}: {integration.name}"
    message = (
        f"No heartbeat from {integration.name} since {iso(last)} "
        f"(timeout {integration.heartbeat_timeout} s)."
        if expired
        else f"Heartbeats from {integration.name} resumed at {iso(last)}."
    )
    rendered = RenderedChannel(title, message, None)
    rendering = ChannelRendering({name: rendered for name in template_channels(route)})
    data = event_data(route, None, "heartbeat", rendering)
    group = done.group
    await deps.events.send_for_alert(
        job.alert_id, group.group_id, integration.id, integration.org_id, group.events, data
    )
    return group.group_id


async def check_heartbeats(ctx: dict[str, Any]) -> None:
    deps: Deps = ctx[DEPS]
    redis = deps.redis
    now = time.time()
    entries: list[tuple[bytes, float]] = await redis.zrange(keys.HEARTBEATS, 0, -1, withscores=True)
    if entries:
        metrics.HEARTBEAT_LAST.set(max(score for _, score in entries))
    expired = {m.decode() for m in await aw(redis.smembers(keys.HEARTBEAT_EXPIRED))}
    for member, last in entries:
        integration_id = member.decode()
        deps.cache.forget(integration_id)  # read the current timeout, not a cached one
        config = await deps.cache.get(integration_id)
        integration = config.integration
        if integration is None or integration.deleted_at is not None:
            await redis.zrem(keys.HEARTBEATS, integration_id)
            await aw(redis.srem(keys.HEARTBEAT_EXPIRED, integration_id))
            continue
        overdue = now - last > integration.heartbeat_timeout
        if overdue and integration_id not in expired:
            await report(deps, config, last, expired=True)
            await aw(redis.sadd(keys.HEARTBEAT_EXPIRED, integration_id))
        elif not overdue and integration_id in expired:
            await report(deps, config, last, expired=False)
            await aw(redis.srem(keys.HEARTBEAT_EXPIRED, integration_id))
    metrics.HEARTBEATS_EXPIRED.set(int(await aw(redis.scard(keys.HEARTBEAT_EXPIRED))))
