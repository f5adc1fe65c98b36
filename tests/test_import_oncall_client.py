"""The OnCall reader waits as long as OnCall's throttle asks, and never less than a second:
OnCall rounds ``Retry-After`` down, so it says ``0`` in the last second of its window."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from ingest.importer.client import OnCallClient
from tests.oncall_fake import TOKEN, FakeOnCall

AiohttpServer = Any


class Clock:
    """The fake's clock, moved on by the client's sleeps: no real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("window", "reset_header", "waits"),
    [
        (0.9, True, [1.0]),  # Retry-After 0, RateLimit-Reset 1
        (0.4, False, [1.0]),  # Retry-After 0 alone: the one-second floor
        (2.5, True, [3.0]),  # Retry-After 2, RateLimit-Reset 3: the larger one
        (30.0, True, [30.0]),  # long waits are honoured
        (500.0, True, [120.0, 120.0, 120.0, 120.0, 20.0]),  # each wait bounded by max_wait
    ],
)
async def test_throttle_waits_as_told_and_at_least_a_second(
    aiohttp_server: AiohttpServer, window: float, reset_header: bool, waits: list[float]
) -> None:
    clock = Clock()
    fake = FakeOnCall()
    fake.clock = clock.time
    fake.throttle, fake.throttle_window, fake.reset_header = {1}, window, reset_header
    fake.integration("prod-am", "alertmanager")
    server: TestServer = await aiohttp_server(fake.app())
    async with aiohttp.ClientSession() as session:
        client = OnCallClient(session, str(server.make_url("/")), TOKEN, sleep=clock.sleep)
        items = await client.list_all("integrations")
    assert [item["name"] for item in items] == ["prod-am"]
    assert clock.waits == waits
    assert client.throttled == len(waits)
