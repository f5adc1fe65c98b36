"""Validation of a webhook body (create, PUT, PATCH, or an importer's dict) into stored fields.

``parse(body, current, settings, integrations)`` returns the fields to store (the keys to change
on update) or raises one 400 with every field error. ``current`` is the stored webhook (None on
create); ``integrations`` is the set of the organization's live integration ids.

Rules (differences from Grafana OnCall are listed in ``docs/webhooks.md``):

- ``name`` (required on create; 1-100 characters, unique in the org), ``url`` and ``http_method``
  and ``trigger_type`` are required on create; every field is optional on PUT and PATCH, and a
  field that is not sent keeps its value (``integration_filter`` and ``team`` included).
- ``url``, ``data``, ``headers``, ``trigger_template`` are templates and must compile. A ``url``
  without template markup must already be a usable http(s) URL: not this service's own base URL,
  not a refused literal address (``ingest.netguard``). ``headers`` without markup must be a JSON
  object. ``""`` stores null for the optional templates.
- ``http_method``: ``GET POST PUT DELETE OPTIONS PATCH`` (case-sensitive); ``trigger_type``: one of
  ``ingest.webhook.TRIGGER_TYPES``.
- Secrets (``password``, ``authorization_header``, ``signing_secret``): a string or null; the mask
  ``****************`` keeps the stored value, so a GET body can be sent back as is.
- ``is_webhook_enabled`` (null means true), ``forward_all`` (not null): booleans.
- ``integration_filter``: null or a list of the org's integration ids (null and ``[]`` clear it).
- ``preset``: only null (presets are not supported); unknown keys are ignored.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import orjson

from ingest.domain.integration_input import compile_template
from ingest.domain.validation import Errors, optional_string, type_name
from ingest.netguard import url_problem
from ingest.settings import Settings
from ingest.webhook import HTTP_METHODS, SECRET_FIELDS, SECRET_MASK, TRIGGER_TYPES, Webhook
from templates_engine import Limits

MAX_NAME = 100
SECRET_LIMITS = {"password": 1000, "authorization_header": 2000, "signing_secret": 1000}
TEMPLATE_FIELDS = ("url", "data", "headers", "trigger_template")
REQUIRED_ON_CREATE = ("name", "url", "http_method", "trigger_type")


def _has_markup(source: str) -> bool:
    return "{{" in source or "{%" in source or "{#" in source


def _boolean(errors: Errors, name: str, value: Any, allow_null: bool) -> bool | None:
    if value is None and allow_null:
        return True
    if value is None:
        errors.add((name,), "This field may not be null.")
    elif not isinstance(value, bool):
        errors.add((name,), f"Must be a valid boolean, got {type_name(value)}.")
    return value if isinstance(value, bool) else None


def _template(
    errors: Errors, name: str, value: Any, settings: Settings, limits: Limits
) -> str | None:
    required = name == "url"
    text = optional_string(
        errors, (name,), value, settings.template_max_length, not required, not required
    )
    if not text:
        return None
    before = bool(errors)
    compile_template(errors, (name,), text, limits)
    if bool(errors) != before or _has_markup(text):
        return text
    if name == "url":
        problem = url_problem(text.strip(), settings.own_urls, settings.webhook_allowed_networks)
        if problem:
            errors.add((name,), f"Invalid URL: {problem}.")
    elif name == "headers":
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            errors.add((name,), "Must be a JSON object (or a template that renders one).")
    return text


def _choice(errors: Errors, name: str, value: Any, choices: tuple[str, ...]) -> str | None:
    if value not in choices or not isinstance(value, str):
        errors.add((name,), f"Must be one of {', '.join(repr(c) for c in choices)}.")
        return None
    return value


def _secret(errors: Errors, name: str, value: Any, current: Webhook | None) -> str | None:
    if value == SECRET_MASK:
        return getattr(current, name) if current is not None else None
    return optional_string(errors, (name,), value, SECRET_LIMITS[name])


def _integration_filter(errors: Errors, value: Any, integrations: Set[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(("integration_filter",), f"Expected a list of items, got {type_name(value)}.")
        return []
    chosen: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in integrations:
            errors.add(("integration_filter",), f"Integration {item!r} does not exist.")
        elif item not in chosen:
            chosen.append(item)
    return chosen


def parse(
    body: dict[str, Any], current: Webhook | None, settings: Settings, integrations: Set[str]
) -> dict[str, Any]:
    """The fields to store; raises every field error at once (a 400 through the API)."""
    errors = Errors()
    fields: dict[str, Any] = {}
    limits = Limits(template_length=settings.template_max_length)
    if current is None:
        for required in REQUIRED_ON_CREATE:
            if required not in body:
                errors.add((required,), "This field is required.")
    if "name" in body:
        title = optional_string(errors, ("name",), body["name"], MAX_NAME, False, False)
        if title is not None:
            fields["name"] = title.strip()
    for name in TEMPLATE_FIELDS:
        if name in body:
            fields[name] = _template(errors, name, body[name], settings, limits)
    for name, choices in (("http_method", HTTP_METHODS), ("trigger_type", TRIGGER_TYPES)):
        if name in body:
            fields[name] = _choice(errors, name, body[name], choices)
    for name in SECRET_FIELDS:
        if name in body:
            fields[name] = _secret(errors, name, body[name], current)
    if "username" in body:
        fields["username"] = optional_string(errors, ("username",), body["username"], 100)
    if "is_webhook_enabled" in body:
        enabled = _boolean(errors, "is_webhook_enabled", body["is_webhook_enabled"], True)
        fields["is_webhook_enabled"] = enabled
    if "forward_all" in body:
        fields["forward_all"] = _boolean(errors, "forward_all", body["forward_all"], False)
    if "team" in body:
        team = None if body["team"] == "null" else body["team"]
        fields["team_id"] = optional_string(errors, ("team",), team, 64, allow_blank=False)
    if "integration_filter" in body:
        chosen = _integration_filter(errors, body["integration_filter"], integrations)
        fields["integration_filter"] = chosen
    if body.get("preset") is not None:
        errors.add(("preset",), "Presets are not supported; omit this field or send null.")
    errors.raise_if_any()
    return fields
