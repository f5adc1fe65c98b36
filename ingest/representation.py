"""The public API's objects as JSON-ready dicts: an alert group and an alert.

One home for the shapes, outside the HTTP layer: the API answers with them and the worker puts
the same group object into outgoing webhook payloads (``alert_group``), so a webhook receiver sees
exactly what a GET of the group answers.
"""

from __future__ import annotations

from typing import Any

from ingest.domain.group_filter import group_labels, group_state, is_silenced, number, started_at
from ingest.settings import Settings
from ingest.timefmt import iso


def alert_brief(alert: dict[str, Any]) -> dict[str, Any]:
    """The public API's alert object: ``id``, ``alert_group_id``, ``created_at``, ``payload``."""
    received = alert.get("received_at")
    if received is None:
        received = float(alert.get("created_at") or 0)
    return {
        "id": alert["id"],
        "alert_group_id": alert.get("group_id"),
        "created_at": iso(float(received)),
        "payload": alert.get("payload"),
    }


def alert_full(alert: dict[str, Any]) -> dict[str, Any]:
    trace = dict(alert.get("trace") or {})
    trace["group"] = {"id": alert.get("group_id"), "result": alert.get("result")}
    return {**alert_brief(alert), "trace": trace}


def actor_name(value: str | None) -> str | None:
    """Stored actor (``source`` or a token's name) as shown: null for the alert source."""
    return None if not value or value == "source" else value


def serialize_group(
    group: dict[str, str],
    last_alert: dict[str, Any] | None,
    live_routes: set[str],
    settings: Settings,
    now: float,
) -> dict[str, Any]:
    route_id = group.get("route_id") or None
    silenced = is_silenced(group, now)
    return {
        "id": group["id"],
        "integration_id": group.get("integration_id") or None,
        "team_id": group.get("team_id") or None,
        # a maintenance group's route is its maintenance integration's, never stored as a route
        "route_id": route_id if route_id in live_routes or group.get("maintenance_of") else None,
        "alerts_count": int(group.get("alerts_count") or 0),
        "state": group_state(group, now),
        "created_at": iso(started_at(group) or 0.0),
        "resolved_at": iso(number(group, "resolved_at")),
        "resolved_by": actor_name(group.get("resolved_by")),
        "acknowledged_at": iso(number(group, "acknowledged_at")),
        "acknowledged_by": actor_name(group.get("acknowledged_by")),
        "labels": [
            {"key": {"id": k, "name": k}, "value": {"id": v, "name": v}}
            for k, v in group_labels(group)
        ],
        "title": group.get("title") or None,
        "permalinks": {
            "slack": None,
            "slack_app": None,
            "telegram": None,
            "web": f"{settings.link_base}/console/groups/{group['id']}",
        },
        "silenced_at": iso(number(group, "silenced_at")) if silenced else None,
        "last_alert": alert_brief(last_alert) if last_alert is not None else None,
        "silenced_until": iso(number(group, "silenced_until")) if silenced else None,
    }
