"""Datetimes in API responses: ISO-8601 UTC with ``Z``; microseconds only when non-zero."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def iso_seconds(ts: float | None) -> str | None:
    """Whole seconds, ``YYYY-MM-DDTHH:MM:SSZ`` (the maintenance fields' format)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
