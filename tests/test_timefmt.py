"""``iso`` formats exactly as ``datetime.isoformat`` would: a faster path to the same text."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from ingest.timefmt import iso


def reference(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_iso_is_datetimes_isoformat() -> None:
    rng = random.Random(7)
    edges = [0.0, 0.5, 1e-7, 0.9999995, 1.9999995, 1700000000.0, 1700000000.0000005,
             1700000000.9999996, 1709251321.123456, 4102444800.25]  # fmt: skip
    values = edges + [rng.uniform(0, 4.1e9) for _ in range(20000)]
    values += [1.7e9 + n + rng.randrange(1_000_000) / 1e6 for n in range(2000)]
    assert [iso(v) for v in values] == [reference(v) for v in values]
    assert iso(None) is None
    assert iso(1709251321.0) == "2024-03-01T00:02:01Z"
    assert iso(1709251321.5) == "2024-03-01T00:02:01.500000Z"
