"""Domain errors mapped one-to-one to HTTP answers, and the middleware that applies the mapping.

Handlers raise; they never build error responses themselves. Redis unreachable (``RedisError``
or ``OSError`` from anywhere in a handler) becomes ``503`` with ``Retry-After`` on every endpoint,
links and public API alike; no handler catches these itself. The outage is logged once when it
starts and once when it ends rather than once per request (``UnavailableLog``), and every link,
heartbeat, PagerDuty or Opsgenie request it fails counts once in
``alert_ingest_enqueue_failures_total``. The body is ``{"detail": ...}`` unless the handler is
marked with :func:`outage_body`: the PagerDuty and Opsgenie endpoints answer in their own shapes,
because their senders parse them. Anything else unexpected becomes a JSON 500 without a traceback
(the traceback goes to the log), and aiohttp's own 404/405/413 become the same JSON shapes as ours.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from ingest import metrics
from ingest.domain.errors import Busy, DomainError, InvalidFields

log = logging.getLogger("ingest.api")

FieldErrors = dict[str, Any]


class ApiError(Exception):
    """An answer other than success: ``status`` with a JSON ``body`` and extra ``headers``."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, {"detail": message}, headers)


def bad_request(message: str) -> ApiError:
    return detail(400, message)


def not_found() -> ApiError:
    return detail(404, "Not found.")


def field_errors(errors: FieldErrors) -> ApiError:
    return ApiError(400, errors)


def domain_answer(exc: DomainError) -> ApiError:
    """The one answer to a refusal raised below the HTTP layer (``ingest.domain.errors``)."""
    if isinstance(exc, InvalidFields):
        return field_errors(exc.fields)
    if isinstance(exc, Busy):
        return detail(503, exc.message, {"Retry-After": str(exc.retry_after)})
    return bad_request(exc.message)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(
            exc.allowed_methods | ({"HEAD"} if "GET" in exc.allowed_methods else set())
        )
        headers["Allow"] = ", ".join(allowed)
        message = f'Method "{request.method}" not allowed.'
    elif exc.status == 404:
        message = "Not found."
    elif exc.status == 413:
        message = f"Request body is too large: the limit is {request.client_max_size} bytes."
    else:
        message = exc.reason
    return json_response({"detail": message}, exc.status, headers)


RETRY_AFTER_UNAVAILABLE = "5"


class UnavailableLog:
    """Logs one line when Redis starts failing and one when it recovers, not one per request."""

    def __init__(self) -> None:
        self.failures = 0
        self.since = 0.0

    def failed(self, exc: BaseException) -> None:
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


REDIS_ERRORS = (RedisError, OSError)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OutageBody = Callable[[web.Request], tuple[Any, dict[str, str]]]
"""The JSON body and extra headers of a route's 503 when Redis is unreachable."""
OUTAGE_BODY: web.RequestKey[OutageBody] = web.RequestKey("outage_body")
AnyResponse = TypeVar("AnyResponse", bound=web.StreamResponse)


def default_outage_body(request: web.Request) -> tuple[Any, dict[str, str]]:
    return {"detail": "Temporarily unable to reach storage; retry later."}, {}


def outage_body(
    body: OutageBody,
) -> Callable[
    [Callable[[web.Request], Awaitable[AnyResponse]]],
    Callable[[web.Request], Awaitable[AnyResponse]],
]:
    """Mark a handler whose 503 for an unreachable Redis has its own body (a dialect's).

    The middleware still answers it, with the status, ``Retry-After``, the outage log and the
    failure count that every other endpoint gets; only the body and extra headers come from
    ``body``. The mark is set before the handler runs, so a failure anywhere in it (the key's
    lookup included) answers in the dialect's shape.
    """

    def mark(
        handler: Callable[[web.Request], Awaitable[AnyResponse]],
    ) -> Callable[[web.Request], Awaitable[AnyResponse]]:
        @functools.wraps(handler)
        async def marked(request: web.Request) -> AnyResponse:
            request[OUTAGE_BODY] = body
            return await handler(request)

        return marked

    return mark


def unavailable(request: web.Request) -> web.Response:
    """Redis did not answer: 503 with ``Retry-After``, so senders and clients try again."""
    body, headers = request.get(OUTAGE_BODY, default_outage_body)(request)
    return json_response(body, 503, {**headers, "Retry-After": RETRY_AFTER_UNAVAILABLE})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    outage = request.app[UNAVAILABLE_LOG]
    try:
        response = await handler(request)
    except ApiError as exc:
        return json_response(exc.body, exc.status, exc.headers)
    except DomainError as exc:
        answer = domain_answer(exc)
        return json_response(answer.body, answer.status, answer.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type == "application/json":
            raise
        return _from_http_exception(exc, request)
    except REDIS_ERRORS as exc:
        outage.failed(exc)
        if metrics.handler_kind(request) in ("link", "heartbeat"):
            metrics.ENQUEUE_FAILURES.inc()
        return unavailable(request)
    except Exception:
        # the route's pattern, not the path: a link path carries the integration's secret token
        route = request.match_info.route.resource
        path = route.canonical if route is not None else "(no route)"
        log.exception("unhandled error", extra={"path": path, "method": request.method})
        return json_response({"detail": "Internal server error."}, 500)
    if outage.failures:
        outage.recovered()
    return response
