"""Validation of integration bodies (create and partial update) into changes to apply.

Integration create/update input: every field error of a request is collected into one 400;
an unknown or deprecated ``type`` is a ``detail`` error raised at once, as Grafana OnCall does.
Unknown top-level keys are ignored (OnCall clients send extra keys, and an integration read from
the API can be sent back whole); an unknown key inside an object the API knows (``templates``, a
channel, ``default_route``, a destination, a label, ``heartbeat``) is a 400 naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ingest.domain.errors import Refused
from ingest.domain.validation import Errors, optional_string, reject_unknown, type_name
from ingest.models import (
    BEHAVIOUR_TEMPLATES,
    CHANNEL_TEMPLATES,
    INTEGRATION_TYPES,
    ROUTE_BACKENDS,
    Integration,
    Label,
)
from ingest.settings import Settings, parse_rate
from templates_engine import Limits, TemplateCompileError, check_template

LABEL_KEY_RE = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_]{0,61}[A-Za-z])?$")
LABEL_VALUE_RE = re.compile(r"^[A-Za-z_.\-](?:[A-Za-z0-9_.\-]{0,61}[A-Za-z_.\-])?$")
KEY_RULE = "1-63 letters, digits or underscores, starting and ending with a letter"
MAX_AUTO = 90 * 86400  # the longest auto_resolve_after
VALUE_RULE = "1-63 letters, digits, '-', '_' or '.', not starting or ending with a digit"
LABEL_PART_FIELDS = ("name", "id")
# ``id`` is read-only (the default route's own id, as answered): accepted and ignored, so an
# integration read from the API can be sent back whole.
DEFAULT_ROUTE_FIELDS = ("id", "escalation_chain_id", "slack", *ROUTE_BACKENDS)
# ``timeout`` is writable; the others are read-only (accepted and ignored, as ``id`` above).
HEARTBEAT_FIELDS = ("timeout", "link", "last_heartbeat_at", "status")


@dataclass
class IntegrationInput:
    """What a request asked to change; ``None`` attributes were not sent."""

    type: str | None = None
    name: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, Any] | None = None
    default_route: dict[str, Any] | None = None
    labels: list[Label] | None = None
    dynamic_labels: list[Label] | None = None


def check_type(body: dict[str, Any], errors: Errors) -> str | None:
    if "type" not in body:
        errors.add(("type",), "This field is required.")
        return None
    value = body["type"]
    if value is None:
        errors.add(("type",), "This field may not be null.")
        return None
    if not isinstance(value, str) or not value.strip():
        errors.add(
            ("type",), "This field may not be blank." if value == "" else "Must be a string."
        )
        return None
    if value.startswith("legacy_"):
        raise Refused("This integration type is deprecated")
    if value == "direct_paging":  # OnCall has the type but refuses to create it, in these words
        raise Refused("Direct paging integrations can't be created")
    if value not in INTEGRATION_TYPES:
        raise Refused("Invalid integration type")
    return value


def parse_input(
    body: dict[str, Any], settings: Settings, existing: Integration | None
) -> IntegrationInput:
    errors = Errors()
    result = IntegrationInput()
    if existing is None:
        result.type = check_type(body, errors)
    elif "type" in body and body["type"] != existing.type:
        errors.add(("type",), "Integration type can't be changed.")
    if "name" in body:
        result.name = optional_string(
            errors, ("name",), body["name"], 150, allow_null=False, allow_blank=False
        )
    if "description_short" in body:
        result.fields["description_short"] = optional_string(
            errors, ("description_short",), body["description_short"], 250
        )
    if "team_id" in body:
        team = body["team_id"]
        team = None if team == "null" else team
        result.fields["team_id"] = optional_string(
            errors, ("team_id",), team, 64, allow_blank=False
        )
    _heartbeat_timeout(errors, body, result)
    if "rate_limit" in body:
        result.fields["rate_limit"] = _rate_limit(errors, body["rate_limit"])
    if "auto_resolve_after" in body:
        after = body["auto_resolve_after"]
        if after is not None and (
            isinstance(after, bool) or not isinstance(after, int) or not 1 <= after <= MAX_AUTO
        ):
            message = f"Must be whole seconds from 1 to {MAX_AUTO} (90 days), or null."
            errors.add(("auto_resolve_after",), message)
        else:
            result.fields["auto_resolve_after"] = after
    limits = Limits(template_length=settings.template_max_length)
    if "templates" in body:
        result.templates = _templates(errors, body["templates"], limits)
    if "alert_group_labels_template" in body:
        source = body["alert_group_labels_template"]
        path = ("alert_group_labels_template",)
        if source is not None and not isinstance(source, str):
            errors.add(path, f"Must be a template string or null, got {type_name(source)}.")
        else:
            if source:
                compile_template(errors, path, source, limits)
            result.fields["alert_group_labels_template"] = source or None
    if "default_route" in body:
        result.default_route = _default_route(errors, body["default_route"])
    for name in ("labels", "dynamic_labels"):
        if name in body:
            parsed = parse_labels(errors, name, body[name], limits)
            setattr(result, name, parsed)
    errors.raise_if_any()
    return result


def _heartbeat_timeout(errors: Errors, body: dict[str, Any], result: IntegrationInput) -> None:
    """``heartbeat_timeout``, or ``heartbeat.timeout``: the same field as the API answers it.

    An integration read from the API carries ``heartbeat`` (``link``, ``timeout``,
    ``last_heartbeat_at``, ``status``); sent back, its ``timeout`` is a write like any other, and
    the read-only keys are ignored. Any other key in it is a 400 naming it, and both spellings
    with different values a 400, so no heartbeat write is dropped silently.
    """
    sent: list[tuple[tuple[str, ...], Any]] = []
    if "heartbeat_timeout" in body:
        sent.append((("heartbeat_timeout",), body["heartbeat_timeout"]))
    heartbeat = body.get("heartbeat")
    if heartbeat is not None and not isinstance(heartbeat, dict):
        errors.add(("heartbeat",), f"Expected an object or null, got {type_name(heartbeat)}.")
    elif heartbeat:
        reject_unknown(errors, ("heartbeat",), heartbeat, HEARTBEAT_FIELDS, "heartbeat")
        if "timeout" in heartbeat:
            sent.append((("heartbeat", "timeout"), heartbeat["timeout"]))
    for path, timeout in sent:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 60 <= timeout <= 604800:
            errors.add(path, "Must be whole seconds from 60 to 604800.")
        else:
            result.fields["heartbeat_timeout"] = timeout
    if len(sent) == 2 and sent[0][1] != sent[1][1]:
        errors.add(("heartbeat", "timeout"), "Differs from heartbeat_timeout; send one of them.")


def _rate_limit(errors: Errors, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(
            ("rate_limit",), f"Must be a string like '300/5m' or null, got {type_name(value)}."
        )
        return None
    try:
        return str(parse_rate(value))
    except ValueError as exc:
        errors.add(("rate_limit",), str(exc))
        return None


def compile_template(errors: Errors, path: tuple[str, ...], source: str, limits: Limits) -> None:
    """Record in ``errors`` under ``path`` why ``source`` does not compile (with its line); shared
    by every input that carries a template (integrations, webhooks)."""
    try:
        check_template(source, limits)
    except TemplateCompileError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        errors.add(path, f"Invalid template: {where}{exc.message}")


def _templates(errors: Errors, value: Any, limits: Limits) -> dict[str, Any] | None:
    path: tuple[str, ...] = ("templates",)
    if value is None:
        errors.add(path, "This field may not be null.")
        return None
    if not isinstance(value, dict):
        errors.add(path, f"Expected an object of templates, got {type_name(value)}.")
        return None
    reject_unknown(errors, path, value, [*BEHAVIOUR_TEMPLATES, *CHANNEL_TEMPLATES], "templates")
    changes: dict[str, Any] = {}
    for name in BEHAVIOUR_TEMPLATES:
        if name not in value:
            continue
        source = value[name]
        if source is not None and not isinstance(source, str):
            errors.add(
                (*path, name), f"Must be a template string or null, got {type_name(source)}."
            )
            continue
        if source is not None:
            compile_template(errors, (*path, name), source, limits)
        changes[name] = source
    for channel, attrs in CHANNEL_TEMPLATES.items():
        if channel not in value:
            continue
        sent = value[channel]
        if sent is None:
            changes[channel] = None
            continue
        if not isinstance(sent, dict):
            errors.add(
                (*path, channel),
                f"Must be an object with {', '.join(attrs)} (or null), got {type_name(sent)}.",
            )
            continue
        reject_unknown(errors, (*path, channel), sent, attrs, channel)
        channel_changes: dict[str, str | None] = {}
        for attr, source in sent.items():
            where = (*path, channel, attr)
            if attr not in attrs:
                continue
            if source is not None and not isinstance(source, str):
                errors.add(where, f"Must be a template string or null, got {type_name(source)}.")
            else:
                if source is not None:
                    compile_template(errors, where, source, limits)
                channel_changes[attr] = source
        changes[channel] = channel_changes
    return changes


def label_pairs(errors: Errors, name: str, value: Any) -> list[tuple[str, str]] | None:
    """The (key, value) names of a label list; shape errors (and unknown keys) are reported.

    An item is ``{"key": {"name": ...}, "value": {"name": ...}}``; ``id`` next to ``name`` is
    accepted and ignored (OnCall's alert-group label shape, which a client may send back).
    """
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add((name,), f"Expected a list of labels, got {type_name(value)}.")
        return None
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        key, val = _label_pair(item)
        if key is None or val is None:
            errors.add(
                (name,),
                f'Item {index}: expected {{"key": {{"name": ...}}, "value": {{"name": ...}}}} '
                "with string names.",
            )
            continue
        parts = (("", item, ("key", "value")), ("key", item["key"], LABEL_PART_FIELDS))
        for part, obj, allowed in (*parts, ("value", item["value"], LABEL_PART_FIELDS)):
            for extra in (k for k in obj if k not in allowed):
                errors.add(
                    (name,),
                    f"Item {index}: unknown field {extra!r}{' in ' + part if part else ''}; "
                    f"accepted: {', '.join(allowed)}.",
                )
        pairs.append((key, val))
    return pairs


def parse_labels(errors: Errors, name: str, value: Any, limits: Limits) -> list[Label] | None:
    """``labels`` (static: values checked against ``VALUE_RULE``) or ``dynamic_labels`` (values
    are templates that must compile), keys unique and valid; a route's ``labels`` too."""
    pairs = label_pairs(errors, name, value)
    if pairs is None:
        return None
    labels: list[Label] = []
    seen: set[str] = set()
    for key, val in pairs:
        if not LABEL_KEY_RE.match(key):
            errors.add((name,), f"Label key {key!r} is invalid: must be {KEY_RULE}.")
        elif key in seen:
            errors.add((name,), f"Duplicate label key {key!r}.")
        seen.add(key)
        if name == "labels":
            if not LABEL_VALUE_RE.match(val):
                errors.add(
                    (name,), f"Value {val!r} of label {key!r} is invalid: must be {VALUE_RULE}."
                )
        elif not val.strip():
            errors.add((name,), f"Template of dynamic label {key!r} may not be blank.")
        else:
            try:
                check_template(val, limits)
            except TemplateCompileError as exc:
                line = f" (line {exc.lineno})" if exc.lineno else ""
                errors.add(
                    (name,), f"Template of dynamic label {key!r} is invalid{line}: {exc.message}"
                )
        labels.append(Label(key, val))
    return labels


def _label_pair(item: Any) -> tuple[str | None, str | None]:
    if not isinstance(item, dict):
        return None, None
    key, value = item.get("key"), item.get("value")
    key_name = key.get("name") if isinstance(key, dict) else None
    value_name = value.get("name") if isinstance(value, dict) else None
    return (
        key_name if isinstance(key_name, str) else None,
        value_name if isinstance(value_name, str) else None,
    )


def _default_route(errors: Errors, value: Any) -> dict[str, Any] | None:
    path: tuple[str, ...] = ("default_route",)
    if value is None:
        errors.add(path, "This field may not be null.")
        return None
    if not isinstance(value, dict):
        errors.add(path, f"Expected an object, got {type_name(value)}.")
        return None
    reject_unknown(errors, path, value, DEFAULT_ROUTE_FIELDS, "default_route")
    changes: dict[str, Any] = {}
    if "escalation_chain_id" in value:
        changes["escalation_chain_id"] = optional_string(
            errors,
            (*path, "escalation_chain_id"),
            value["escalation_chain_id"],
            64,
            allow_blank=False,
        )
    if "slack" in value:
        changes["slack"] = parse_destination(errors, (*path, "slack"), value["slack"], "channel_id")
    for backend in ROUTE_BACKENDS:
        if backend in value:
            changes[backend] = parse_destination(errors, (*path, backend), value[backend], "id")
    return changes


def parse_destination(
    errors: Errors, path: tuple[str, ...], value: Any, id_field: str
) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(path, f"Expected an object with {id_field} and enabled, got {type_name(value)}.")
        return {}
    reject_unknown(errors, path, value, (id_field, "enabled"), path[-1])
    changes: dict[str, Any] = {}
    if id_field in value:
        changes[id_field] = optional_string(
            errors, (*path, id_field), value[id_field], 128, allow_blank=False
        )
    if "enabled" in value:
        enabled = value["enabled"]
        if enabled is not None and not isinstance(enabled, bool):
            errors.add((*path, "enabled"), f"Must be a boolean, got {type_name(enabled)}.")
        else:
            changes["enabled"] = bool(enabled)
    return changes
