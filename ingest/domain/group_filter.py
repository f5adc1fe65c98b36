"""Alert-group state derivation and the filter of the alert-group lists (what a list asks for).

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

import orjson

STATE_FILTERS = ("new", "acknowledged", "resolved", "silenced")
ANY_TEAM = "\0any"


def number(group: dict[str, str], name: str) -> float | None:
    raw = group.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def started_at(group: dict[str, str]) -> float | None:
    """When the group's first alert was received (its place in every list)."""
    started = number(group, "started_ms")
    return started / 1000 if started is not None else number(group, "created_at")


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

    @property
    def index_state(self) -> str | None:
        """The state as indexes name it (``new`` is ``firing``)."""
        return None if self.state is None else ("firing" if self.state == "new" else self.state)

    @property
    def scans(self) -> bool:
        """Whether a filter no index answers is set (team, labels): such lists scan."""
        return self.team_id != ANY_TEAM or bool(self.labels)

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
            created = started_at(group)
            if created is None or not self.started[0] <= created <= self.started[1]:
                return False
        have = set(group_labels(group))
        return all(pair in have for pair in self.labels)


def _state_matches(wanted: str, state: str) -> bool:
    return state == ("firing" if wanted == "new" else wanted)
