"""Carry out a plan: escalation chains, then integrations, then routes, then outgoing webhooks.

Each write goes through the same validation and store functions as the public API
(``ingest.domain.integrations``), under the organization's integrations lock, and the OnCall id of
every object written is remembered at once: a run that stops half way is simply run again. An
action the store refuses at write time (a name or token taken since the plan was made) becomes a
``conflict`` with the reason, and the rest carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from ingest import ids
from ingest.api.errors import ApiError
from ingest.api.escalation_chains import parse_chain_input
from ingest.api.webhook_input import parse as parse_webhook
from ingest.domain import integrations as writes
from ingest.domain.integration_input import parse_input
from ingest.domain.route_input import parse_route
from ingest.importer.plan import REFUSALS, Action, Plan, error_text
from ingest.importer.plan_webhooks import PENDING_PREFIX
from ingest.importer.report import counts_line
from ingest.models import Route
from ingest.settings import Settings
from ingest.store import escalation_chains as chain_store
from ingest.store import integrations as integration_store
from ingest.store import oncall_ids
from ingest.store import routes as route_store
from ingest.store import webhooks as webhook_store
from templates_engine import Limits

Progress = Callable[[str], None]


class Applier:
    def __init__(self, redis: Redis, org_id: str, settings: Settings) -> None:
        self.redis = redis
        self.org_id = org_id
        self.settings = settings
        self.ids: dict[str, str] = {}

    async def run(self, plan: Plan, progress: Progress) -> None:
        self.ids = await oncall_ids.load(self.redis, self.org_id)
        for action in plan.chains:
            await self._guarded(action, self._chain)
        progress(counts_line("escalation chains", plan.chains))
        for action in plan.integrations:
            await self._guarded(action, self._integration)
        progress(counts_line("integrations", plan.integrations))
        for action in plan.routes:
            await self._guarded(action, self._route)
        await self._reorder(plan.routes)
        progress(counts_line("routes", plan.routes))
        for action in plan.webhooks:
            await self._guarded(action, self._webhook)
        progress(counts_line("outgoing webhooks", plan.webhooks))

    async def _guarded(self, action: Action, step: Callable[[Action], Any]) -> None:
        if action.verb not in ("create", "update", "unchanged"):
            return
        try:
            await step(action)
        except REFUSALS as exc:
            action.verb, action.reason = "conflict", error_text(exc)
        except writes.TokenTaken as exc:
            action.verb = "conflict"
            action.reason = f"its link token was taken meanwhile by {exc.owner.id}"
        except route_store.RouteGone:
            action.verb, action.reason = "conflict", "the route was deleted here meanwhile"
        except (chain_store.NameTaken, webhook_store.NameTaken):
            action.verb, action.reason = "conflict", "another object here took this name meanwhile"
        except webhook_store.Gone:
            action.verb, action.reason = "conflict", "the webhook was deleted here meanwhile"

    async def _remember(self, oncall_id: str, our_id: str) -> None:
        if self.ids.get(oncall_id) != our_id:
            await oncall_ids.remember(self.redis, self.org_id, oncall_id, our_id)
            self.ids[oncall_id] = our_id

    def _chain_id(self, action: Action) -> str | None:
        return self.ids.get(action.chain) if action.chain else None

    async def _chain(self, action: Action) -> None:
        changes = parse_chain_input(action.body, name_required=True)
        if action.verb == "create":
            chain = await chain_store.create(
                self.redis, self.org_id, changes["name"], changes.get("team_id")
            )
            action.target_id = chain.id
        elif action.verb == "update" and action.target_id:
            found = await chain_store.get(self.redis, self.org_id, action.target_id)
            if found is None:
                raise ApiError(404, {"detail": "the chain was deleted meanwhile"})
            found.name, found.team_id = changes["name"], changes.get("team_id")
            await chain_store.save(self.redis, found)
        assert action.target_id is not None
        await self._remember(action.source_id, action.target_id)

    async def _integration(self, action: Action) -> None:
        body = dict(action.body)
        body["default_route"] = {
            **body["default_route"],
            "escalation_chain_id": self._chain_id(action),
        }
        data = parse_input(body, self.settings, None)
        async with writes.integrations_lock(self.redis, self.org_id):
            if action.verb == "create":
                created = await writes.create_integration(
                    self.redis, self.org_id, data, action.token, action.link_type
                )
                action.target_id = created.id
            elif action.verb == "update" and action.target_id:
                await self._update_integration(action, body)
        assert action.target_id is not None
        await self._remember(action.source_id, action.target_id)
        found = await integration_store.get(self.redis, self.org_id, action.target_id)
        if action.default_route and found is not None:
            await self._remember(action.default_route, found.default_route_id)

    async def _update_integration(self, action: Action, body: dict[str, Any]) -> None:
        assert action.target_id is not None
        found = await integration_store.get(self.redis, self.org_id, action.target_id)
        if found is None:
            raise ApiError(404, {"detail": "the integration was deleted meanwhile"})
        del body["type"]
        await writes.update_integration(self.redis, found, parse_input(body, self.settings, found))
        if action.token and action.token != found.token:
            owner = await integration_store.by_link_token(self.redis, action.token)
            if owner is not None and owner.id != found.id:
                raise writes.TokenTaken(owner)
            await integration_store.change_token(self.redis, found, action.token)
        if found.link_type != action.link_type:
            found.link_type = action.link_type
            await integration_store.save(self.redis, found)

    async def _route(self, action: Action) -> None:
        integration_id = self.ids.get(action.parent or "")
        if integration_id is None:
            action.verb, action.reason = "skip", "its integration was not imported"
            return
        body = {
            **action.body,
            "integration_id": integration_id,
            "escalation_chain_id": self._chain_id(action),
        }
        limits = Limits(template_length=self.settings.template_max_length)
        existing: Route | None = None
        if action.verb != "create" and action.target_id:
            existing = await integration_store.get_route(self.redis, action.target_id)
        data = parse_route(body, existing, limits)
        await writes.check_route_references(self.redis, self.org_id, data)
        if existing is None:
            route = Route(id=ids.public_id("R"), org_id=self.org_id, integration_id=integration_id)
            writes.apply_route(route, data)
            # Remembered before it is written: a run stopped in between leaves a remembered id
            # with no route, which the next run plans as a create, never a second route.
            await self._remember(action.source_id, route.id)
            await route_store.place(self.redis, route, create=True)
            action.target_id = route.id
        elif action.verb == "update":
            writes.apply_route(existing, data)
            await route_store.place(
                self.redis, await route_store.with_position(self.redis, existing)
            )
        await self._remember(action.source_id, action.target_id or "")

    async def _webhook(self, action: Action) -> None:
        body = dict(action.body)
        if "integration_filter" in body:
            body["integration_filter"] = [
                self.ids.get(i.removeprefix(PENDING_PREFIX), i) for i in body["integration_filter"]
            ]
        live = {i.id for i in await integration_store.list_live(self.redis, self.org_id)}
        existing = None
        if action.target_id:
            existing = await webhook_store.get(self.redis, self.org_id, action.target_id)
        fields = parse_webhook(body, existing, self.settings, live)
        if action.verb == "create":
            action.target_id = (await webhook_store.save(self.redis, self.org_id, fields)).id
        elif action.verb == "update" and action.target_id:
            await webhook_store.save(self.redis, self.org_id, fields, action.target_id)
        assert action.target_id is not None
        await self._remember(action.source_id, action.target_id)

    async def _reorder(self, actions: list[Action]) -> None:
        """Put each integration's imported routes at positions 0..n-1 in OnCall's order."""
        for action in sorted(
            (a for a in actions if a.reorder and a.target_id and a.verb != "conflict"),
            key=lambda a: (a.parent or "", a.index),
        ):
            route = await integration_store.get_route(self.redis, action.target_id or "")
            if route is not None:
                await route_store.place(self.redis, route, target=action.index)
