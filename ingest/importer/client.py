"""A reader of Grafana OnCall's public API (``/api/v1/...``): every page of a list, politely.

- Auth is OnCall's: ``Authorization: <token>`` with no scheme. 401/403 stop the import with
  one line naming the cause.
- Lists are page-number paginated (``page``, ``perpage``). The next page is requested from the
  ``--url`` the user gave, never from the ``next`` link in the answer: that link is built from
  OnCall's own ``BASE_URL`` and may point at another host, which must not receive the token.
- ``429`` is honoured: wait the larger of ``Retry-After`` and ``RateLimit-Reset`` (when sent), and
  at least ``MIN_THROTTLE_WAIT`` (at most ``max_wait``), then ask again, up to ``max_retries`` times
  per request. The floor matters: OnCall sends ``Retry-After`` rounded down, so ``0`` in the last
  second of its window (with ``RateLimit-Reset`` rounded up), and asking again at once would spend
  every retry inside that second. ``502``/``503``/``504`` and connection errors are retried the
  same number of times with a short growing pause.
- A page is read into memory only up to ``max_bytes`` (a hostile or broken server cannot exhaust
  memory); anything that is not the expected JSON envelope is an :class:`OnCallError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

log = logging.getLogger("ingest.importer")

PAGE_SIZE = 100
MAX_PAGES = 10_000
RETRYABLE = (502, 503, 504)
MIN_THROTTLE_WAIT = 1.0
DEFAULT_THROTTLE_WAIT = 5.0  # a 429 without either header
Sleep = Callable[[float], Awaitable[None]]


class OnCallError(Exception):
    """The OnCall API could not be read; the message says why, in one line."""


class NotThere(OnCallError):
    """The OnCall API has no such list (404): an older OnCall without that resource."""


def check_base_url(url: str) -> str:
    """The OnCall base URL without a trailing slash; :class:`OnCallError` when it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OnCallError(f"--url {url!r} is not an http(s) URL such as https://oncall.example")
    if parts.query or parts.fragment:
        raise OnCallError(f"--url {url!r} must not carry a query or fragment")
    return url.strip().rstrip("/")


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: not worth parsing for a pause this short
    return seconds if seconds >= 0 else None  # NaN and negatives say nothing


def throttle_wait(retry_after: str | None, reset: str | None) -> float:
    """Seconds to wait after a 429: the larger of the two headers, never under the floor."""
    told = [s for s in (_seconds(retry_after), _seconds(reset)) if s is not None]
    return max(MIN_THROTTLE_WAIT, *told) if told else DEFAULT_THROTTLE_WAIT


class OnCallClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        *,
        page_size: int = PAGE_SIZE,
        max_retries: int = 8,
        max_wait: float = 120.0,
        max_bytes: int = 64 * 1024 * 1024,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._session = session
        self._base = check_base_url(base_url)
        self._headers = {"Authorization": token, "Accept": "application/json"}
        self._page_size = page_size
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._max_bytes = max_bytes
        self._sleep = sleep
        self.requests = 0
        self.throttled = 0

    async def list_all(self, resource: str) -> list[dict[str, Any]]:
        """Every item of ``/api/v1/<resource>/``, page after page, in the server's order."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = await self._get(
                f"/api/v1/{resource}/", {"page": page, "perpage": self._page_size}
            )
            results = body.get("results")
            if not isinstance(results, list):
                raise OnCallError(f"/api/v1/{resource}/ page {page}: no 'results' list")
            for index, item in enumerate(results):
                if not isinstance(item, dict):
                    raise OnCallError(f"/api/v1/{resource}/ page {page}: item {index} is no object")
                items.append(item)
            # OnCall answers a page past the end with the last page: trust "next", then stop
            if not body.get("next") or body.get("current_page_number", page) != page:
                return items
        raise OnCallError(f"/api/v1/{resource}/: more than {MAX_PAGES} pages")

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        failures = 0
        while True:
            self.requests += 1
            pause = await self._try(path, params)
            if isinstance(pause, dict):
                return pause
            if failures >= self._max_retries:
                raise OnCallError(f"{path}: {pause[1]}; gave up after {failures} retries")
            failures += 1
            await self._sleep(pause[0] if pause[0] >= 0 else min(0.5 * 2**failures, 30.0))

    async def _try(self, path: str, params: dict[str, Any]) -> dict[str, Any] | tuple[float, str]:
        """The page, or ``(seconds to wait, why)`` for a retry (-1: a growing pause)."""
        try:
            async with self._session.get(
                self._base + path, params=params, headers=self._headers
            ) as resp:
                if resp.status == 429:
                    self.throttled += 1
                    wait = throttle_wait(
                        resp.headers.get("Retry-After"), resp.headers.get("RateLimit-Reset")
                    )
                    log.info("oncall throttled", extra={"path": path, "wait": wait})
                    return min(wait, self._max_wait), "OnCall kept answering 429"
                if resp.status in RETRYABLE:
                    return -1, f"OnCall answered {resp.status}"
                return await self._read(resp, path)
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            return -1, f"cannot reach {self._base}: {exc or type(exc).__name__}"

    async def _read(self, resp: aiohttp.ClientResponse, path: str) -> dict[str, Any]:
        if resp.status in (401, 403):
            raise OnCallError(
                f"OnCall refused the token ({resp.status} on {path}); use an OnCall API token "
                "of an admin, sent without 'Bearer'"
            )
        if resp.status == 404:
            raise NotThere(f"OnCall has no {path}")
        if resp.status != 200:
            raise OnCallError(f"OnCall answered {resp.status} on {path}")
        raw = await resp.content.read(self._max_bytes + 1)
        if len(raw) > self._max_bytes:
            raise OnCallError(f"{path}: answer larger than {self._max_bytes} bytes")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise OnCallError(f"{path}: the answer is not JSON; is --url the OnCall API?") from None
        if not isinstance(body, dict):
            raise OnCallError(f"{path}: expected a JSON object (a page of results)")
        return body
