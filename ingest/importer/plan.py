"""The import plan: for every OnCall object, what happens here and why.

Verbs: ``create`` (new here), ``update`` (imported before, changed in OnCall since), ``unchanged``,
``skip`` (cannot or should not be imported; the reason says which), ``conflict`` (it would take
something another of our objects holds: a link token or a name; never overwritten).

Objects are matched by the OnCall id remembered at the previous run (``store.oncall_ids``), so a
second run updates in place. Escalation chains are also matched by name, so a chain created here
by hand before the import is used rather than duplicated. Every body is checked with the public
API's own validation here already, so ``--dry-run`` reports what the real run would refuse.
``notes`` are things carried only in part (an unsupported type imported as ``webhook``, templates
of channels we do not have): the object is imported and the run still ends with exit code 3.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from ingest.api.errors import ApiError, domain_answer
from ingest.api.escalation_chains import parse_chain_input
from ingest.domain.errors import DomainError
from ingest.domain.integration_input import IntegrationInput, parse_input
from ingest.domain.integrations import apply_destinations, apply_integration
from ingest.importer import bodies
from ingest.importer.source import TOKEN_RE, Snapshot, SourceIntegration
from ingest.importer.state import Ours
from ingest.models import INTEGRATION_TYPES, Integration, Route
from ingest.settings import Settings

Verb = Literal["create", "update", "unchanged", "skip", "conflict"]
Kind = Literal["escalation chain", "integration", "route", "webhook"]
DIRECT_PAGING = "direct_paging"
INBOUND_EMAIL = "inbound_email"
LABEL_FIELDS = ("labels", "dynamic_labels")


@dataclass
class Action:
    kind: Kind
    source_id: str
    name: str
    verb: Verb
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    target_id: str | None = None  # our object, when it exists
    body: dict[str, Any] = field(default_factory=dict)  # the API body to apply
    chain: str | None = None  # OnCall id of the escalation chain the body refers to
    token: str | None = None  # the link token to keep (integrations)
    link_type: str | None = None
    default_route: str | None = None  # OnCall id of the integration's default route
    parent: str | None = None  # OnCall id of the route's integration
    index: int = 0  # the route's place among its integration's imported routes
    reorder: bool = False  # the integration's routes must be put back in OnCall's order

    @property
    def complete(self) -> bool:
        return self.verb in ("create", "update", "unchanged") and not self.notes


@dataclass
class Plan:
    chains: list[Action] = field(default_factory=list)
    integrations: list[Action] = field(default_factory=list)
    routes: list[Action] = field(default_factory=list)
    webhooks: list[Action] = field(default_factory=list)

    def all(self) -> list[Action]:
        return [*self.chains, *self.integrations, *self.routes, *self.webhooks]


# What a validation or write may refuse with: the API's own errors (chains, webhooks) and the
# domain's (integrations, routes); both are reported as the answer the API would give.
REFUSALS = (ApiError, DomainError)


def error_text(exc: ApiError | DomainError) -> str:
    """An API error body as one line: ``templates.web.title: Invalid template: ...``."""
    if isinstance(exc, DomainError):
        exc = domain_answer(exc)

    def walk(node: Any, path: str) -> list[str]:
        if isinstance(node, dict):
            return [line for key, sub in node.items() for line in walk(sub, f"{path}.{key}")]
        if isinstance(node, list):
            return [f"{path.lstrip('.') or 'body'}: {message}" for message in node]
        return [f"{path.lstrip('.') or 'body'}: {node}"]

    if isinstance(exc.body, dict) and set(exc.body) == {"detail"}:
        return str(exc.body["detail"])
    return "; ".join(walk(exc.body, ""))


def plan_chains(snapshot: Snapshot, ours: Ours) -> list[Action]:
    actions: list[Action] = []
    for source in snapshot.chains:
        action = Action("escalation chain", source.id, source.name, "create")
        action.body = {"name": source.name, "team_id": source.team_id}
        actions.append(action)
        try:
            parse_chain_input(action.body, name_required=True)
        except REFUSALS as exc:
            action.verb, action.reason = "skip", error_text(exc)
            continue
        existing = ours.chains.get(ours.imported(source.id) or "")
        holder = ours.chain_named(source.name)
        if existing is None:
            if holder is not None:
                action.verb, action.target_id = "unchanged", holder.id
                action.reason = "a chain of this name is already here; routes will use it"
            continue
        action.target_id = existing.id
        if holder is not None and holder.id != existing.id:
            action.verb = "conflict"
            action.reason = f"renamed in OnCall, but chain {holder.id} here already has the name"
        elif (existing.name, existing.team_id) == (source.name, source.team_id):
            action.verb = "unchanged"
        else:
            action.verb, action.reason = "update", "name or team changed"
    return actions


def chain_reference(chain: str | None, plan: Plan, notes: list[str], what: str) -> str | None:
    """Our id for an OnCall chain reference (``PENDING_CHAIN`` if this run creates it)."""
    if chain is None:
        return None
    action = next((a for a in plan.chains if a.source_id == chain), None)
    if action is None or action.verb in ("skip", "conflict"):
        notes.append(f"{what}: escalation chain {chain} is not imported; left without a chain")
        return None
    return action.target_id or bodies.PENDING_CHAIN


def _our_type(source: SourceIntegration, skip_unsupported: bool, action: Action) -> str | None:
    if source.type == DIRECT_PAGING:
        action.reason = "OnCall's direct paging integration: it receives no alerts from senders"
        return None
    if source.type == INBOUND_EMAIL:
        # it has no link to keep, and its senders send email: as a webhook it would receive nothing
        action.reason = (
            "OnCall's inbound email integration: alerts reach it by email, which we do not receive"
        )
        return None
    if source.type in INTEGRATION_TYPES:
        return source.type
    if skip_unsupported:
        action.reason = f"type {source.type!r} is not supported here (--skip-unsupported)"
        return None
    action.notes.append(
        f"type {source.type!r} is not supported here: imported as webhook (same link)"
    )
    return "webhook"


def _link(source: SourceIntegration, our_type: str, action: Action) -> bool:
    """Choose the link token (and path type) to keep; False when the token is unusable."""
    if not INTEGRATION_TYPES[our_type].has_link:
        return True
    if source.token is None:
        action.notes.append("it had no link in OnCall; it gets a new one here")
        return True
    if not TOKEN_RE.match(source.token):
        action.verb, action.reason = "skip", "its link token has a shape we cannot keep"
        return False
    action.token = source.token
    action.link_type = source.link_type if source.link_type != our_type else None
    return True


def _same(key: str, before: Any, after: Any) -> bool:
    """Equal, and for label lists equal in any order: Grafana Cloud's API may list an
    integration's labels in another order from one read to the next (keys are unique in a list,
    so sorting by key and value loses nothing)."""
    if key in LABEL_FIELDS and isinstance(before, list) and isinstance(after, list):
        return sorted(before, key=_label_order) == sorted(after, key=_label_order)
    return bool(before == after)


def _label_order(label: dict[str, str]) -> tuple[str, str]:
    return label["key"], label["value"]


def _changes(existing: Integration, route: Route | None, data: IntegrationInput) -> list[str]:
    after = copy.deepcopy(existing)
    apply_integration(after, data)
    before_doc, after_doc = existing.to_doc(), after.to_doc()
    changed = [key for key in after_doc if not _same(key, before_doc[key], after_doc[key])]
    if route is not None and data.default_route:
        moved = copy.deepcopy(route)
        apply_destinations(moved, data.default_route)
        if moved.to_doc() != route.to_doc():
            changed.append("default route")
    return changed


def plan_integration(
    source: SourceIntegration, plan: Plan, ours: Ours, settings: Settings, skip_unsupported: bool
) -> Action:
    action = Action("integration", source.id, f"{source.name} ({source.type})", "create")
    our_type = _our_type(source, skip_unsupported, action)
    if our_type is None:
        action.verb = "skip"
        return action
    if not _link(source, our_type, action):
        return action
    action.chain = source.default_route.get("escalation_chain_id")
    action.default_route = source.default_route.get("id")
    chain_id = chain_reference(action.chain, plan, action.notes, "default route")
    action.body = bodies.integration_body(source, our_type, chain_id, action.notes)
    if source.has_heartbeat and not INTEGRATION_TYPES[our_type].has_heartbeat:
        action.notes.append(f"its heartbeat is not carried: {our_type} has none here")
    try:
        data = parse_input(action.body, settings, None)
    except REFUSALS as exc:
        action.verb, action.reason = "skip", error_text(exc)
        return action
    existing = ours.integrations.get(ours.imported(source.id) or "")
    owner = ours.token_owners.get(action.token or "")
    adopted = existing is None and _left_by_a_stopped_run(owner, source, our_type, ours)
    if adopted:
        existing = owner
    if owner is not None and (existing is None or owner.id != existing.id):
        holder = (
            f"integration '{owner.name}' ({owner.id}) here"
            if owner.org_id == ours.org_id
            else "an integration of another organization"
        )
        action.verb, action.reason = "conflict", f"{holder} already uses its link token"
        return action
    clash = next(
        (
            i
            for i in ours.integrations.values()
            if i.name == source.name and i.team_id == source.team_id
            and (existing is None or i.id != existing.id)
        ),
        None,
    )  # fmt: skip
    if clash is not None:
        action.verb = "conflict"
        action.reason = f"integration {clash.id} here already has this name"
        return action
    if existing is None:
        return action
    action.target_id = existing.id
    if existing.type != our_type:
        action.verb, action.reason = "skip", f"it is a {existing.type} integration here"
        return action
    changed = _changes(existing, ours.default_routes.get(existing.id), data)
    if chain_id == bodies.PENDING_CHAIN:
        changed.append("default route")
    if (existing.token, existing.link_type) != (action.token or existing.token, action.link_type):
        changed.append("link")
    if changed:
        action.verb, action.reason = "update", "changed: " + ", ".join(dict.fromkeys(changed))
    else:
        action.verb = "unchanged"
    if adopted:
        found = "already here with its link token and name (an earlier run stopped before "
        action.reason = "; ".join(filter(None, [found + "remembering it)", action.reason]))
    return action


def _left_by_a_stopped_run(
    owner: Integration | None, source: SourceIntegration, our_type: str, ours: Ours
) -> bool:
    """Whether the integration holding the link token is the one an earlier run created from
    ``source`` but stopped before remembering (same organization, name, team and type, and not
    remembered as another OnCall object, and without routes yet, as routes come after every
    integration): it is taken as imported, so running again is enough."""
    return (
        owner is not None
        and owner.id in ours.integrations
        and not ours.routes.get(owner.id)
        and (owner.name, owner.team_id, owner.type) == (source.name, source.team_id, our_type)
        and owner.id not in set(ours.ids.values())
    )
