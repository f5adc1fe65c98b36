"""Opsgenie Alert API: ``POST /v2/alerts``, close, acknowledge, and the message/description updates.

Anything that sends to Opsgenie (Alertmanager's ``opsgenie_configs`` with ``api_url``, Grafana's
Opsgenie contact point, scripts) sends here by changing the base URL and the key: the key
(``Authorization: GenieKey <key>``) is the link token of an ``opsgenie`` integration.
``POST /integrations/v1/opsgenie/<token>/`` takes a create body too, like every other link.

Every call becomes one queued alert, in the order received, so that an update or close sent just
after its create's 202 applies to the group the create opens. The payload is the request's body
with ``action`` (``create``, ``close``, ``acknowledge``, ``message`` or ``description``) and
``alias`` set; a create without an alias gets a generated one (Opsgenie does the same). The
``opsgenie`` default templates group by ``alias`` and take resolve and acknowledge from ``action``.

Create fields are normalised rather than refused where Opsgenie senders are known to overrun
(Grafana OnCall's advice): ``message`` is cut to 130 characters, ``description`` to 15,000,
``entity`` to 512, ``user`` to 100, ``note`` to 25,000, ``source`` to 2,048 (not Opsgenie's 100:
it is usually a URL, our source link); tags and actions are trimmed, emptied ones dropped, cut to
50 characters and to 20 tags / 10 actions; ``details`` values that are not strings become JSON
text; ``priority`` defaults to ``P3``. A missing or blank ``message``, or a field of the wrong
type, is a 422 naming the field. A ``PUT .../description`` without one (Alertmanager sends ``{}``
for an empty description) is an empty description.

``identifierType`` is ``id`` (the default), ``tiny`` or ``alias``. An ``id`` or ``tiny`` is an
alert group id here (there are no separate tiny ids); the call is applied through that group's
alias. Actions on an unknown, closed or foreign identifier answer 202 and change nothing, as
Opsgenie's asynchronous actions do. Answers: 202 ``{result, took, requestId}`` (``X-Request-ID``
too); 400 for unparsable JSON; 401 for a missing or unknown key; 422; 429 and 503 with
``Retry-After`` (Alertmanager retries those two and nothing else).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from ingest.api import context, links
from ingest.api.body import parse_json
from ingest.api.errors import ApiError, json_response, outage_body
from ingest.domain.validation import type_name
from ingest.models import Integration
from ingest.queue import EnqueueStatus
from ingest.store import groups

TYPE = "opsgenie"
STARTED = web.RequestKey("opsgenie_started", float)
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
TRUNCATE = {
    "message": 130,
    "description": 15000,
    "entity": 512,
    "user": 100,
    "note": 25000,
    "source": 2048,
    "priority": 50,
}
LISTS = {"tags": (20, 50), "actions": (10, 50)}
IDENTIFIER_TYPES = ("id", "tiny", "alias")
ACTIONS = ("close", "acknowledge")
UPDATES = ("message", "description")


def _meta(request: web.Request) -> tuple[float, str]:
    started = request.get(STARTED, time.perf_counter())
    return round(time.perf_counter() - started, 3), str(uuid.uuid4())


Answer = tuple[int, dict[str, Any], dict[str, str]]


def answer(
    request: web.Request, status: int, body: dict[str, Any], headers: dict[str, str]
) -> Answer:
    """Opsgenie's envelope: ``took`` (seconds) and ``requestId`` (also ``X-Request-ID``)."""
    took, request_id = _meta(request)
    return (
        status,
        {**body, "took": took, "requestId": request_id},
        {
            **headers,
            "X-Request-ID": request_id,
        },
    )


def error(request: web.Request, status: int, message: str, **extra: Any) -> ApiError:
    headers: dict[str, str] = extra.pop("headers", {})
    return ApiError(*answer(request, status, {"message": message, **extra}, headers))


def not_processable(request: web.Request, errors: dict[str, str]) -> ApiError:
    return error(
        request, 422, "Request body is not processable. Please check the errors.", errors=errors
    )


def accepted(request: web.Request) -> web.Response:
    status, body, headers = answer(request, 202, {"result": "Request will be processed"}, {})
    return json_response(body, status, headers)


async def read_body(request: web.Request, required: bool) -> dict[str, Any]:
    request[STARTED] = time.perf_counter()
    raw = await request.read()
    if not raw.strip():
        if required:
            raise not_processable(request, {"message": "Message can not be empty."})
        return {}
    try:
        body = parse_json(raw)
    except ApiError as exc:
        raise error(request, 400, f"Invalid JSON body: {exc.body.get('detail', '')}") from None
    if not isinstance(body, dict):
        raise not_processable(request, {"body": f"must be a JSON object, not {type_name(body)}"})
    return body


def _text(body: dict[str, Any], field: str, errors: dict[str, str]) -> None:
    value = body.get(field)
    if value is None:
        return
    if not isinstance(value, str):
        errors[field] = f"must be a string, not {type_name(value)}"
    elif field in TRUNCATE:
        body[field] = value[: TRUNCATE[field]]


def _strings(body: dict[str, Any], field: str, errors: dict[str, str]) -> None:
    value = body.get(field)
    if value is None:
        return
    most, longest = LISTS[field]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[field] = "must be an array of strings"
        return
    body[field] = [v.strip()[:longest] for v in value if v.strip()][:most]


