"""OnCall objects turned into the bodies our public API takes, plus what could not be carried.

The importer validates these bodies with the API's own parsers, so an imported object is held to
exactly the rules of one created through the API. References to escalation chains are given as
the chain's id here; a chain the same run is about to create is referred to by ``PENDING_CHAIN``
until it exists (and validated with that stand-in meanwhile).
"""

from __future__ import annotations

from typing import Any

from ingest.importer.source import SourceIntegration, SourceRoute
from ingest.models import BEHAVIOUR_TEMPLATES, CHANNEL_TEMPLATES, ROUTE_BACKENDS

PENDING_CHAIN = "F-pending-import"
PENDING_INTEGRATION = "C-pending-import"


def _labels(raw: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    """Cloud OnCall's ``labels``/``dynamic_labels`` (the open-source API has none)."""
    value = raw.get(name)
    if isinstance(value, list):
        body[name] = value


def templates_body(source: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Every template we have, OnCall's value or null (null means the type's default in both)."""
    out: dict[str, Any] = {}
    for name in BEHAVIOUR_TEMPLATES:
        out[name] = source.get(name)  # not a string: the API's validation says so
    for channel, attrs in CHANNEL_TEMPLATES.items():
        sent = source.get(channel)
        sent = sent if isinstance(sent, dict) else {}
        out[channel] = {attr: sent.get(attr) for attr in attrs}
    dropped = [
        f"{channel}.{attr}"
        for channel, sent in source.items()
        if channel not in CHANNEL_TEMPLATES and channel not in BEHAVIOUR_TEMPLATES
        and isinstance(sent, dict)
        for attr, value in sent.items()
        if value is not None
    ]  # fmt: skip
    if dropped:
        notes.append(f"templates of channels we do not have, not carried: {', '.join(dropped)}")
    return out


def destinations_body(source: dict[str, Any], notes: list[str], what: str) -> dict[str, Any]:
    """A route's destinations we have (``slack``, ``ROUTE_BACKENDS``); others are noted when set
    (e.g. ``mattermost``)."""
    out: dict[str, Any] = {}
    slack = source.get("slack")
    if isinstance(slack, dict):
        out["slack"] = {k: slack[k] for k in ("channel_id", "enabled") if k in slack}
    for backend in ROUTE_BACKENDS:
        sent = source.get(backend)
        if isinstance(sent, dict):
            out[backend] = {k: sent[k] for k in ("id", "enabled") if k in sent}
    used = [
        name
        for name, sent in source.items()
        if name != "slack" and name not in ROUTE_BACKENDS and isinstance(sent, dict)
        and set(sent) <= {"id", "enabled"} and (sent.get("enabled") or sent.get("id"))
    ]  # fmt: skip
    if used:
        notes.append(f"{what}: notifications to {', '.join(used)} are not carried")
    return out


def integration_body(
    source: SourceIntegration, our_type: str, chain_id: str | None, notes: list[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": our_type,
        "name": source.name,
        "description_short": source.description_short,
        "team_id": source.team_id,
        "templates": templates_body(source.templates, notes),
    }
    default_route = destinations_body(source.default_route, notes, "default route")
    default_route["escalation_chain_id"] = chain_id
    body["default_route"] = default_route
    _labels(source.raw, "labels", body)
    _labels(source.raw, "dynamic_labels", body)
    return body


def route_body(
    source: SourceRoute, integration_id: str, chain_id: str | None, notes: list[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_id": integration_id,
        "routing_type": source.routing_type,
        "routing_regex": source.routing_regex,
        "escalation_chain_id": chain_id,
        **destinations_body(source.raw, notes, "route"),
    }
    if source.routing_type == "labels":
        body["labels"] = source.raw.get("labels")
    return body
