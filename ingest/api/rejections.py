"""One log line per refused link request, rate-limited so a flood of bad posts cannot flood the log.

A link or heartbeat request (the PagerDuty and Opsgenie endpoints included) answered ``400``,
``403``, ``413``, ``415`` or ``429``, or ``503`` because of a rate limit, is logged at warning as
``link request rejected`` with ``status``, ``reason``, ``integration_id`` (null when the token
matched none) and ``integration_type`` (the URL's; ``unknown`` when it names no type). Never the
token, the path (which carries it) or the body. A ``503`` because Redis is unreachable is not a
rejection: ``ingest.api.errors`` logs those once per outage.

Reasons: ``unknown_token``, ``type_mismatch``, ``bad_body``, ``body_too_large``,
``unsupported_media_type``, ``rate_limit_integration``, ``rate_limit_organization``; a handler
names it with :func:`reject`, otherwise it follows from the status.

At most ``per_window`` lines (default 10) per reason in each ``window`` (default 10 s); the
rejections past that are counted and reported in one ``link rejections suppressed`` line
(``reason``, ``suppressed``, ``window_s``) when the window ends, and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from ingest import metrics
from ingest.api.errors import Handler

log = logging.getLogger("ingest.api.rejections")

INTEGRATION_ID = web.RequestKey("integration_id", str)
REASON = web.RequestKey("rejection_reason", str)
BY_STATUS = {
    400: "bad_body",
    403: "unknown_token",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def reject(request: web.Request, reason: str) -> None:
    """Name why the request is refused (when the status alone does not say)."""
    request[REASON] = reason


@dataclass
class _Window:
    ends: float
    logged: int = 0
    suppressed: int = 0
    timer: asyncio.TimerHandle | None = None


class RejectionLog:
    """Logs rejections, at most ``per_window`` per reason per ``window`` seconds."""

    def __init__(self, per_window: int = 10, window: float = 10.0) -> None:
        self.per_window = per_window
        self.window = window
        self._windows: dict[str, _Window] = {}

    def rejected(self, reason: str, fields: dict[str, object]) -> None:
        now = time.monotonic()
        current = self._windows.get(reason)
        if current is None or now >= current.ends:
            if current is not None:
                self._report(reason, current)
            current = self._windows[reason] = _Window(now + self.window)
        if current.logged < self.per_window:
            current.logged += 1
            log.warning("link request rejected", extra={"reason": reason, **fields})
            return
        current.suppressed += 1
        if current.timer is None:
            loop = asyncio.get_running_loop()
            current.timer = loop.call_later(current.ends - now, self._report, reason, current)

    def _report(self, reason: str, window: _Window) -> None:
        if window.timer is not None:
            window.timer.cancel()
            window.timer = None
        if window.suppressed:
            log.warning(
                "link rejections suppressed",
                extra={"reason": reason, "suppressed": window.suppressed, "window_s": self.window},
            )
            window.suppressed = 0

    def close(self) -> None:
        """Report what the open windows suppressed (at shutdown)."""
        for reason, window in self._windows.items():
            self._report(reason, window)


REJECTION_LOG = web.AppKey("rejection_log", RejectionLog)


def _observe(request: web.Request, status: int) -> None:
    reason = request.get(REASON) or BY_STATUS.get(status)
    if reason is None or metrics.handler_kind(request) not in ("link", "heartbeat"):
        return  # a 503 without a rate-limit reason is an outage, logged once per outage
    fields: dict[str, object] = {
        "status": status,
        "integration_id": request.get(INTEGRATION_ID),
        "integration_type": metrics.link_type(request),
    }
    request.app[REJECTION_LOG].rejected(reason, fields)


@web.middleware
async def rejection_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            _observe(request, exc.status)
        raise
    if response.status >= 400:
        _observe(request, response.status)
    return response


async def report_at_shutdown(app: web.Application) -> None:
    app[REJECTION_LOG].close()