def normalise_create(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """The create body as queued (see the module docstring); raises 422 naming the fields."""
    body = dict(body)
    errors: dict[str, str] = {}
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        errors["message"] = f"must be a string, not {type_name(message)}"
    elif not message or not message.strip():
        errors["message"] = "Message can not be empty."
    for field in ("alias", *TRUNCATE):
        _text(body, field, errors)
    for field in LISTS:
        _strings(body, field, errors)
    details = body.get("details")
    if details is not None and not isinstance(details, dict):
        errors["details"] = f"must be an object, not {type_name(details)}"
    elif details:
        body["details"] = {
            str(k): v if isinstance(v, str) else orjson.dumps(v).decode()
            for k, v in details.items()
        }
    for field in ("responders", "visibleTo"):
        value = body.get(field)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ):
            errors[field] = "must be an array of objects"
    if errors:
        raise not_processable(request, errors)
    priority = body.get("priority") or "P3"
    body["priority"] = priority.upper() if priority.upper() in PRIORITIES else priority
    body["alias"] = body.get("alias") or uuid.uuid4().hex
    body["action"] = "create"
    return body


async def authenticate(request: web.Request) -> tuple[Integration, str]:
    """The ``opsgenie`` integration whose link token is the ``GenieKey``; else 401."""
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "geniekey" or not key:
        raise error(request, 401, "Could not authenticate: send 'Authorization: GenieKey <key>'.")
    found = await links.find_integration(request, key)
    if found is None or found.type != TYPE:
        raise error(request, 401, "Could not authenticate: unknown key.")
    return found, key


def unavailable(request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
    """Opsgenie's body for a 503; ``ingest.api.errors`` answers it with ``Retry-After``."""
    message = "Temporarily unable to accept requests; retry later."
    _, body, headers = answer(request, 503, {"message": message}, {})
    return body, headers


async def enqueue(
    request: web.Request, integration: Integration, key: str, payload: dict[str, Any]
) -> web.Response:
    result = await links.enqueue(request, integration, key, [payload])
    if result.status == EnqueueStatus.ACCEPTED:
        return accepted(request)
    if result.status == EnqueueStatus.GONE:
        raise error(request, 401, "Could not authenticate: unknown key.")
    scope = links.limit_scope(result.status)
    message = f"Rate limit of this {scope} exceeded; retry in {result.retry_after} s."
    raise error(request, 429, message, headers={"Retry-After": str(result.retry_after)})


@outage_body(unavailable)
async def create(request: web.Request) -> web.Response:
    """``POST /v2/alerts``."""
    request[STARTED] = time.perf_counter()
    integration, key = await authenticate(request)
    body = normalise_create(request, await read_body(request, required=True))
    return await enqueue(request, integration, key, body)


@outage_body(unavailable)
async def post_link(request: web.Request) -> web.StreamResponse:
    """``POST /integrations/v1/opsgenie/<token>/``: a create, the integration named by the URL."""
    found = await links.link_integration(request)
    if isinstance(found, web.Response):
        return found
    body = normalise_create(request, await read_body(request, required=True))
    return await enqueue(request, found, request.match_info["token"], body)


async def alias_of(request: web.Request, integration: Integration, identifier: str) -> str | None:
    """The alias of an open group of ``integration`` with id ``identifier``; None when none."""
    redis = context.redis(request)
    group = await groups.get_group(redis, identifier)
    if group is None or group.get("integration_id") != integration.id:
        return None
    if group.get("resolved_at") or not group.get("last_alert_id"):
        return None
    found = await groups.alerts(redis, [group["last_alert_id"]])
    payload = found[0].get("payload") if found else None
    alias = payload.get("alias") if isinstance(payload, dict) else None
    return alias if isinstance(alias, str) and alias else None


@outage_body(unavailable)
async def act(request: web.Request) -> web.Response:
    """``POST /v2/alerts/{identifier}/{close|acknowledge}``, ``PUT .../{message|description}``."""
    request[STARTED] = time.perf_counter()
    integration, key = await authenticate(request)
    action = request.match_info["action"]
    id_type = request.query.get("identifierType", "id")
    if id_type not in IDENTIFIER_TYPES:
        raise not_processable(request, {"identifierType": "must be one of id, tiny, alias"})
    body = await read_body(request, required=False)
    errors: dict[str, str] = {}
    if action == "message" and not (isinstance(body.get("message"), str) and body["message"]):
        errors["message"] = "Message can not be empty."
    fields = (action,) if action in UPDATES else ("user", "source", "note")
    for field in fields:
        _text(body, field, errors)
    if errors:
        raise not_processable(request, errors)
    identifier = request.match_info["identifier"]
    alias = identifier if id_type == "alias" else await alias_of(request, integration, identifier)
    if alias is None:
        return accepted(request)  # unknown to us: Opsgenie also answers 202 and does nothing
    payload = {k: body[k] for k in fields if k in body}
    if action == "description":
        payload.setdefault("description", "")
    return await enqueue(request, integration, key, {**payload, "action": action, "alias": alias})


def add_routes(app: web.Application, add: Any) -> None:
    """Before ``links.add_routes``: this link route must win over the generic one."""
    add(app, "POST", "/v2/alerts", create)
    add(app, "POST", "/v2/alerts/{identifier}/{action:close|acknowledge}", act)
    add(app, "PUT", "/v2/alerts/{identifier}/{action:message|description}", act)
    add(app, "POST", "/integrations/v1/{type:opsgenie}/{token}", post_link)
