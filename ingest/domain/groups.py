"""Operations on alert groups and maintenance windows, as the API and the worker perform them.

Each operation changes state through ``ingest.store`` (atomic scripts), then sends the stream
events it owes (``ingest.events``). Rules that hold whoever asks:

- A user action (``act``) records the actor in ``acknowledged_by``/``resolved_by`` and sends its
  event with ``data.actor`` the actor's name and ``data.escalate`` true only for the actions that
  restart escalation (unacknowledge, unresolve, unsilence) on a route with a chain.
- Resolving a maintenance group reaches every group attached to it (each resolved atomically, each
  with its own event), and ends the integration's maintenance.
- Ending maintenance (``end_maintenance``: a user's stop, or the window's end) clears the
  integration's maintenance fields, which also drops it from ``MAINTENANCE_ENDS`` (see
  ``ingest.store.integrations.save``), then resolves the maintenance group and its attached groups.

Callers that edit an integration hold the organization's integrations lock (``store.locks``).
"""

from __future__ import annotations

import time
from typing import Any, Literal, get_args

from redis.asyncio import Redis

from ingest import ids
from ingest.events import send_action_event
from ingest.models import MAINTENANCE_MODES, Integration, MaintenanceMode
from ingest.store import groups as store
from ingest.store import integrations as integrations_store
from ingest.store import keys
from ingest.store import maintenance as maintenance_store
from ingest.store.group_actions import GroupActions, Outcome
from ingest.store.maintenance import MaintenanceGroup
from ingest.timefmt import iso

Action = Literal["acknowledge", "unacknowledge", "resolve", "unresolve", "silence", "unsilence"]
ACTIONS: tuple[Action, ...] = get_args(Action)
EVENT_TYPES: dict[Action, str] = {
    "acknowledge": "alert_group_acknowledged",
    "unacknowledge": "alert_group_unacknowledged",
    "resolve": "alert_group_resolved",
    "unresolve": "alert_group_unresolved",
    "silence": "alert_group_silenced",
    "unsilence": "alert_group_unsilenced",
}
# Escalation starts again after these; the others stop it (or leave it stopped).
RESTARTS_ESCALATION: tuple[Action, ...] = ("unacknowledge", "unresolve", "unsilence")


async def action_event_data(
    redis: Redis, group: dict[str, str], action: Action, actor: str
) -> dict[str, Any]:
    """The ``data`` of a user action's event: the group's route, its chain, whether to escalate."""
    route_id = group.get("route_id")
    route = await integrations_store.get_route(redis, route_id) if route_id else None
    chain = route.escalation_chain_id if route is not None else None
    return {
        "route_id": route.id if route is not None else None,
        "escalation_chain_id": chain,
        "escalate": action in RESTARTS_ESCALATION and chain is not None,
        "actor": actor,
    }


async def act(
    redis: Redis,
    group: dict[str, str],
    action: Action,
    actor: str,
    now: float,
    silenced_until: float | None = None,
) -> Outcome:
    """Apply ``action`` atomically; when it was applied, send its event and follow its effects."""
    actions = GroupActions(redis)
    outcome = await actions.act(group, action, actor, now, silenced_until)
    if not outcome.ok:
        return outcome
    data = await action_event_data(redis, group, action, actor)
    if action == "silence":
        data["silenced_until"] = iso(silenced_until)
    if action == "unresolve":
        data["reopened"] = outcome.detail == "reopened"
    await send_action_event(redis, EVENT_TYPES[action], group, data)
    if outcome.detail == "ended_maintenance":
        integration = await integrations_store.load(redis, store.maintained_integration_id(group))
        if integration is not None and integration.maintenance_mode is not None:
            await clear_maintenance(redis, integration)
    if action == "resolve" and group.get("is_maintenance") == "1":
        await _resolve_attached(redis, actions, group["id"], actor, now)
    return outcome


async def wipe(redis: Redis, group: dict[str, str], actor: str, now: float) -> Outcome:
    """Resolve (when open) and wipe the group; a resolve sends its event, marked ``wiped``."""
    outcome = await GroupActions(redis).wipe(group, actor, now)
    if outcome.ok and outcome.detail == "resolved":
        data = {**await action_event_data(redis, group, "resolve", actor), "wiped": True}
        await send_action_event(redis, EVENT_TYPES["resolve"], group, data)
    return outcome


async def delete(redis: Redis, group: dict[str, str]) -> bool:
    """Remove the group, its alerts and its index entries (no event)."""
    return await GroupActions(redis).delete(group)


