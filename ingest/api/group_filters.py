"""Parsing the list filters of ``/api/v1/alert_groups/`` (see ``ingest.domain.group_filter``).

``state`` takes only OnCall's four words: ``firing``, the word the group object itself shows, is a
400 as in OnCall (a client that relied on it here would break there), and so is the error's
shape: ``{"state": "<message>"}``, a plain string where other field errors are lists.

Filters (all combine with AND; an empty value is no filter): ``id``, ``integration_id``,
``route_id``, ``team_id`` (``null`` = no team), ``state`` (``new``, ``acknowledged``,
``resolved`` or ``silenced``, case-insensitive), ``started_at=START_END`` (naive UTC
``YYYY-MM-DDTHH:MM:SS``, both bounds inclusive) and repeatable ``label=key:value`` (a value that
does not split into exactly two parts on ``:`` is ignored).
"""

from __future__ import annotations

from datetime import UTC, datetime

from multidict import MultiMapping

from ingest.api.errors import bad_request, field_errors
from ingest.domain.group_filter import STATE_FILTERS, GroupFilter

STATE_MESSAGE = "Must be one of the following: new, acknowledged, resolved, silenced"
RANGE_FORMAT = "%Y-%m-%dT%H:%M:%S"


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
        wanted = state.lower()
        if wanted not in STATE_FILTERS:
            raise field_errors({"state": STATE_MESSAGE})
        out.state = wanted
    started = query.get("started_at")
    if started:
        out.started = _parse_range(started)
    for selector in query.getall("label", []):
        parts = selector.split(":")
        if len(parts) == 2:
            out.labels.append((parts[0], parts[1]))
    return out
