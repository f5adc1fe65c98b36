"""What the target organization already holds, read once before planning."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from ingest.importer.source import Snapshot
from ingest.models import EscalationChain, Integration, Route
from ingest.store import escalation_chains, oncall_ids, routes, webhooks
from ingest.store import integrations as integration_store
from ingest.webhook import Webhook


@dataclass
class Ours:
    org_id: str
    ids: dict[str, str] = field(default_factory=dict)  # OnCall id -> our id
    chains: dict[str, EscalationChain] = field(default_factory=dict)
    integrations: dict[str, Integration] = field(default_factory=dict)  # live ones
    default_routes: dict[str, Route] = field(default_factory=dict)  # by integration id
    routes: dict[str, list[Route]] = field(default_factory=dict)  # non-default, in order
    token_owners: dict[str, Integration] = field(default_factory=dict)  # any org
    webhooks: dict[str, Webhook] = field(default_factory=dict)

    def chain_named(self, name: str) -> EscalationChain | None:
        return next((c for c in self.chains.values() if c.name == name), None)

    def imported(self, oncall_id: str) -> str | None:
        return self.ids.get(oncall_id)


async def load(redis: Redis, org_id: str, snapshot: Snapshot) -> Ours:
    ours = Ours(org_id=org_id, ids=await oncall_ids.load(redis, org_id))
    ours.chains = {c.id: c for c in await escalation_chains.list_all(redis, org_id)}
    ours.webhooks = {w.id: w for w in await webhooks.list_all(redis, org_id)}
    live = await integration_store.list_live(redis, org_id)
    ours.integrations = {i.id: i for i in live}
    for route in await routes.routes_in_order(redis, live):
        if route.is_default:
            ours.default_routes[route.integration_id] = route
        else:
            ours.routes.setdefault(route.integration_id, []).append(route)
    for source in snapshot.integrations:
        if source.token and source.token not in ours.token_owners:
            owner = await integration_store.by_link_token(redis, source.token)
            if owner is not None:
                ours.token_owners[source.token] = owner
    return ours