async def _resolve(
    redis: Redis,
    actions: GroupActions,
    group: dict[str, str],
    actor: str,
    now: float,
    via_root: str = "",
) -> None:
    if (await actions.act(group, "resolve", actor, now, via_root=via_root)).ok:
        data = await action_event_data(redis, group, "resolve", actor)
        await send_action_event(redis, EVENT_TYPES["resolve"], group, data)


async def _resolve_attached(
    redis: Redis, actions: GroupActions, root_id: str, actor: str, now: float
) -> None:
    """A maintenance group's resolve reaches the groups attached to it (each atomically)."""
    for child_id in await store.attached_group_ids(redis, root_id):
        child = await store.get_group(redis, child_id)
        if child is not None:
            await _resolve(redis, actions, child, actor, now, via_root=root_id)


def _mode(value: str) -> MaintenanceMode:
    for mode in MAINTENANCE_MODES:
        if mode == value:
            return mode
    raise ValueError(f"unknown maintenance mode {value!r}")


def humanize_seconds(seconds: int) -> str:
    """A duration as a person says it, rounded down: ``100`` is "a minute", ``7300`` "2 hours"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            if count == 1:
                return f"an {unit}" if unit == "hour" else f"a {unit}"
            return f"{count} {unit}s"
    return "a second" if seconds == 1 else f"{seconds} seconds"


def _maintenance_group(
    integration: Integration, duration: int, actor: str, ids_: list[str]
) -> MaintenanceGroup:
    name = integration.name
    group_id, maintenance_integration_id, route_id, alert_id = ids_
    return MaintenanceGroup(
        group_id=group_id,
        maintenance_integration_id=maintenance_integration_id,
        route_id=route_id,
        alert_id=alert_id,
        # Grafana OnCall's two titles: the group's with the seconds, the alert's in words
        title=f"Maintenance of {name} for {duration}",
        payload={
            "title": f"Maintenance of {name} for {humanize_seconds(duration)}",
            # OnCall's words, with the token's name where it names the user
            "message": (
                f"Initiated by {actor}. During this time all alerts from integration will be"
                " collected here without escalations"
            ),
        },
        trace={
            "source": "maintenance",
            "maintenance_of": integration.id,
            "mode": "maintenance",
            "duration_seconds": duration,
            "actor": actor,
        },
    )


async def start_maintenance(
    redis: Redis, integration: Integration, mode: str, duration: int, now: float, actor: str
) -> None:
    """Put the integration in ``mode`` for ``duration`` seconds (whole seconds from now). A window
    still recorded (ended, not yet closed by the worker) is ended first.

    Only ``maintenance`` mode opens a maintenance group (with one alert, ``ingest.store.
    maintenance``), as OnCall does: in ``debug`` mode alerts are grouped as usual, so there is
    nothing to collect them under, and the window is ended by ``maintenance_stop`` or its end.
    """
    if integration.maintenance_mode is not None:
        await end_maintenance(redis, integration, actor)
    checked = _mode(mode)
    integration.maintenance_mode = checked
    integration.maintenance_started_at = float(int(now))
    integration.maintenance_end_at = float(int(now) + duration)
    if checked == "debug":
        await integrations_store.save(redis, integration)
        return
    new_ids = [
        ids.public_id("I"),
        await integrations_store.reserve_integration_id(redis),
        ids.public_id("R"),
        ids.alert_id(),
    ]
    group = _maintenance_group(integration, duration, actor, new_ids)
    await maintenance_store.open_window(redis, integration, group, now)


async def clear_maintenance(redis: Redis, integration: Integration) -> None:
    """Clear the integration's maintenance fields (and so its ``MAINTENANCE_ENDS`` entry)."""
    integration.maintenance_mode = None
    integration.maintenance_started_at = None
    integration.maintenance_end_at = None
    await integrations_store.save(redis, integration)


async def end_maintenance(redis: Redis, integration: Integration, actor: str) -> None:
    """Stop maintenance: clear it, resolve the maintenance group and every group attached to it."""
    await clear_maintenance(redis, integration)
    raw = await redis.get(keys.maintenance_group(integration.id))
    group = await store.get_group(redis, raw.decode()) if raw is not None else None
    if group is None:
        return
    actions = GroupActions(redis)
    now = time.time()
    await _resolve(redis, actions, group, actor, now)
    await _resolve_attached(redis, actions, group["id"], actor, now)
