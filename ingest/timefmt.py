"""Datetimes in API responses: ISO-8601 UTC with ``Z``; microseconds only when non-zero."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    """What ``datetime.fromtimestamp(ts, UTC).isoformat()`` gives, ``Z`` for ``+00:00``.

    Built from ``time.gmtime`` with the same microsecond rounding as ``datetime`` (half to even
    of the fraction): a list page formats a few hundred of these, and this is ~20% faster."""
    if ts is None:
        return None
    fraction, whole = math.modf(ts)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    elif micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{head}.{micro:06d}Z" if micro else head + "Z"


def iso_seconds(ts: float | None) -> str | None:
    """Whole seconds, ``YYYY-MM-DDTHH:MM:SSZ`` (the maintenance fields' format)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
