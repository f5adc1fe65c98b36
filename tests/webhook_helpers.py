"""Receivers on loopback and an in-process webhook delivery service for the webhook tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.embedded_redis import free_port
from ingest.settings import Settings
from worker.webhooks import WebhookService
from worker.webhooks.deliver import Policy

Client = TestClient[Any, Any]
WEBHOOKS = "/api/v1/webhooks/"
# short timeouts and backoff so retries happen within a test
FAST = Policy(connect_timeout=0.5, total_timeout=1.0, retry_base=0.2, retry_window=30, poll_s=0.01)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


Behaviour = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


async def ok(request: web.Request, n: int) -> web.StreamResponse:
    return web.json_response({"ok": True, "n": n})


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1; ``behaviour(request, n)`` answers the n-th request (from 1)."""

    behaviour: Behaviour = ok
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(request.method, request.path, dict(request.headers), body, time.time())
        )
        return await self.behaviour(request, len(self.received))

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, count: int, path: str | None = None, within: float = 15) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got = self.received if path is None else self.on(path)
            if len(got) >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{path or 'receiver'}: {len(self.received)} requests, wanted {count}")


@asynccontextmanager
async def receiving(behaviour: Behaviour = ok) -> AsyncIterator[Receiver]:
    receiver = Receiver(behaviour)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    receiver.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


@asynccontextmanager
async def delivering(
    redis: Redis, settings: Settings, policy: Policy = FAST, lease_s: float = 3.0
) -> AsyncIterator[WebhookService]:
    service = WebhookService(redis, settings, policy, lease_s=lease_s)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def add_webhook(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": f"wh {time.monotonic_ns()}", "http_method": "POST", **fields}
    resp = await client.post(WEBHOOKS, json=body, headers=auth)
    data: dict[str, Any] = await resp.json()
    assert resp.status == 201, data
    return data


async def responses(client: Client, auth: dict[str, str], webhook_id: str) -> list[Any]:
    resp = await client.get(f"{WEBHOOKS}{webhook_id}/responses/", headers=auth)
    assert resp.status == 200
    results: list[Any] = (await resp.json())["results"]
    return results


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")
