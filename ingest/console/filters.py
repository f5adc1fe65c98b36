"""Jinja filters of the console's templates. Output is escaped by autoescape, never marked safe."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson


def http_href(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL, else None: payload links are hostile."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme in ("http", "https") and parts.netloc else None


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def when(value: Any) -> str:
    """An ISO timestamp shortened for tables: ``2026-01-02 03:04:05``."""
    if not isinstance(value, str):
        return ""
    return value.replace("T", " ")[:19]


def labels_line(labels: Any) -> str:
    if not isinstance(labels, list):
        return ""
    return ", ".join(f"{i['key']['name']}={i['value']['name']}" for i in labels)


FILTERS: dict[str, Any] = {
    "http_href": http_href,
    "pretty_json": pretty_json,
    "when": when,
    "labels_line": labels_line,
}
