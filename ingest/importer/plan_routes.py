"""The routes part of the plan: each imported integration's routes, in OnCall's order.

A route is matched by its remembered OnCall id. OnCall's order (its sparse ``position``) becomes
positions ``0..n-1`` here, with the default route last as everywhere. When the imported routes of
an integration are no longer in OnCall's order, each one whose place changed is an ``update`` and
the applier puts them all back in order. A route imported before but since deleted in OnCall is
left alone and reported (``skip``): deleting routes is for a person to decide.
"""

from __future__ import annotations

import copy

from ingest.domain.integrations import apply_route
from ingest.domain.route_input import parse_route
from ingest.importer import bodies
from ingest.importer.plan import REFUSALS, Action, Plan, chain_reference, error_text
from ingest.importer.source import Snapshot, SourceRoute
from ingest.importer.state import Ours
from ingest.models import Route
from ingest.settings import Settings
from templates_engine import Limits

LABELS_HIDDEN = (
    "OnCall's public API does not show a label route's labels; add it here with "
    'routing_type "labels"'
)


def _plan_route(
    source: SourceRoute, owner: Action, plan: Plan, ours: Ours, limits: Limits
) -> Action:
    action = Action("route", source.id, "", "create", parent=owner.source_id)
    action.chain = source.escalation_chain_id
    if owner.verb not in ("create", "update", "unchanged"):
        action.verb, action.reason = "skip", "its integration is not imported"
        return action
    if source.routing_type == "labels" and not isinstance(source.raw.get("labels"), list):
        action.verb, action.reason = "skip", LABELS_HIDDEN
        return action
    chain_id = chain_reference(action.chain, plan, action.notes, "route")
    integration_id = owner.target_id or bodies.PENDING_INTEGRATION
    action.body = bodies.route_body(source, integration_id, chain_id, action.notes)
    existing: Route | None = None
    for route in ours.routes.get(owner.target_id or "", []):
        if route.id == ours.imported(source.id):
            existing = route
    try:
        data = parse_route(action.body, existing, limits)
        data.errors.raise_if_any()
    except REFUSALS as exc:
        action.verb, action.reason = "skip", error_text(exc)
        return action
    if existing is None:
        return action
    action.target_id = existing.id
    after = copy.deepcopy(existing)
    apply_route(after, data)
    if after.to_doc() != existing.to_doc() or chain_id == bodies.PENDING_CHAIN:
        action.verb, action.reason = "update", "changed: matching rule or destinations"
    else:
        action.verb = "unchanged"
    return action


def _check_order(owner: Action, actions: list[Action], ours: Ours) -> None:
    kept = [a for a in actions if a.verb in ("create", "update", "unchanged")]
    for index, action in enumerate(kept):
        action.index = index
    current = [r.id for r in ours.routes.get(owner.target_id or "", [])]
    existing = [a.target_id for a in kept if a.target_id is not None]
    in_order = [route_id for route_id in current if route_id in existing]
    if any(a.verb == "create" for a in kept) or in_order != existing:
        for action in kept:
            action.reorder = True
            moved = action.target_id is not None and (
                in_order.index(action.target_id) != existing.index(action.target_id)
            )
            if moved and action.verb == "unchanged":
                action.verb, action.reason = "update", "changed: position"


def _orphans(owner: Action, seen: set[str], ours: Ours) -> list[Action]:
    """Routes imported before whose OnCall route is gone."""
    by_ours = {our_id: oncall_id for oncall_id, our_id in ours.ids.items()}
    out: list[Action] = []
    for route in ours.routes.get(owner.target_id or "", []):
        oncall_id = by_ours.get(route.id)
        if oncall_id is not None and oncall_id not in seen:
            action = Action("route", oncall_id, "", "skip", parent=owner.source_id)
            action.target_id = route.id
            action.reason = "deleted in OnCall; kept here (delete it through the API if unwanted)"
            out.append(action)
    return out


def plan_routes(snapshot: Snapshot, plan: Plan, ours: Ours, settings: Settings) -> list[Action]:
    limits = Limits(template_length=settings.template_max_length)
    out: list[Action] = []
    for owner in plan.integrations:
        sources = [r for r in snapshot.routes.get(owner.source_id, []) if not r.is_default]
        actions = [_plan_route(r, owner, plan, ours, limits) for r in sources]
        for number, action in enumerate(actions, 1):
            action.name = f"{owner.name.rsplit(' (', 1)[0]} #{number}"
        if owner.target_id is not None:
            _check_order(owner, actions, ours)
            actions += _orphans(owner, {r.id for r in sources}, ours)
        else:
            for index, action in enumerate(a for a in actions if a.verb == "create"):
                action.index = index
        out += actions
    return out
