"""The api's access log (``ALERT_INGEST_ACCESS_LOG=1``): one JSON line per request.

Fields: ``method``, ``route`` (the pattern of the route that answered, such as
``/integrations/v1/{type}/{token}/``; ``-`` when none matched), ``status`` and ``duration_ms``.
Never the request path or query: an integration link's path is its secret token.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

ACCESS_LOG = logging.getLogger("ingest.access")


def route_pattern(request: BaseRequest) -> str:
    """The canonical pattern of the resource that answered ``request``; ``-`` when none did."""
    try:  # a request refused before routing (a malformed one) has no match
        resource = request.match_info.route.resource  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):
        return "-"
    return resource.canonical if resource is not None else "-"


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp's ``access_log_class``: JSON lines through ``ingest.logs`` (info level)."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "route": route_pattern(request),
                "status": response.status,
                "duration_ms": round(time * 1000, 3),
            },
        )


def access_log(enabled: bool) -> logging.Logger | None:
    """The logger for ``web.run_app(access_log=...)``: at info whatever ``LOG_LEVEL`` says."""
    if not enabled:
        return None
    ACCESS_LOG.setLevel(logging.INFO)
    return ACCESS_LOG
