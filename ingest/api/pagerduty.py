"""PagerDuty Events API v2: ``POST /v2/enqueue`` and ``POST /v2/change/enqueue``.

Anything that sends to PagerDuty (Alertmanager's ``pagerduty_configs`` with ``url``, Grafana's
PagerDuty contact point, scripts) sends here by changing the URL: the ``routing_key`` is the link
token of a ``pagerduty`` integration. ``POST /integrations/v1/pagerduty/<token>/`` takes the same
body, its ``routing_key`` then optional (the URL names the integration, as on every link).

Answers are PagerDuty's, because senders act on them: **202** ``{status, message, dedup_key}``;
**400** ``invalid event`` with every reason in ``errors`` (an unknown ``routing_key`` included);
**400** ``Unrecognized object`` for a body that is not a JSON object; **429** + ``Retry-After``
when a rate limit is hit and **503** + ``Retry-After`` when Redis is unreachable (Alertmanager
retries both and nothing else). The key's length is not checked: our tokens are not PagerDuty's
32 characters, and Alertmanager does not check it either.

An event is one alert: its payload is the event without ``routing_key`` (a secret), with
``dedup_key`` filled in (a generated one when a trigger has none; it is answered, so the sender can
resolve later). The ``pagerduty`` default templates group by ``dedup_key`` and take resolve and
acknowledge from ``event_action``. Acknowledge and resolve are accepted whatever the key, as
PagerDuty does (they are dropped later when no group matches), so a sender never re-sends them.
Change events never become alert groups: they are stored on the integration
(``ingest.store.change_events``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from ingest.api import context, links
from ingest.api.body import parse_json
from ingest.api.errors import ApiError, json_response, outage_body
from ingest.models import Integration
from ingest.queue import EnqueueResult, EnqueueStatus
from ingest.store import keys
from ingest.store.change_events import ChangeEvents

TYPE = "pagerduty"
CHANGE_EVENTS = web.AppKey("change_events", ChangeEvents)
MAX_EVENT_BYTES = 512 * 1024
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
INVALID = {"status": "invalid event", "message": "Event object is invalid"}
UNAVAILABLE = {
    "status": "unavailable",
    "message": "Temporarily unable to accept events; retry later.",
}
UNKNOWN_KEY = "'routing_key' is not the key of any integration"
UNRECOGNIZED = {
    "status": "Unrecognized object",
    "message": "Event object format is unrecognized",
    "errors": ["JSON parse error"],
}


def invalid(errors: list[str]) -> ApiError:
    return ApiError(400, {**INVALID, "errors": errors})


async def read_event(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object whatever its content type (senders differ); else a 400."""
    raw = await request.read()
    if len(raw) > MAX_EVENT_BYTES:
        raise invalid([f"Event is larger than {MAX_EVENT_BYTES} bytes"])
    try:
        body = parse_json(raw)
    except ApiError:
        raise ApiError(400, UNRECOGNIZED) from None
    if not isinstance(body, dict):
        raise ApiError(400, UNRECOGNIZED)
    return body


def _string(errors: list[str], obj: dict[str, Any], name: str, field: str, limit: int = 0) -> None:
    """An optional string field; ``limit`` > 0 caps its length."""
    value = obj.get(field)
    if value is None:
        return
    if not isinstance(value, str):
        errors.append(f"'{name}' must be a string")
    elif limit and len(value) > limit:
        errors.append(f"'{name}' is longer than {limit} characters")


def _required(
    errors: list[str], obj: dict[str, Any], name: str, field: str, limit: int = 0
) -> None:
    value = obj.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.append(f"'{name}' is missing or blank")
    else:
        _string(errors, obj, name, field, limit)


def _timestamp(errors: list[str], obj: dict[str, Any], name: str) -> None:
    value = obj.get("timestamp")
    if value is None:
        return
    try:
        datetime.fromisoformat(value if isinstance(value, str) else "")
    except ValueError:
        errors.append(f"'{name}' must be an ISO 8601 date-time")


def _object(errors: list[str], obj: dict[str, Any], name: str, field: str) -> dict[str, Any]:
    value = obj.get(field)
    if value is not None and not isinstance(value, dict):
        errors.append(f"'{name}' must be an object")
        return {}
    return value or {}


def _list_of(errors: list[str], body: dict[str, Any], field: str, key: str) -> None:
    """``images`` (``src``, HTTPS) and ``links`` (``href``): lists of objects with text fields."""
    value = body.get(field)
    if value is None:
        return
    if not isinstance(value, list):
        errors.append(f"'{field}' must be an array")
        return
    for i, item in enumerate(value):
        name = f"{field}[{i}]"
        if not isinstance(item, dict):
            errors.append(f"'{name}' must be an object")
            continue
        _required(errors, item, f"{name}.{key}", key)
        for other in ("href", "alt", "text"):
            if other != key:
                _string(errors, item, f"{name}.{other}", other)
        src = item.get("src")
        if key == "src" and isinstance(src, str) and src and not src.startswith("https://"):
            errors.append(f"'{name}.src' must be an HTTPS URL")


def _common(errors: list[str], body: dict[str, Any], key_required: bool) -> dict[str, Any]:
    """Checks shared by alert and change events; returns ``payload`` (``{}`` if absent)."""
    if key_required:
        _required(errors, body, "routing_key", "routing_key")
    else:
        _string(errors, body, "routing_key", "routing_key")
    _list_of(errors, body, "images", "src")
    _list_of(errors, body, "links", "href")
    return _object(errors, body, "payload", "payload")


