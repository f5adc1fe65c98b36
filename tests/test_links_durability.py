"""A 200 means durable: Redis stopped or killed under a stream of posts never yields a false 200."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.embedded_redis import EmbeddedRedis
from ingest.settings import Rate, Settings
from ingest.store import tokens
from tests.conftest import ALL_SCOPES, AiohttpClient
from tests.queue_helpers import queued_jobs


async def setup_link(
    aiohttp_client: AiohttpClient, server: EmbeddedRedis, kind: str = "webhook", **overrides: Any
) -> tuple[Any, str, Redis]:
    """The app on ``server`` (rate limits out of the way), a link of a ``kind`` integration, a
    Redis client."""
    redis = Redis.from_url(server.url)
    _, secret = await tokens.create_token(redis, "org1", ALL_SCOPES)
    settings = Settings(
        redis_url=server.url,
        base_url="http://testserver",
        rate_limit_integration=Rate(100_000, 60),
        rate_limit_organization=Rate(100_000, 60),
        **overrides,
    )
    client = await aiohttp_client(create_app(settings))
    resp = await client.post(
        "/api/v1/integrations/", json={"type": kind}, headers={"Authorization": secret}
    )
    link = (await resp.json())["link"].replace("http://testserver", "")
    return client, link, redis


def enqueue_failures() -> float:
    """``alert_ingest_enqueue_failures_total`` now (the registry is the process's)."""
    return REGISTRY.get_sample_value("alert_ingest_enqueue_failures_total") or 0.0


async def test_redis_down_gives_503_then_recovers(
    aiohttp_client: AiohttpClient, own_redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client, link, redis = await setup_link(aiohttp_client, own_redis_server)
    assert (await client.post(link, json={"n": 0})).status == 200
    own_redis_server.stop()
    failures = enqueue_failures()
    for n in range(5):
        resp = await client.post(link, json={"n": 1 + n / 10})
        assert resp.status == 503
    assert int(resp.headers["Retry-After"]) > 0
    assert "detail" in await resp.json()
    assert enqueue_failures() == failures + 5  # once per failed post
    outage_lines = [r for r in caplog.records if r.getMessage().startswith("redis unavailable")]
    assert len(outage_lines) == 1  # one line per failure burst, not one per request
    ready = await client.get("/health/ready")
    assert ready.status == 503
    own_redis_server.start()
    assert (await client.post(link, json={"n": 2})).status == 200
    assert (await client.get("/health/ready")).status == 200
    assert [j["payload"]["n"] for j in await queued_jobs(redis)] == [0, 2]
    await redis.aclose()


async def test_every_200_survives_a_redis_kill_mid_stream(
    aiohttp_client: AiohttpClient, own_redis_server: EmbeddedRedis
) -> None:
    client, link, redis = await setup_link(aiohttp_client, own_redis_server)
    answers: dict[int, int] = {}

    async def post(n: int) -> None:
        async with asyncio.timeout(10):  # none hangs
            resp = await client.post(link, json={"n": n})
            answers[n] = resp.status

    async def stream(start: int, count: int) -> None:
        for n in range(start, start + count):
            await post(n)

    senders = [asyncio.create_task(stream(k * 1000, 150)) for k in range(4)]
    await asyncio.sleep(0.15)
    own_redis_server.kill()  # SIGKILL: with appendfsync always nothing acknowledged is lost
    await asyncio.sleep(0.3)
    own_redis_server.start()
    await asyncio.gather(*senders)
    codes = set(answers.values())
    assert codes <= {200, 503}, codes
    assert 503 in codes and 200 in codes
    queued = {j["payload"]["n"] for j in await queued_jobs(redis)}
    accepted = {n for n, code in answers.items() if code == 200}
    assert accepted <= queued, sorted(accepted - queued)[:10]
    await redis.aclose()


async def test_public_api_answers_503_with_retry_after_while_redis_is_down(
    aiohttp_client: AiohttpClient, own_redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, redis = await setup_link(aiohttp_client, own_redis_server)
    _, secret = await tokens.create_token(redis, "org1", ALL_SCOPES)
    auth = {"Authorization": secret}
    assert (await client.get("/api/v1/integrations/", headers=auth)).status == 200
    own_redis_server.stop()
    for path in ("/api/v1/integrations/", "/api/v1/alert_groups/", "/api/v1/alerts/"):
        resp = await client.get(path, headers=auth)
        assert resp.status == 503, path
        assert int(resp.headers["Retry-After"]) > 0
        assert "detail" in await resp.json()
    outage_lines = [r for r in caplog.records if r.getMessage().startswith("redis unavailable")]
    assert len(outage_lines) == 1
    own_redis_server.start()
    assert (await client.get("/api/v1/integrations/", headers=auth)).status == 200
    assert [r for r in caplog.records if r.getMessage() == "redis available again"]
    await redis.aclose()
