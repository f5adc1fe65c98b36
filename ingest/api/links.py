"""The integration link endpoints: where monitoring systems POST alerts.

``POST /integrations/v1/<type>/<token>/`` answers ``200 "Ok."`` only after Redis acknowledged
the enqueue (see ``ingest.queue``). No template is rendered here. The other answers:

- unknown or deleted token: ``403`` text ``Integration key was not found. Permission denied.``;
- the URL's type differs from the integration's: ``400`` naming both types;
- a form body (``application/x-www-form-urlencoded``, what ``curl --data`` sends) that is a JSON
  object, as sent or URL-encoded as one key without a value, is read as that JSON, and the
  alert's trace says so (``notes``);
- a file upload, malformed JSON or no payload: ``400``; an unsupported content type: ``415``;
  a body over ``ALERT_INGEST_MAX_BODY_BYTES``: ``413``;
- an Alertmanager-style type with a body that is not a JSON object: ``400``;
- a rate limit (integration, then organization) exceeded: ``429`` with ``Retry-After``, or ``503``
  for Alertmanager-style senders, which drop a notification answered with a 4xx;
- Redis unreachable: ``503`` with ``Retry-After`` (``ingest.api.errors``), never a false ``200``.

The PagerDuty and Opsgenie dialects (``ingest.api.pagerduty``, ``ingest.api.opsgenie``) share
``find_integration``, ``link_integration`` and ``enqueue``.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ingest import metrics
from ingest.api import context, rejections
from ingest.api.body import FORM_TYPES, FileUploadError, is_json_type, parse_json, read_form
from ingest.api.errors import ApiError, detail, json_response
from ingest.link_cache import LinkCache
from ingest.models import INTEGRATION_TYPES, Integration
from ingest.queue import Enqueuer, EnqueueResult, EnqueueStatus
from ingest.settings import Rate, parse_rate
from ingest.store import keys

LINK_CACHE = web.AppKey("link_cache", LinkCache)
ENQUEUER = web.AppKey("enqueuer", Enqueuer)
NOT_FOUND_TEXT = "Integration key was not found. Permission denied."
OK_BODY = b'"Ok."'
ACCEPTED_BY_TYPE = {kind: metrics.ALERTS_ACCEPTED.labels(kind) for kind in INTEGRATION_TYPES}


def text(status: int, body: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=body, headers=headers)


def title(slug: str) -> str:
    kind = INTEGRATION_TYPES.get(slug)
    return kind.title if kind else slug


async def find_integration(request: web.Request, token: str) -> Integration | None:
    """The live integration of a link token (cached briefly). Redis errors propagate: the error
    middleware answers them (503)."""
    found = await request.app[LINK_CACHE].get(token)
    if found is not None:
        request[rejections.INTEGRATION_ID] = found.id  # for the rejection log
    return found


async def _integration(request: web.Request) -> Integration | web.Response:
    found = await find_integration(request, request.match_info["token"])
    if found is None:
        return text(403, NOT_FOUND_TEXT)
    return found


URLENCODED = "application/x-www-form-urlencoded"
JSON_AS_FORM_NOTE = (
    f"The body came as a form ({URLENCODED}, what curl --data sends) but is a JSON object: "
    "it was read as JSON."
)


def json_object(raw: bytes) -> dict[str, Any] | None:
    """``raw`` as a JSON object, or None when it is not one."""
    if not raw.lstrip().startswith(b"{"):
        return None
    try:
        value = parse_json(raw)
    except ApiError:
        return None
    return value if isinstance(value, dict) else None


async def read_form_or_json(request: web.Request, notes: list[str]) -> Any:
    """A form body; one that is a JSON object is that JSON, with a note for the trace.

    ``curl --data '{...}'`` sends JSON as a form without encoding it: the raw body is tried
    first, because a form parser would split it at ``&`` and ``=`` and turn ``+`` into spaces.
    A JSON object URL-encoded as a form's only key, with no value, is read as JSON too.
    """
    if request.content_type == URLENCODED:
        found = json_object(await request.read())
        if found is not None:
            notes.append(JSON_AS_FORM_NOTE)
            return found
    form = await read_form(request)
    if len(form) == 1 and "" in form.values():
        [key] = form
        found = json_object(key.encode())
        if found is not None:
            notes.append(JSON_AS_FORM_NOTE)
            return found
    return form


async def read_payload(request: web.Request, notes: list[str] | None = None) -> Any:
    """Parse the body per the link table; raises ApiError for 400/413/415 rows. How the body was
    read, when not as its content type says, is appended to ``notes``."""
    ctype = request.content_type if "Content-Type" in request.headers else ""
    if ctype in FORM_TYPES:
        return await read_form_or_json(request, [] if notes is None else notes)
    raw = await request.read()
    metrics.BODY_BYTES.observe(len(raw))
    if not raw:
        return {}
    if is_json_type(ctype):
        return parse_json(raw)
    raise detail(415, f'Unsupported media type "{ctype}" in request.')


def split(integration: Integration, payload: Any) -> list[Any]:
    """One payload per alert: ``grafana`` splits ``alerts[]``; v2 Alertmanager types get counts."""
    if integration.type == "grafana" and isinstance(payload, dict):
        alerts = payload.get("alerts")
        if isinstance(alerts, list):
            return list(alerts)
    if INTEGRATION_TYPES[integration.type].alertmanager_style and "numFiring" not in payload:
        alerts = payload.get("alerts")
        items = alerts if isinstance(alerts, list) else []
        statuses = [a.get("status") for a in items if isinstance(a, dict)]
        payload = {
            **payload,
            "numFiring": statuses.count("firing"),
            "numResolved": statuses.count("resolved"),
        }
    return [payload]


def limits_of(integration: Integration, request: web.Request) -> tuple[Rate, Rate]:
    settings = context.settings(request)
    own = parse_rate(integration.rate_limit) if integration.rate_limit else None
    return own or settings.rate_limit_integration, settings.rate_limit_organization


async def link_integration(request: web.Request) -> Integration | web.Response:
    """The integration of a link URL, or the answer for an unknown token or a type mismatch."""
    found = await _integration(request)
    if isinstance(found, web.Response):
        return found
    url_type = request.match_info["type"]
    if url_type != found.type and url_type != found.link_type:
        rejections.reject(request, "type_mismatch")
        return text(
            400,
            f"This url is for integration with {title(url_type)}. Key is for {title(found.type)}.",
        )
    return found


async def post_link(request: web.Request) -> web.StreamResponse:
    integration = await link_integration(request)
    if isinstance(integration, web.Response):
        return integration
    notes: list[str] = []
    try:
        payload = await read_payload(request, notes)
    except FileUploadError:
        return text(400, "File uploads are not allowed")
    if payload is None:
        return text(400, "Payload is required")
    kind = INTEGRATION_TYPES[integration.type]
    if kind.alertmanager_style and not isinstance(payload, dict):
        return json_response({"detail": "Payload must be a JSON object"}, 400)
    token = request.match_info["token"]
    result = await enqueue(request, integration, token, split(integration, payload), tuple(notes))
    if result.status == EnqueueStatus.ACCEPTED:
        return web.Response(body=OK_BODY, content_type="application/json")
    if result.status == EnqueueStatus.GONE:
        return text(403, NOT_FOUND_TEXT)
    return rate_limited(kind.alertmanager_style, result.status, result.retry_after)


async def enqueue(
    request: web.Request,
    integration: Integration,
    token: str,
    payloads: list[Any],
    notes: tuple[str, ...] = (),
) -> EnqueueResult:
    """Durably queue one request's alerts under the integration's and organization's limits.

    Shared by every way in (native links and the PagerDuty/Opsgenie dialects): counts accepted
    and rate-limited requests, and forgets a link found gone. When Redis does not acknowledge,
    its error propagates to the error middleware, which tells the sender to retry (503).
    """
    result = await request.app[ENQUEUER].enqueue(
        integration.org_id,
        integration.id,
        token,
        limits_of(integration, request),
        payloads,
        notes,
    )
    if result.status == EnqueueStatus.ACCEPTED:
        ACCEPTED_BY_TYPE[integration.type].inc(len(result.alert_ids))
    elif result.status == EnqueueStatus.GONE:
        request.app[LINK_CACHE].forget(token)
    else:
        metrics.RATE_LIMITED.labels(limit_scope(result.status)).inc()
        rejections.reject(request, f"rate_limit_{limit_scope(result.status)}")
    return result


def limit_scope(status: EnqueueStatus) -> str:
    """``integration`` or ``organization``: which limit an enqueue status says was hit."""
    return "integration" if status == EnqueueStatus.LIMIT_INTEGRATION else "organization"


def rate_limited(alertmanager_style: bool, status: EnqueueStatus, retry_after: int) -> web.Response:
    scope = limit_scope(status)
    headers = {"Retry-After": str(retry_after)}
    body = {
        "detail": f"Rate limit of this {scope} exceeded; retry in {retry_after} s.",
        "scope": scope,
        "retry_after": retry_after,
    }
    # Alertmanager and Grafana Alerting drop a notification answered with 4xx; 503 is retried.
    return json_response(body, 503 if alertmanager_style else 429, headers)


async def get_link(request: web.Request) -> web.StreamResponse:
    found = await _integration(request)
    if isinstance(found, web.Response):
        return found
    return text(
        200,
        f"This is an alert-ingest integration link ({title(found.type)}: {found.name}).\n"
        "POST alerts to it as JSON; see the README for examples.\n",
    )


async def heartbeat(request: web.Request) -> web.StreamResponse:
    found = await _integration(request)
    if isinstance(found, web.Response):
        return found
    if not found.heartbeat_enabled:
        return json_response({"detail": "This integration type has no heartbeat."}, 404)
    await context.redis(request).zadd(keys.HEARTBEATS, {found.id: time.time()})
    if request.method == "GET":
        return json_response(":)")  # OnCall's answer, JSON-encoded: pingers decode it
    return text(200, "")


def add_routes(app: web.Application, add: Any) -> None:
    base = "/integrations/v1/{type}/{token}"
    add(app, "POST", base, post_link)
    add(app, "GET", base, get_link)
    add(app, "GET", base + "/heartbeat", heartbeat)
    add(app, "POST", base + "/heartbeat", heartbeat)