def event_errors(body: dict[str, Any], key_required: bool = True) -> list[str]:
    """Every reason an alert event is invalid (empty: valid)."""
    errors: list[str] = []
    payload = _common(errors, body, key_required)
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of " + ", ".join(ACTIONS))
    if action == "trigger":
        _string(errors, body, "dedup_key", "dedup_key", MAX_DEDUP_KEY)
    else:
        _required(errors, body, "dedup_key", "dedup_key", MAX_DEDUP_KEY)
    _string(errors, body, "client", "client")
    _string(errors, body, "client_url", "client_url")
    if action != "trigger":
        return errors
    if "payload" not in body or body["payload"] is None:
        errors.append("'payload' is missing")
        return errors
    _required(errors, payload, "payload.summary", "summary", MAX_SUMMARY)
    _required(errors, payload, "payload.source", "source")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' must be one of " + ", ".join(SEVERITIES))
    for field in ("component", "group", "class"):
        _string(errors, payload, f"payload.{field}", field)
    _timestamp(errors, payload, "payload.timestamp")
    _object(errors, payload, "payload.custom_details", "custom_details")
    return errors


def change_errors(body: dict[str, Any]) -> list[str]:
    """Every reason a change event is invalid (empty: valid)."""
    errors: list[str] = []
    payload = _common(errors, body, key_required=True)
    if not isinstance(body.get("payload"), dict):
        errors.append("'payload' is missing")
        return errors
    _required(errors, payload, "payload.summary", "summary", MAX_SUMMARY)
    _string(errors, payload, "payload.source", "source")
    _timestamp(errors, payload, "payload.timestamp")
    _object(errors, payload, "payload.custom_details", "custom_details")
    return errors


async def integration_of(request: web.Request, key: str) -> Integration:
    """The ``pagerduty`` integration whose link token is ``key``; else 400."""
    found = await links.find_integration(request, key)
    if found is None:
        raise invalid([UNKNOWN_KEY])
    if found.type != TYPE:
        raise invalid([f"'routing_key' is the key of a {links.title(found.type)} integration"])
    return found


def unavailable(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """PagerDuty's body for a 503; ``ingest.api.errors`` answers it with ``Retry-After``."""
    return UNAVAILABLE, {}


def throttled(reason: str, retry_after: int) -> ApiError:
    return ApiError(
        429,
        {
            "status": "throttle event",
            "message": "Requests for this integration are arriving too quickly; retry later.",
            "errors": [reason],
        },
        {"Retry-After": str(retry_after)},
    )


def refused(result: EnqueueResult) -> ApiError:
    """The answer to an enqueue that was not accepted: 429 (rate limit) or 400 (key gone)."""
    if result.status == EnqueueStatus.GONE:
        return invalid([UNKNOWN_KEY])
    scope = links.limit_scope(result.status)
    reason = f"Rate limit of this {scope} exceeded; retry in {result.retry_after} s."
    return throttled(reason, result.retry_after)


async def accept(
    request: web.Request, integration: Integration, key: str, body: dict[str, Any]
) -> web.Response:
    payload = {k: v for k, v in body.items() if k != "routing_key"}
    if not payload.get("dedup_key"):
        payload["dedup_key"] = uuid.uuid4().hex
    result = await links.enqueue(request, integration, key, [payload])
    if result.status != EnqueueStatus.ACCEPTED:
        raise refused(result)
    body = {"status": "success", "message": "Event processed", "dedup_key": payload["dedup_key"]}
    return json_response(body, 202)


async def _checked(
    request: web.Request, errors_of: Callable[[dict[str, Any]], list[str]]
) -> tuple[dict[str, Any], Integration, str]:
    """A valid event of ``POST /v2/...``, its integration (by ``routing_key``) and that key."""
    body = await read_event(request)
    errors = errors_of(body)
    if errors:
        raise invalid(errors)
    key = body["routing_key"]
    return body, await integration_of(request, key), key


@outage_body(unavailable)
async def enqueue_event(request: web.Request) -> web.Response:
    """``POST /v2/enqueue``: the integration named by ``routing_key``."""
    body, integration, key = await _checked(request, event_errors)
    return await accept(request, integration, key, body)


@outage_body(unavailable)
async def post_link(request: web.Request) -> web.StreamResponse:
    """``POST /integrations/v1/pagerduty/<token>/``: the integration named by the URL."""
    found = await links.link_integration(request)
    if isinstance(found, web.Response):
        return found
    body = await read_event(request)
    errors = event_errors(body, key_required=False)
    if errors:
        raise invalid(errors)
    return await accept(request, found, request.match_info["token"], body)


@outage_body(unavailable)
async def enqueue_change(request: web.Request) -> web.Response:
    """``POST /v2/change/enqueue``: stored on the integration, never an alert group."""
    body, integration, key = await _checked(request, change_errors)
    event = {k: v for k, v in body.items() if k != "routing_key"}
    own, org = links.limits_of(integration, request)
    limits = [
        (keys.rate_limit("integration", integration.id), own),
        (keys.rate_limit("organization", integration.org_id), org),
    ]
    verdict = await request.app[context.LIMITER].hit(limits, int(time.time() * 1000))
    stored = verdict.allowed and await request.app[CHANGE_EVENTS].add(integration.id, key, event)
    if not verdict.allowed:
        raise throttled(
            f"Rate limit exceeded; retry in {verdict.retry_after} s.", verdict.retry_after
        )
    if not stored:
        raise invalid([UNKNOWN_KEY])
    return json_response({"status": "success", "message": "Change event processed"}, 202)


def add_routes(app: web.Application, add: Any) -> None:
    """Before ``links.add_routes``: this link route must win over the generic one."""
    add(app, "POST", "/v2/enqueue", enqueue_event)
    add(app, "POST", "/v2/change/enqueue", enqueue_change)
    add(app, "POST", "/integrations/v1/{type:pagerduty}/{token}", post_link)
