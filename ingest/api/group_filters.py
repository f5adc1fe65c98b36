"""Alert-group state derivation and the list filters of ``/api/v1/alert_groups/``.

State, by priority: ``resolved``, ``acknowledged``, ``silenced`` (a silence whose
``silenced_until`` has passed does not count), else ``firing``. The ``state`` filter takes
``new`` (firing), ``acknowledged``, ``resolved`` or ``silenced``, case-insensitive.

Filters (all combine with AND; an empty value is no filter): ``id``, ``integration_id``,
``route_id``, ``team_id`` (``null`` = no team), ``state``, ``started_at=START_END`` (naive UTC
``YYYY-MM-DDTHH:MM:SS``, both bounds inclusive) and repeatable ``label=key:value`` (a value that
does not split into exactly two parts on ``:`` is ignored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from multidict import MultiMapping

from ingest.api.errors import bad_request, field_errors

STATE_FILTERS = ("new", "acknowledged", "resolved", "silenced")
STATE_MESSAGE = "Must be one of the following: new, acknowledged, resolved, silenced"
RANGE_FORMAT = "%Y-%m-%dT%H:%M:%S"
ANY_TEAM = "\0any"


def number(group: dict[str, str], name: str) -> float | None:
    raw = group.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def is_silenced(group: dict[str, str], now: float) -> bool:
    if not group.get("silenced_at"):
        return False
    until = number(group, "silenced_until")
    return until is None or until > now


def group_state(group: dict[str, str], now: float) -> str:
    if group.get("resolved_at"):
        return "resolved"
    if group.get("acknowledged_at"):
        return "acknowledged"
    if is_silenced(group, now):
        return "silenced"
    return "firing"


def group_labels(group: dict[str, str]) -> list[tuple[str, str]]:
    raw = group.get("labels")
    if not raw:
        return []
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [(str(i["key"]), str(i["value"])) for i in items if isinstance(i, dict)]


@dataclass
class GroupFilter:
    id: str | None = None
    integration_id: str | None = None
    route_id: str | None = None
    team_id: str | None = ANY_TEAM
    state: str | None = None
    started: tuple[float, float] | None = None
    labels: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self == GroupFilter()

    def matches(self, group: dict[str, str], now: float) -> bool:
        checks = (
            (self.id, group.get("id")),
            (self.integration_id, group.get("integration_id")),
            (self.route_id, group.get("route_id")),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in checks):
            return False
        if self.team_id != ANY_TEAM and (group.get("team_id") or None) != self.team_id:
            return False
        if self.state is not None and not _state_matches(self.state, group_state(group, now)):
            return False
        if self.started is not None:
            created = number(group, "created_at")
            if created is None or not self.started[0] <= created <= self.started[1]:
                return False
        have = set(group_labels(group))
        return all(pair in have for pair in self.labels)


def _state_matches(wanted: str, state: str) -> bool:
    return state == ("firing" if wanted == "new" else wanted)


def _parse_range(value: str) -> tuple[float, float]:
    parts = value.split("_")
    if len(parts) != 2:
        raise bad_request("Invalid range value")
    try:
        start, end = (datetime.strptime(p, RANGE_FORMAT).replace(tzinfo=UTC) for p in parts)
    except ValueError:
        raise bad_request("Invalid range value") from None
    if start > end:
        raise bad_request("Invalid range value")
    return start.timestamp(), end.timestamp()


def parse_filter(query: MultiMapping[str]) -> GroupFilter:
    """The filter a list request asks for; 400 for a bad ``state`` or ``started_at``."""
    out = GroupFilter(
        id=query.get("id") or None,
        integration_id=query.get("integration_id") or None,
        route_id=query.get("route_id") or None,
    )
    team = query.get("team_id")
    if team:
        out.team_id = None if team == "null" else team
    state = query.get("state")
    if state:
        if state.lower() not in STATE_FILTERS:
            raise field_errors({"state": [STATE_MESSAGE]})
        out.state = state.lower()
    started = query.get("started_at")
    if started:
        out.started = _parse_range(started)
    for selector in query.getall("label", []):
        parts = selector.split(":")
        if len(parts) == 2:
            out.labels.append((parts[0], parts[1]))
    return out
