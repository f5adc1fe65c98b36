"""Validation of route bodies (create and partial update), before anything is written.

Follows OnCall's route rules with these differences:

- ``routing_type: "labels"`` is supported: it needs a non-empty ``labels`` list (pairs checked
  like integration labels); its ``routing_regex`` is stored as null. Non-empty ``labels`` on a
  regex/jinja2 route, or a ``routing_regex`` on a labels route, is a field error instead of being
  dropped silently.
- The expression is checked against the route's *effective* type (the type sent, else the stored
  one), also when only the type changes: a PUT of ``{"routing_type": "jinja2"}`` checks the stored
  expression as a template (Grafana OnCall checks regex rules, or answers 500).
- Errors about the expression's content stay under ``non_field_errors`` as in Grafana OnCall, with
  the reason appended: ``"Regular expression is incorrect: <why>"``, ``"Jinja template is
  incorrect: line N: <why>"``, ``"Expression is too long. Maximum length: 1024 characters,
  current length: N"``. Presence and type errors of ``routing_regex`` are under ``routing_regex``.
- ``escalation_chain_id: null`` is accepted on update (detaches the chain); Grafana OnCall
  refuses it.
- The default route may keep ``routing_regex: null`` (it is ignored for matching anyway).
- Slack channel ids are not checked against a workspace (there is none); any id is stored.

A ``routing_type`` that is not one of the three names is a ``detail`` error raised at once, as in
Grafana OnCall; every other field error of the request is collected into one 400, and an invalid
``position`` value (< -1, > 2147483647, or -1 with ``manual_order``) is
``{"detail": "Invalid value for position field"}`` after them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.domain.errors import Refused
from ingest.domain.integration_input import parse_destination, parse_labels
from ingest.domain.validation import Errors, optional_string, type_name
from ingest.models import ROUTE_BACKENDS, Label, Route
from templates_engine import InvalidRegex, Limits, TemplateCompileError, check_regex, check_template

ROUTING_TYPES = ("regex", "jinja2", "labels")
MAX_EXPRESSION = 1024
MAX_POSITION = 2_147_483_647
NOT_INTEGER = "A valid integer is required."


@dataclass
class RouteInput:
    """The route's resulting matching rule plus the other changes a request asked for."""

    errors: Errors
    routing_type: str = "regex"
    routing_regex: str | None = None
    labels: list[Label] = field(default_factory=list)
    integration_id: str | None = None
    escalation_chain_id: str | None = None
    chain_sent: bool = False
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict)
    position: int | None = None
    manual_order: bool = False
    bad_position: bool = False


def parse_route(body: dict[str, Any], existing: Route | None, limits: Limits) -> RouteInput:
    """Check ``body``; field errors are collected in ``result.errors``, not raised.

    The caller adds its own errors (unknown integration or chain) and raises them all at once.
    """
    result = RouteInput(errors=Errors())
    errors = result.errors
    result.routing_type = _routing_type(body, existing)
    if existing is None:
        if "integration_id" not in body:
            errors.add(("integration_id",), "This field is required.")
        else:
            result.integration_id = optional_string(
                errors, ("integration_id",), body["integration_id"], 64, allow_null=False
            )
        if "escalation_chain_id" not in body:
            errors.add(("escalation_chain_id",), "This field is required.")
    if "escalation_chain_id" in body:
        result.chain_sent = True
        result.escalation_chain_id = optional_string(
            errors, ("escalation_chain_id",), body["escalation_chain_id"], 64, allow_blank=False
        )
    _rule(body, existing, limits, result)
    if "slack" in body:
        result.destinations["slack"] = parse_destination(
            errors, ("slack",), body["slack"], "channel_id"
        )
    for backend in ROUTE_BACKENDS:
        if backend in body:
            result.destinations[backend] = parse_destination(
                errors, (backend,), body[backend], "id"
            )
    _position(body, result)
    return result


def _routing_type(body: dict[str, Any], existing: Route | None) -> str:
    if "routing_type" not in body:
        return existing.routing_type if existing is not None else "regex"
    value = body["routing_type"]
    if value not in ROUTING_TYPES:
        raise Refused("Invalid route type")
    return str(value)


def _rule(body: dict[str, Any], existing: Route | None, limits: Limits, out: RouteInput) -> None:
    """The matching rule: ``routing_regex`` for regex/jinja2, ``labels`` for labels."""
    errors = out.errors
    sent_labels = (
        parse_labels(errors, "labels", body["labels"], limits) if "labels" in body else None
    )
    if out.routing_type == "labels":
        _labels_rule(body, existing, sent_labels, out)
        return
    if sent_labels:
        errors.add(("labels",), 'Only used when routing_type is "labels"; send [] or omit it.')
    is_default = existing is not None and existing.is_default
    if "routing_regex" in body:
        value = body["routing_regex"]
        if value is None and is_default:
            return
        expression = optional_string(
            errors, ("routing_regex",), value, 10**6, allow_null=False, allow_blank=False
        )
        if expression is None:
            return
        expression = expression.strip()
    elif existing is None:
        errors.add(("routing_regex",), "This field is required.")
        return
    else:
        expression = existing.routing_regex
        type_changed = "routing_type" in body
        if expression is None:
            if type_changed and not is_default:
                errors.add(("routing_regex",), "This field is required.")
            return
        if not type_changed:
            out.routing_regex = expression
            return
    out.routing_regex = expression
    _check_expression(errors, out.routing_type, expression, limits)


def _labels_rule(
    body: dict[str, Any], existing: Route | None, sent: list[Label] | None, out: RouteInput
) -> None:
    if body.get("routing_regex") is not None:
        out.errors.add(("routing_regex",), 'Not used when routing_type is "labels"; send null.')
    if "labels" in body and sent is None:
        return  # not a list: already reported
    labels = sent if sent is not None else (existing.labels if existing is not None else [])
    if not labels:
        out.errors.add(("labels",), 'routing_type "labels" needs a non-empty list of label pairs.')
    out.labels = labels


def _check_expression(errors: Errors, routing_type: str, expression: str, limits: Limits) -> None:
    where = ("non_field_errors",)
    if len(expression) > MAX_EXPRESSION:
        errors.add(
            where,
            f"Expression is too long. Maximum length: {MAX_EXPRESSION} characters, "
            f"current length: {len(expression)}",
        )
        return
    if routing_type == "regex":
        try:
            check_regex(expression)
        except InvalidRegex as exc:
            reason = exc.message.removeprefix("Invalid regex: ")
            errors.add(where, f"Regular expression is incorrect: {reason}")
        return
    try:
        check_template(expression, limits)
    except TemplateCompileError as exc:
        line = f"line {exc.lineno}: " if exc.lineno else ""
        errors.add(where, f"Jinja template is incorrect: {line}{exc.message}")


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit() and text.count("-") <= 1 and len(text) <= 30:
            return int(text)
    return None


def _position(body: dict[str, Any], out: RouteInput) -> None:
    manual = body.get("manual_order", False)
    if isinstance(manual, str) and manual.lower() in ("true", "false"):
        manual = manual.lower() == "true"
    if not isinstance(manual, bool):
        out.errors.add(("manual_order",), f"Must be a boolean, got {type_name(manual)}.")
        manual = False
    out.manual_order = manual
    if "position" not in body:
        return
    position = _integer(body["position"])
    if position is None:
        out.errors.add(("position",), NOT_INTEGER)
        return
    out.position = position
    if position < -1 or position > MAX_POSITION or (position == -1 and manual):
        out.bad_position = True
