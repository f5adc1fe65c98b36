"""What was read from OnCall, as typed records (the shapes of OnCall's public API objects).

Only the fields the import carries are kept. A record without a usable ``id`` (or an integration
without ``type``) is a broken answer and stops the import with :class:`OnCallError`; fields the
import can do without are read leniently (a wrong type counts as absent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ingest.importer.client import NotThere, OnCallClient, OnCallError

# OnCall's link: {BASE_URL}/integrations/v1/{type}/{token}/ (25 characters of [A-Za-z0-9]).
LINK_RE = re.compile(r"/integrations/v1/(?P<type>[A-Za-z0-9_]+)/(?P<token>[^/]+)/?$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9]{16,64}$")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(kind: str, item: dict[str, Any]) -> str:
    value = item.get("id")
    if not isinstance(value, str) or not value:
        raise OnCallError(f"an OnCall {kind} without an id: {str(item)[:200]}")
    return value


@dataclass(frozen=True)
class SourceChain:
    id: str
    name: str
    team_id: str | None


@dataclass(frozen=True)
class SourceRoute:
    id: str
    integration_id: str
    position: int
    is_default: bool
    routing_type: str
    routing_regex: str | None
    escalation_chain_id: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class SourceIntegration:
    id: str
    name: str
    type: str
    link_type: str | None
    token: str | None
    description_short: str | None
    team_id: str | None
    has_heartbeat: bool
    templates: dict[str, Any]
    default_route: dict[str, Any]
    raw: dict[str, Any]


@dataclass(frozen=True)
class SourceWebhook:
    id: str
    name: str
    raw: dict[str, Any]


@dataclass
class Snapshot:
    chains: list[SourceChain] = field(default_factory=list)
    integrations: list[SourceIntegration] = field(default_factory=list)
    routes: dict[str, list[SourceRoute]] = field(default_factory=dict)  # by integration, ordered
    webhooks: list[SourceWebhook] = field(default_factory=list)
    pages: dict[str, int] = field(default_factory=dict)

    def link_prefixes(self) -> list[str]:
        """The paths OnCall's links live under, besides the root (see :func:`link_prefix`)."""
        found = {link_prefix(_str(i.raw.get("link"))) for i in self.integrations}
        return sorted(found - {""})


def parse_chain(item: dict[str, Any]) -> SourceChain:
    chain_id = _id("escalation chain", item)
    return SourceChain(chain_id, _str(item.get("name")) or chain_id, _str(item.get("team_id")))


def parse_link(link: str | None) -> tuple[str | None, str | None]:
    """``(type in the path, token)`` of an OnCall link, or ``(None, None)``."""
    if not link:
        return None, None
    found = LINK_RE.search(link)
    if found is None:
        return None, None
    return found["type"], found["token"]


def link_prefix(link: str | None) -> str:
    """The path before ``/integrations/v1/`` in an OnCall link (``/oncall`` when OnCall's
    ``BASE_URL`` has that path): we serve links at ``/integrations/v1/`` only, so a proxy must
    strip it. ``""`` when there is none (or no link)."""
    if not link or (found := LINK_RE.search(link)) is None:
        return ""
    return urlsplit(link[: found.start()]).path.rstrip("/")


def parse_integration(item: dict[str, Any]) -> SourceIntegration:
    integration_id = _id("integration", item)
    kind = _str(item.get("type"))
    if not kind:
        raise OnCallError(f"OnCall integration {integration_id} has no type")
    link_type, token = parse_link(_str(item.get("link")))
    return SourceIntegration(
        id=integration_id,
        name=_str(item.get("name")) or integration_id,
        type=kind.removeprefix("legacy_"),
        link_type=link_type,
        token=token,
        description_short=_str(item.get("description_short")),
        team_id=_str(item.get("team_id")),
        has_heartbeat=isinstance(item.get("heartbeat"), dict),
        templates=_dict(item.get("templates")),
        default_route=_dict(item.get("default_route")),
        raw=item,
    )


def parse_route(item: dict[str, Any]) -> SourceRoute:
    route_id = _id("route", item)
    integration_id = _str(item.get("integration_id"))
    if not integration_id:
        raise OnCallError(f"OnCall route {route_id} has no integration_id")
    position = item.get("position")
    return SourceRoute(
        id=route_id,
        integration_id=integration_id,
        position=position if isinstance(position, int) else 0,
        is_default=item.get("is_the_last_route") is True,
        routing_type=_str(item.get("routing_type")) or "regex",
        routing_regex=_str(item.get("routing_regex")),
        escalation_chain_id=_str(item.get("escalation_chain_id")),
        raw=item,
    )


def parse_webhook(item: dict[str, Any]) -> SourceWebhook:
    webhook_id = _id("webhook", item)
    return SourceWebhook(webhook_id, _str(item.get("name")) or webhook_id, item)


async def read_oncall(client: OnCallClient, progress: Any = None) -> Snapshot:
    """Read escalation chains, integrations, routes and outgoing webhooks (one list each)."""
    snapshot = Snapshot()
    chains = await client.list_all("escalation_chains")
    snapshot.chains = [parse_chain(c) for c in chains]
    if progress:
        progress(f"read {len(chains)} escalation chains")
    integrations = await client.list_all("integrations")
    snapshot.integrations = [parse_integration(i) for i in integrations]
    if progress:
        progress(f"read {len(integrations)} integrations")
    routes = [parse_route(r) for r in await client.list_all("routes")]
    for route in routes:
        snapshot.routes.setdefault(route.integration_id, []).append(route)
    for found in snapshot.routes.values():
        found.sort(key=lambda r: (r.is_default, r.position))
    if progress:
        progress(f"read {len(routes)} routes")
    try:
        webhooks = await client.list_all("webhooks")
    except NotThere:
        webhooks = []  # an OnCall from before outgoing webhooks had a public API
    snapshot.webhooks = [parse_webhook(w) for w in webhooks]
    if progress:
        progress(f"read {len(webhooks)} outgoing webhooks")
    return snapshot
