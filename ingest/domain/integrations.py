"""Writes of integration configuration, shared by the public API and the OnCall importer.

Both validate a body with ``ingest.domain.integration_input`` / ``ingest.domain.route_input`` and
then change and store records through these functions, so an imported integration or route is
checked and stored exactly like one sent to the API. Callers hold the organization's integrations
lock (``integrations_lock``) around the checks and the writes: name uniqueness holds across api
replicas and importers, and two writers cannot lose each other's update.

A refusal is raised as an ``ingest.domain.errors`` error (``NameTaken``, ``InvalidFields``,
``InvalidPosition``, ``Busy``); the API answers each kind the same way wherever it is raised, and
the importer reports it as a line of its plan.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from ingest import ids
from ingest.domain.errors import Busy, InvalidFields, InvalidPosition, NameTaken
from ingest.domain.integration_input import IntegrationInput
from ingest.domain.route_input import RouteInput
from ingest.models import (
    INTEGRATION_TYPES,
    ROUTE_BACKENDS,
    Integration,
    Label,
    Route,
    default_name,
    merge_templates,
)
from ingest.store import escalation_chains
from ingest.store import integrations as store
from ingest.store.locks import LockBusy, org_lock
from templates_engine import default_dynamic_labels

MISSING = "Object does not exist"


class TokenTaken(Exception):
    """The link token is already used by another integration (``owner``)."""

    def __init__(self, owner: Integration) -> None:
        super().__init__(owner.id)
        self.owner = owner


@asynccontextmanager
async def integrations_lock(redis: Redis, org_id: str) -> AsyncIterator[None]:
    """The organization's integrations write lock; held elsewhere for too long: :class:`Busy`."""
    try:
        async with org_lock(redis, f"integrations:{org_id}"):
            yield
    except LockBusy:
        raise Busy(
            "Another change of this organization's integrations is in progress; retry."
        ) from None


def apply_destinations(route: Route, changes: dict[str, Any]) -> None:
    """Chain and chat destinations (``slack``, ``telegram``, ...) a body asked to change."""
    if "escalation_chain_id" in changes:
        route.escalation_chain_id = changes["escalation_chain_id"]
    if "slack" in changes:
        route.slack = {**route.slack, **changes["slack"]}
    for backend in ROUTE_BACKENDS:
        if backend in changes:
            route.backends[backend] = {**route.backends.get(backend, {}), **changes[backend]}


def apply_integration(integration: Integration, data: IntegrationInput) -> None:
    if data.name is not None:
        integration.name = data.name
    for key, value in data.fields.items():
        setattr(integration, key, value)
    if data.templates is not None:
        integration.templates = merge_templates(integration.templates, data.templates)
    if data.labels is not None:
        integration.labels = data.labels
    if data.dynamic_labels is not None:
        integration.dynamic_labels = data.dynamic_labels


def apply_route(route: Route, data: RouteInput) -> None:
    route.routing_type = data.routing_type
    route.routing_regex = data.routing_regex
    route.labels = data.labels
    changes: dict[str, Any] = dict(data.destinations)
    if data.chain_sent:
        changes["escalation_chain_id"] = data.escalation_chain_id
    apply_destinations(route, changes)


async def check_name_unique(
    redis: Redis, org_id: str, name: str, team_id: str | None, own_id: str | None
) -> None:
    clashes = [
        i for i in await store.list_live(redis, org_id) if i.name == name and i.team_id == team_id
    ]
    if any(i.id != own_id for i in clashes):
        raise NameTaken


async def check_chain(redis: Redis, org_id: str, data: IntegrationInput) -> None:
    """An unknown ``default_route.escalation_chain_id`` is refused before anything is written."""
    chain_id = (data.default_route or {}).get("escalation_chain_id")
    if chain_id is not None and not await escalation_chains.exists(redis, org_id, chain_id):
        raise InvalidFields({"default_route": {"escalation_chain_id": [MISSING]}})


async def check_route_references(redis: Redis, org_id: str, data: RouteInput) -> None:
    """Add field errors for an unknown integration or escalation chain, then raise them all."""
    integration_id = data.integration_id
    if integration_id is not None and not await store.get(redis, org_id, integration_id):
        data.errors.add(("integration_id",), MISSING)
    chain = data.escalation_chain_id
    if chain is not None and not await escalation_chains.exists(redis, org_id, chain):
        data.errors.add(("escalation_chain_id",), MISSING)
    data.errors.raise_if_any()
    if data.bad_position:
        raise InvalidPosition


async def create_integration(
    redis: Redis,
    org_id: str,
    data: IntegrationInput,
    token: str | None = None,
    link_type: str | None = None,
) -> Integration:
    """Check and store a new integration and its default route.

    ``token`` keeps a link token the senders already use (the importer); it must not belong to
    another integration (:class:`TokenTaken`). Otherwise a fresh token is drawn.
    """
    await check_chain(redis, org_id, data)
    assert data.type is not None
    team_id = data.fields.get("team_id")
    if data.name is not None:
        await check_name_unique(redis, org_id, data.name, team_id, None)
    kind = INTEGRATION_TYPES[data.type]
    if token is not None:
        owner = await store.by_link_token(redis, token)
        if owner is not None:
            raise TokenTaken(owner)
    elif kind.has_link:
        token = ids.link_token()
    integration_id = await store.reserve_integration_id(redis)
    seq = await store.next_seq(redis, org_id)
    integration = Integration(
        id=integration_id,
        org_id=org_id,
        type=data.type,
        name=data.name or default_name(data.type, seq),
        created_at=time.time(),
        seq=seq,
        token=token,
        link_type=link_type,
        heartbeat_enabled=kind.has_heartbeat,
        default_route_id=ids.public_id("R"),
    )
    apply_integration(integration, data)
    if data.dynamic_labels is None:
        integration.dynamic_labels = [Label(k, v) for k, v in default_dynamic_labels(data.type)]
    route = Route(
        id=integration.default_route_id,
        org_id=org_id,
        integration_id=integration.id,
        is_default=True,
    )
    apply_destinations(route, data.default_route or {})
    await store.create(redis, integration, route)
    return integration


async def update_integration(
    redis: Redis, integration: Integration, data: IntegrationInput
) -> None:
    """Check and store a partial update of ``integration`` (and its default route)."""
    await check_chain(redis, integration.org_id, data)
    if data.name is not None:
        team_id = data.fields.get("team_id", integration.team_id)
        await check_name_unique(redis, integration.org_id, data.name, team_id, integration.id)
    if data.default_route:
        route = await store.get_route(redis, integration.default_route_id)
        if route is not None:
            apply_destinations(route, data.default_route)
            await store.save_route(redis, route)
    apply_integration(integration, data)
    await store.save(redis, integration)
