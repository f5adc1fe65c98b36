"""Refused link requests are logged: one JSON line each (never the token), a flood bounded."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.api.rejections import REJECTION_LOG, RejectionLog
from ingest.logs import JsonFormatter
from ingest.settings import Settings
from tests.conftest import AiohttpClient

FIRING = {"alerts": [{"status": "firing", "labels": {"alertname": "x"}}], "status": "firing"}


def rejected(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "link request rejected"]


def suppressed(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "link rejections suppressed"]


Started = tuple[Any, str, str, str]  # client, integration id, link path, link token
Start = Callable[..., Awaitable[Started]]


@pytest.fixture
def start(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis, auth: dict[str, str]
) -> Start:
    """``await start(log=None, **settings)``: an app and a new alertmanager integration's link."""

    async def go(log: RejectionLog | None = None, **changes: Any) -> Started:
        app = create_app(dataclasses.replace(settings, **changes))
        if log is not None:
            app[REJECTION_LOG] = log
        client = await aiohttp_client(app)
        body = {"type": "alertmanager", "rate_limit": "1/1h"}
        made = await (await client.post("/api/v1/integrations/", json=body, headers=auth)).json()
        path = made["link"].removeprefix("http://testserver")
        return client, made["id"], path, path.rstrip("/").rsplit("/", 1)[1]

    return go


async def test_each_kind_of_rejection_is_one_line_without_the_token(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    client, integration_id, link, token = await start(max_body_bytes=2048)
    json = {"Content-Type": "application/json"}
    assert (await client.post(link, data=b'{"alerts": [', headers=json)).status == 400
    assert (await client.post(link, data=b"x" * 4096, headers=json)).status == 413
    assert (await client.post(link, data=b"x", headers={"Content-Type": "text/x"})).status == 415
    assert (await client.post(link.replace("alertmanager", "grafana"), json=FIRING)).status == 400
    assert (await client.post(link, json=FIRING)).status == 200
    assert (await client.post(link, json=FIRING)).status == 503  # Alertmanager: 503, not 429
    unknown = link.replace(token, "NoSuchToken1234")
    assert (await client.post(unknown, json=FIRING)).status == 403
    lines = rejected(caplog)
    seen = [
        (r.__dict__["reason"], r.__dict__["status"], r.__dict__["integration_id"]) for r in lines
    ]
    assert seen == [
        ("bad_body", 400, integration_id),
        ("body_too_large", 413, integration_id),
        ("unsupported_media_type", 415, integration_id),
        ("type_mismatch", 400, integration_id),
        ("rate_limit_integration", 503, integration_id),
        ("unknown_token", 403, None),
    ]
    formatted = [JsonFormatter().format(r) for r in lines]
    assert all(token not in line and "NoSuchToken1234" not in line for line in formatted)
    assert all('"integration_type":"alertmanager"' in line for line in formatted[:3])


async def test_a_flood_of_bad_posts_logs_a_bounded_number_of_lines(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, link, _ = await start()
    json = {"Content-Type": "application/json"}
    started = time.monotonic()
    for _ in range(20):
        posts = [client.post(link, data=b"{nope", headers=json) for _n in range(50)]
        for resp in await asyncio.gather(*posts):
            assert resp.status == 400
    windows = 1 + int((time.monotonic() - started) / 10.0) + 1
    await client.close()  # the app's shutdown reports what the open window suppressed
    lines, summaries = rejected(caplog), suppressed(caplog)
    assert 10 <= len(lines) <= 10 * windows
    assert summaries and all(r.__dict__["reason"] == "bad_body" for r in summaries)
    assert len(lines) + sum(r.__dict__["suppressed"] for r in summaries) == 1000


async def test_the_suppressed_count_is_logged_when_the_window_ends(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, link, token = await start(RejectionLog(per_window=2, window=1.0))
    unknown = link.replace(token, "NoSuchToken1234")
    for _ in range(12):
        assert (await client.post(unknown, json=FIRING)).status == 403

    def logged() -> int:
        return len(rejected(caplog)) + sum(
            int(r.__dict__["suppressed"]) for r in suppressed(caplog)
        )

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the client stays open: the window's end reports
        if logged() == 12:
            break
        await asyncio.sleep(0.05)
    assert logged() == 12 and suppressed(caplog)
    assert len(rejected(caplog)) < 12
    assert all(r.__dict__["reason"] == "unknown_token" for r in suppressed(caplog))
