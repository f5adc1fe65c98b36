"""Shared fixtures: a private redis-server, a clean database per test, the real app, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.embedded_redis import EmbeddedRedis
from ingest.models import SCOPES
from ingest.settings import Settings
from ingest.store import tokens
from tests.programs import require_program
from tests.sentinel_cluster import SentinelCluster

ALL_SCOPES = list(SCOPES)
FIXTURES = Path(__file__).resolve().parent / "fixtures"
AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One private redis-server for the session; tests that kill it use ``own_redis_server``."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server just for this test: stop, kill and restart it freely."""
    server = EmbeddedRedis(tmp_path / "redis", appendonly=True, appendfsync="always")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def sentinel_cluster(tmp_path: Path) -> Iterator[Callable[..., SentinelCluster]]:
    """``sentinel_cluster(replicas=1)`` starts a primary, replicas and three sentinels."""
    started: list[SentinelCluster] = []

    def start(replicas: int = 1) -> SentinelCluster:
        cluster = SentinelCluster(tmp_path / f"sentinel-{len(started)}",
                                  require_program("redis-sentinel"), replicas)  # fmt: skip
        started.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def settings(redis_server: EmbeddedRedis) -> Settings:
    return Settings(redis_url=redis_server.url, base_url="http://testserver")


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))


TokenFactory = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def make_token(redis: Redis) -> TokenFactory:
    """``await make_token(org="o1", scopes=[...])`` → headers carrying a fresh token."""

    async def factory(
        org: str = "org1", scopes: list[str] | None = None, bearer: bool = True
    ) -> dict[str, str]:
        _, secret = await tokens.create_token(redis, org, scopes or ALL_SCOPES)
        return {"Authorization": f"Bearer {secret}" if bearer else secret}

    return factory


@pytest.fixture
async def auth(make_token: TokenFactory) -> dict[str, str]:
    return await make_token()
