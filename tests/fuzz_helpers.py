"""Shared by the bad-input and fuzz tests: post raw bodies, drain, check every alert landed."""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.store import dead_letters, groups
from tests.worker_helpers import drain

Client = TestClient[Any, Any]
GROUPED = ("new_group", "grouped", "acknowledged", "resolved", "maintenance")


async def make_integration(
    client: Client, auth: dict[str, str], kind: str = "webhook", **extra: Any
) -> tuple[str, str]:
    """Create an integration; returns (id, link path)."""
    resp = await client.post("/api/v1/integrations/", json={"type": kind, **extra}, headers=auth)
    data = await resp.json()
    assert resp.status == 201, data
    return data["id"], re.sub(r"^http://testserver", "", data["link"])


async def post_raw(
    client: Client, path: str, body: bytes, content_type: str = "application/json", **kw: Any
) -> tuple[int, str, bytes]:
    """POST ``body`` as is; returns (status, content type, body)."""
    headers = {"Content-Type": content_type, **kw.pop("headers", {})}
    resp = await client.post(path, data=body, headers=headers, **kw)
    return resp.status, resp.content_type, await resp.read()


def assert_clear_error(status: int, ctype: str, body: bytes, expected: int, *words: str) -> str:
    """A JSON ``{"detail": ...}`` answer of status ``expected`` naming the reason."""
    assert status == expected, (status, body[:500])
    assert ctype == "application/json", (ctype, body[:500])
    detail = orjson.loads(body)["detail"]
    assert isinstance(detail, str)
    assert "Traceback" not in detail and "Internal server error" not in detail
    for word in words:
        assert word in detail, detail
    return detail


async def landed(redis: Redis, settings: Settings, expected: int, org: str = "org1") -> None:
    """Drain with a real worker: ``expected`` alerts stored and grouped, none dead-lettered."""
    await drain(settings)
    assert await dead_letters.entries(redis) == []
    assert await redis.zcard(settings.queue_name) == 0
    assert await groups.org_alert_count(redis, org) == expected
    for alert in await groups.alerts(redis, await groups.org_alert_ids(redis, org)):
        assert alert.get("group_id"), alert["id"]
        assert alert.get("result") in GROUPED, alert
