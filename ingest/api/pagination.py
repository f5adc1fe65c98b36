"""Page-number pagination shared by every list endpoint of the public API.

``page`` (default 1) and ``perpage`` (default per resource, capped at 100). Lenient like
Grafana OnCall: a non-integer or < 1 value falls back to the default; a page past the end is the
last page. ``next``/``previous`` are absolute (``BASE_URL`` + path + query with keys sorted); the
link to page 1 drops ``page``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from ingest.api import context

MAX_PAGE_SIZE = 100
T = TypeVar("T")


def _positive(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value >= 1 else default


def page_request(request: web.Request, default_size: int = 50) -> tuple[int, int]:
    """The page number and page size asked for (the page may be past the end)."""
    size = min(_positive(request.query.get("perpage"), default_size), MAX_PAGE_SIZE)
    return _positive(request.query.get("page"), 1), size


def envelope(request: web.Request, count: int, page: int, size: int) -> dict[str, Any]:
    """The list envelope (``results`` empty) for page ``page`` (already within the pages)."""
    total_pages = max(1, -(-count // size))
    return {
        "count": count,
        "next": _link(request, page + 1) if page < total_pages else None,
        "previous": _link(request, page - 1) if page > 1 else None,
        "results": [],
        "current_page_number": page,
        "page_size": size,
        "total_pages": total_pages,
    }


def paginate(
    request: web.Request, items: Sequence[T], default_size: int = 50
) -> tuple[list[T], dict[str, Any]]:
    """Slice ``items`` for this request; returns the page and the envelope (without results)."""
    asked, size = page_request(request, default_size)
    page = min(asked, max(1, -(-len(items) // size)))
    start = (page - 1) * size
    return list(items[start : start + size]), envelope(request, len(items), page, size)


def _link(request: web.Request, page: int) -> str:
    pairs = [(k, v) for k, v in request.query.items() if k != "page"]
    if page > 1:
        pairs.append(("page", str(page)))
    pairs.sort(key=lambda kv: kv[0])
    query = urlencode(pairs)
    base = context.settings(request).link_base + request.path
    return f"{base}?{query}" if query else base


def name_and_team_match(name: str, team_id: str | None, query: Mapping[str, str]) -> bool:
    """The list filters ``name`` (exact) and ``team_id`` (an id, or ``null`` for none)."""
    if "name" in query and name != query["name"]:
        return False
    team = query.get("team_id")
    return not team or team_id == (None if team == "null" else team)
