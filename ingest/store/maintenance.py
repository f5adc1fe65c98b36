"""The records a maintenance window opens with, written in one transaction.

At ``maintenance_start`` the integration's maintenance fields are saved together with its
maintenance group and that group's one alert, so a client finds the group (and can end the
maintenance by resolving it) as soon as the start is answered. The group belongs to a
maintenance integration of its own (``integration_id`` and ``route_id`` are ids no integration or
route is ever given; ``maintenance_of`` names the integration in maintenance), so that
``?integration_id=`` of the integration lists only its own groups, as in Grafana OnCall.
``keys.maintenance_group`` points at it: the worker attaches the groups the window opens to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.models import Integration
from ingest.store import group_index, integrations, keys


@dataclass(frozen=True)
class MaintenanceGroup:
    group_id: str
    maintenance_integration_id: str
    route_id: str
    alert_id: str
    title: str
    payload: dict[str, Any]
    trace: dict[str, Any]


async def open_window(
    redis: Redis, integration: Integration, group: MaintenanceGroup, now: float
) -> None:
    """Save ``integration`` (its maintenance fields set) and open its maintenance group."""
    received_ms = int(now * 1000)
    doc = {
        "id": group.alert_id,
        "integration_id": group.maintenance_integration_id,
        "received_at": now,
        "payload": group.payload,
        "trace": group.trace,
    }
    fields = {
        "id": group.group_id,
        "org_id": integration.org_id,
        "integration_id": group.maintenance_integration_id,
        "maintenance_of": integration.id,
        "team_id": integration.team_id or "",
        "route_id": group.route_id,
        "grouping_id": "",
        "title": group.title,
        "labels": "[]",
        "created_at": repr(received_ms / 1000),
        "started_ms": received_ms,
        "alerts_count": 1,
        "is_maintenance": 1,
        "first_alert_id": group.alert_id,
        "last_alert_id": group.alert_id,
    }
    async with redis.pipeline(transaction=True) as pipe:
        integrations.queue_save(pipe, integration)
        pipe.hset(keys.group(group.group_id), mapping=fields)
        pipe.zadd(keys.org_groups(integration.org_id), {group.group_id: received_ms})
        pipe.set(keys.maintenance_group(integration.id), group.group_id)
        alert = {"doc": orjson.dumps(doc), "group_id": group.group_id, "created_at": repr(now)}
        pipe.hset(keys.alert(group.alert_id), mapping={**alert, "result": "maintenance"})
        pipe.zadd(keys.group_alerts(group.group_id), {group.alert_id: received_ms})
        pipe.zadd(keys.org_alerts(integration.org_id), {group.alert_id: received_ms})
        group_index.queue_reindex(pipe, [group.group_id], now)
        await pipe.execute()
