"""The outgoing webhooks part of the plan.

OnCall never shows a webhook's secrets (``password``, ``authorization_header`` read back as
``****************``). A webhook that has one is imported **disabled** and reported: its secrets
must be entered here (``PATCH /api/v1/webhooks/<id>/``) before it is enabled. A later run leaves
our secrets alone (it never sends them) and keeps such a webhook disabled only while its secrets
are still missing here, so enabling it after entering them sticks.

An ``escalation`` webhook means something else here (see :func:`_escalation`): it is imported
disabled too, and a later run leaves it enabled once someone enabled it here.

``integration_filter`` refers to OnCall integrations; each becomes the integration imported from
it (one that was not imported is dropped from the filter and reported). When none of them was
imported the filter would be empty, which here means *every* integration: such a webhook is
imported disabled (on every run, while that lasts) and reported, rather than widened.

Bodies are checked with the webhooks API's own validation (``ingest.api.webhook_input``): a URL
our SSRF guard refuses, or a trigger type we do not have (``personal notification``), is a
``skip`` with the reason.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ingest.api.webhook_input import parse
from ingest.importer.plan import REFUSALS, Action, Plan, error_text
from ingest.importer.source import SourceWebhook
from ingest.importer.state import Ours
from ingest.settings import Settings
from ingest.webhook import SECRET_MASK, Webhook

ONCALL_SECRETS = ("password", "authorization_header")
COPIED = ("name", "url", "http_method", "trigger_type", "data", "headers", "trigger_template",
          "username", "forward_all")  # fmt: skip
PENDING_PREFIX = "C-pending-"
# OnCall's presets that send the webhook's fields as stored; any other preset (a vendor's) may
# rewrite the request when the webhook runs, which is not carried here
PLAIN_PRESETS = (None, "simple_webhook", "advanced_webhook")


def needs_secrets(source: SourceWebhook, existing: Webhook | None) -> list[str]:
    """The secrets OnCall holds for this webhook that we do not have."""
    missing = []
    for name in ONCALL_SECRETS:
        if source.raw.get(name) == SECRET_MASK and not (existing and getattr(existing, name)):
            missing.append(name)
    return missing


def webhook_body(
    source: SourceWebhook, plan: Plan, ours: Ours, existing: Webhook | None, action: Action
) -> tuple[dict[str, Any], set[str]]:
    """The API body and the integration ids it may name (imported or about to be)."""
    body: dict[str, Any] = {name: source.raw.get(name) for name in COPIED if name in source.raw}
    body["team"] = source.raw.get("team")
    enabled = source.raw.get("is_webhook_enabled") is not False
    missing = needs_secrets(source, existing)
    if missing:
        action.notes.append(
            f"OnCall does not show its {' and '.join(missing)}: imported disabled; enter "
            "them here, then enable it"
        )
        enabled = False
    preset = source.raw.get("preset")
    if preset not in PLAIN_PRESETS:
        action.notes.append(
            f"OnCall's preset {preset!r} may change its request when it runs, which is not "
            "carried: check its URL, headers and data here"
        )
    if source.raw.get("trigger_type") == "escalation" and enabled:
        enabled = _escalation(existing, action)
    known, chosen = _filter(source, plan, action)
    if "integration_filter" in source.raw:
        body["integration_filter"] = chosen
    if source.raw.get("integration_filter") and not chosen:
        action.notes.append(
            "none of the integrations its filter names was imported, and an empty filter here "
            "means every integration: imported disabled"
        )
        enabled = False
    body["is_webhook_enabled"] = enabled
    return body, known


def _escalation(existing: Webhook | None, action: Action) -> bool:
    """Whether an ``escalation`` webhook may be enabled here: only once someone enabled it here.

    In OnCall such a webhook runs only when an escalation step names it; here it fires for every
    new alert group whose route escalates, and escalation steps are not imported. Its meaning
    changes, so it arrives disabled and stays so (reported) until it is enabled here."""
    if existing is not None and existing.is_webhook_enabled:
        return True
    action.notes.append(
        "OnCall runs it only from an escalation step (not imported); here it would fire for "
        "every new alert group whose route escalates: imported disabled; enable it here if "
        "that is what you want"
    )
    return False


def _filter(source: SourceWebhook, plan: Plan, action: Action) -> tuple[set[str], list[str]]:
    """Our ids for the OnCall integrations of the webhook's filter; each one that was not
    imported is dropped and noted (by name when OnCall listed it)."""
    known: set[str] = set()
    chosen: list[str] = []
    for oncall_id in source.raw.get("integration_filter") or []:
        owner = next((a for a in plan.integrations if a.source_id == oncall_id), None)
        if owner is None or owner.verb in ("skip", "conflict"):
            what = f"'{owner.name}'" if owner else oncall_id
            action.notes.append(f"integration {what} of its filter is not imported; dropped")
            continue
        ours_id = owner.target_id or PENDING_PREFIX + oncall_id
        known.add(ours_id)
        chosen.append(ours_id)
    return known, chosen


def _left_by_a_stopped_run(holder: Webhook, fields: dict[str, Any], ours: Ours) -> bool:
    """Whether ``holder`` is this webhook as a run that stopped between writing it and
    remembering its OnCall id left it: no OnCall id names it, and it is exactly what this run
    would write. Anything else holding the name stays a conflict."""
    if holder.id in ours.ids.values():
        return False
    return dataclasses.replace(holder, **fields) == holder


def plan_webhooks(
    sources: list[SourceWebhook], plan: Plan, ours: Ours, settings: Settings
) -> list[Action]:
    out: list[Action] = []
    for source in sources:
        action = Action("webhook", source.id, source.name, "create")
        out.append(action)
        existing = ours.webhooks.get(ours.imported(source.id) or "")
        action.body, known = webhook_body(source, plan, ours, existing, action)
        try:
            fields = parse(action.body, existing, settings, known)
        except REFUSALS as exc:
            action.verb, action.reason = "skip", error_text(exc)
            continue
        holder = next((w for w in ours.webhooks.values() if w.name == fields["name"]), None)
        if existing is None and holder is not None and _left_by_a_stopped_run(holder, fields, ours):
            existing = holder  # taken as imported ("unchanged"); this run remembers it
        if holder is not None and (existing is None or holder.id != existing.id):
            action.verb, action.reason = (
                "conflict",
                f"webhook {holder.id} here already has this name",
            )
            continue
        if existing is None:
            continue
        action.target_id = existing.id
        pending = any(f.startswith(PENDING_PREFIX) for f in fields.get("integration_filter", []))
        if dataclasses.replace(existing, **fields) == existing and not pending:
            action.verb = "unchanged"
        else:
            action.verb, action.reason = "update", "changed in OnCall"
    return out
