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

import orjson

from ingest import ids
from ingest.store import keys
from ingest.store.aio import aw
from ingest.timefmt import iso
from worker import metrics
from worker.config_cache import Config
from worker.pipeline import DEPS, MAX_STALE_RETRIES, Deps, enabled_channels


def heartbeat_grouping_id(integration_id: str) -> str:
    return hashlib.md5(f"heartbeat:{integration_id}".encode()).hexdigest()


async def report(deps: Deps, config: Config, last: float, expired: bool) -> str:
    """Add the expired (or restored) alert to the heartbeat group; returns the group id.

    Returns "" when the integration was deleted meanwhile.
    """
    integration = config.integration
    assert integration is not None
    route = config.routes[-1]
    alert_id = ids.alert_id()
    now = time.time()
    state = "expired" if expired else "restored"
    title = f"Heartbeat {state}: {integration.name}"
    message = (
        f"No heartbeat from {integration.name} since {iso(last)} "
        f"(timeout {integration.heartbeat_timeout} s)."
        if expired
        else f"Heartbeats from {integration.name} resumed at {iso(last)}."
    )
    payload: dict[str, Any] = {
        "heartbeat": state,
        "integration_id": integration.id,
        "last_heartbeat_at": iso(last),
        "timeout_seconds": integration.heartbeat_timeout,
    }
    grouping_id = heartbeat_grouping_id(integration.id)
    trace = {"source": "heartbeat", "grouping_key": f"heartbeat:{integration.id}",
             "grouping_id": grouping_id, "resolve_signal": not expired,
             "route": {"route_id": route.id, "tried": []}}  # fmt: skip
    doc = orjson.dumps(
        {"id": alert_id, "integration_id": integration.id, "received_at": now,
         "payload": payload, "trace": trace}
    )  # fmt: skip
    for _ in range(MAX_STALE_RETRIES):
        group = await deps.grouper.commit(
            alert_id=alert_id,
            new_group_id=ids.public_id("I"),
            integration_id=integration.id,
            route_id=route.id,
            grouping_id=grouping_id,
            own_group=False,
            resolve=not expired,
            acknowledge=False,
            now=now,
            received_at=now,
            alert_doc=doc,
            config_version=config.version,
            max_alerts=deps.settings.max_alerts_per_group,
            maintenance_mode=None,
            new_maintenance_group_id="",
            group_fields={
                "org_id": integration.org_id,
                "integration_id": integration.id,
                "team_id": integration.team_id or "",
                "route_id": route.id,
                "grouping_id": grouping_id,
                "title": f"Heartbeat expired: {integration.name}",
                "labels": "[]",
            },
        )
        if group.result != "stale":
            break
        deps.cache.forget(integration.id)
        config = await deps.cache.get(integration.id)
        if config.integration is None or config.integration.deleted_at is not None:
            return ""
        integration, route = config.integration, config.routes[-1]
    else:
        raise RuntimeError("integration configuration changed during every attempt")
    channels = {
        name: {**dest, "title": title, "message": message, "image_url": None}
        for name, dest in {"web": {}, **enabled_channels(route)}.items()
    }
    data = {
        "route_id": route.id,
        "escalation_chain_id": route.escalation_chain_id,
        "escalate": route.escalation_chain_id is not None,
        "maintenance_mode": None,
        "actor": "heartbeat",
        "source_link": None,
        "channels": channels,
    }
    await deps.events.send_for_alert(
        alert_id, group.group_id, integration.id, integration.org_id, group.events, data
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
