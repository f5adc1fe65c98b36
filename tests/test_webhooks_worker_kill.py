"""A worker SIGKILLed in the middle of webhook deliveries: another worker sends them (again,
with the same delivery ids) once the dead one's lane leases expire; nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.models import SCOPES
from ingest.store import tokens
from tests.processes import api, environment, running, wait_ready, worker
from tests.webhook_helpers import Received, eventually, receiving

pytestmark = pytest.mark.slow
GROUPS = 5


async def test_sigkill_mid_delivery_loses_nothing(
    own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    first_seen = asyncio.Event()
    hold = asyncio.Event()

    async def stall_first_round(request: web.Request, n: int) -> web.StreamResponse:
        if not hold.is_set():
            first_seen.set()
            await hold.wait()  # held until the worker sending it is dead
        return web.Response(text="ok")

    env = environment(own_redis_server.url, ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
    app = api(env, tmp_path)
    doomed = worker(env, tmp_path, concurrency=4)
    spare = None
    async with receiving(stall_first_round) as rx:
        with running(app, doomed):
            await wait_ready(app.url)
            token = await _token(own_redis_server.url)
            headers = {"Authorization": token}
            async with aiohttp.ClientSession(app.url, headers=headers) as http:
                integ = await _post(http, "/api/v1/integrations/", {"type": "webhook"})
                await _post(http, "/api/v1/webhooks/", {
                    "name": "k", "url": rx.url + "/k", "http_method": "POST",
                    "trigger_type": "alert group created",
                })  # fmt: skip
                link = integ["link"].replace("http://testserver", app.url)
                for i in range(GROUPS):
                    async with http.post(link, json={"alert_uid": f"u{i}"}) as resp:
                        assert resp.status == 200
                await asyncio.wait_for(first_seen.wait(), 20)
                await asyncio.sleep(0.3)  # let the other lanes reach the receiver too
                doomed.kill()
                in_flight = _ids(rx.received)
                hold.set()
                spare = worker(env, tmp_path, concurrency=4)
                with running(spare):
                    await eventually(lambda: _resent(rx.received, in_flight), within=40)
                    await asyncio.sleep(0.5)
    ids = _ids(rx.received)
    assert len(set(ids)) == GROUPS  # every delivery arrived
    assert in_flight  # the ones in flight at the kill were sent again, with the same ids...
    assert all(ids.count(i) == (2 if i in in_flight else 1) for i in ids)  # ...and only once


def _ids(received: list[Received]) -> list[str]:
    return [r.headers["X-Alert-Ingest-Delivery"] for r in received]


async def _resent(received: list[Received], in_flight: list[str]) -> bool:
    ids = _ids(received)
    return len(set(ids)) == GROUPS and all(ids.count(i) >= 2 for i in in_flight)


async def _post(http: aiohttp.ClientSession, path: str, body: object) -> dict[str, str]:
    async with http.post(path, json=body) as resp:
        data: dict[str, str] = await resp.json()
        assert resp.status == 201, data
        return data


async def _token(url: str) -> str:
    redis = Redis.from_url(url)
    try:
        _, secret = await tokens.create_token(redis, "org1", list(SCOPES))
    finally:
        await redis.aclose()
    return secret
