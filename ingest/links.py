"""The integration link endpoints: where monitoring systems POST alerts.

``POST /integrations/v1/<type>/<token>/`` answers ``200 "Ok."`` only after Redis acknowledged
the enqueue (see ``ingest.queue``); every other outcome is one row of ``spec/ingest.md``'s table.
No template is rendered here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from ingest import metrics
from ingest.api import context
from ingest.api.body import FORM_TYPES, FileUploadError, is_json_type, parse_json, read_form
from ingest.api.errors import detail, json_response
from ingest.link_cache import LinkCache
from ingest.models import INTEGRATION_TYPES, Integration
from ingest.queue import Enqueuer, EnqueueResult, EnqueueStatus
from ingest.settings import Rate, parse_rate
from ingest.store import keys

log = logging.getLogger("ingest.links")

LINK_CACHE = web.AppKey("link_cache", LinkCache)
ENQUEUER = web.AppKey("enqueuer", Enqueuer)
NOT_FOUND_TEXT = "Integration key was not found. Permission denied."
RETRY_AFTER_UNAVAILABLE = "5"
OK_BODY = b'"Ok."'
REDIS_ERRORS = (RedisError, OSError)
ACCEPTED_BY_TYPE = {kind: metrics.ALERTS_ACCEPTED.labels(kind) for kind in INTEGRATION_TYPES}


class UnavailableLog:
    """Logs one line when Redis starts failing and one when it recovers, not one per request."""

    def __init__(self) -> None:
        self.failures = 0
        self.since = 0.0

    def failed(self, exc: BaseException) -> None:
        metrics.ENQUEUE_FAILURES.inc()
        if self.failures == 0:
            self.since = time.time()
            log.error("redis unavailable; answering 503", extra={"error": type(exc).__name__})
        self.failures += 1

    def recovered(self) -> None:
        if self.failures:
            log.warning(
                "redis available again",
                extra={
                    "failed_requests": self.failures,
                    "seconds": round(time.time() - self.since, 1),
                },
            )
            self.failures = 0


UNAVAILABLE_LOG = web.AppKey("unavailable_log", UnavailableLog)


def text(status: int, body: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=body, headers=headers)


def unavailable() -> web.Response:
    return json_response(
        {"detail": "Temporarily unable to accept alerts; retry later."},
        503,
        {"Retry-After": RETRY_AFTER_UNAVAILABLE},
    )


def title(slug: str) -> str:
    kind = INTEGRATION_TYPES.get(slug)
    return kind.title if kind else slug


class Unavailable(Exception):
    """Redis did not answer: the caller answers 503 with ``Retry-After`` (logged once per burst)."""


async def find_integration(request: web.Request, token: str) -> Integration | None:
    """The live integration of a link token (cached briefly); raises :class:`Unavailable`."""
    try:
        return await request.app[LINK_CACHE].get(token)
    except (RedisError, OSError) as exc:
        request.app[UNAVAILABLE_LOG].failed(exc)
        raise Unavailable() from exc


async def _integration(request: web.Request) -> Integration | web.Response:
    try:
        found = await find_integration(request, request.match_info["token"])
    except Unavailable:
        return unavailable()
    if found is None:
        return text(403, NOT_FOUND_TEXT)
    return found


async def read_payload(request: web.Request) -> Any:
    """Parse the body per the link table; raises ApiError for 400/413/415 rows."""
    ctype = request.content_type if "Content-Type" in request.headers else ""
    if ctype in FORM_TYPES:
        return await read_form(request)
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
        return text(
            400,
            f"This url is for integration with {title(url_type)}. Key is for {title(found.type)}.",
        )
    return found


async def post_link(request: web.Request) -> web.StreamResponse:
    integration = await link_integration(request)
    if isinstance(integration, web.Response):
        return integration
    try:
        payload = await read_payload(request)
    except FileUploadError:
        return text(400, "File uploads are not allowed")
    if payload is None:
        return text(400, "Payload is required")
    kind = INTEGRATION_TYPES[integration.type]
    if kind.alertmanager_style and not isinstance(payload, dict):
        return json_response({"detail": "Payload must be a JSON object"}, 400)
    try:
        result = await enqueue(request, integration, request.match_info["token"],
                               split(integration, payload))  # fmt: skip
    except Unavailable:
        return unavailable()
    if result.status == EnqueueStatus.ACCEPTED:
        return web.Response(body=OK_BODY, content_type="application/json")
    if result.status == EnqueueStatus.GONE:
        return text(403, NOT_FOUND_TEXT)
    return rate_limited(kind.alertmanager_style, result.status, result.retry_after)


async def enqueue(
    request: web.Request, integration: Integration, token: str, payloads: list[Any]
) -> EnqueueResult:
    """Durably queue one request's alerts under the integration's and organization's limits.

    Shared by every way in (native links and the PagerDuty/Opsgenie dialects): counts accepted
    and rate-limited requests, forgets a link found gone, and raises :class:`Unavailable` when
    Redis does not acknowledge (the sender is told to retry).
    """
    try:
        result = await request.app[ENQUEUER].enqueue(
            integration.org_id, integration.id, token, limits_of(integration, request), payloads
        )
    except (RedisError, OSError) as exc:
        request.app[UNAVAILABLE_LOG].failed(exc)
        raise Unavailable() from exc
    request.app[UNAVAILABLE_LOG].recovered()
    if result.status == EnqueueStatus.ACCEPTED:
        ACCEPTED_BY_TYPE[integration.type].inc(len(result.alert_ids))
    elif result.status == EnqueueStatus.GONE:
        request.app[LINK_CACHE].forget(token)
    else:
        metrics.RATE_LIMITED.labels(limit_scope(result.status)).inc()
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
    try:
        await context.redis(request).zadd(keys.HEARTBEATS, {found.id: time.time()})
    except (RedisError, OSError) as exc:
        request.app[UNAVAILABLE_LOG].failed(exc)
        return unavailable()
    if request.method == "GET":
        return json_response(":)")  # OnCall's answer, JSON-encoded: pingers decode it
    return text(200, "")


def add_routes(app: web.Application, add: Any) -> None:
    base = "/integrations/v1/{type}/{token}"
    add(app, "POST", base, post_link)
    add(app, "GET", base, get_link)
    add(app, "GET", base + "/heartbeat", heartbeat)
    add(app, "POST", base + "/heartbeat", heartbeat)
