"""``ALERT_INGEST_REDIS_MIN_REPLICAS``: a 2xx only once replicas hold the alert's job (``WAIT``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.store.aio import aw
from tests.conftest import AiohttpClient
from tests.queue_helpers import queued_jobs
from tests.test_links_durability import setup_link


async def test_answers_200_once_the_replica_holds_the_job(
    aiohttp_client: AiohttpClient, own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    primary = Redis.from_url(own_redis_server.url)
    await primary.config_set("repl-diskless-sync-delay", 0)
    replica = EmbeddedRedis(
        tmp_path / "replica", extra_args=["--replicaof", "127.0.0.1", str(own_redis_server.port)]
    )
    replica.start()
    try:
        await aw(primary.set("synced", 1))
        assert await primary.wait(1, 10_000) == 1
        client, link, redis = await setup_link(
            aiohttp_client, own_redis_server, redis_min_replicas=1, redis_replica_timeout_ms=2000
        )
        for n in range(20):
            resp = await client.post(link, json={"n": n})
            assert resp.status == 200, await resp.text()
        # the replica held each job when its 200 was sent; read it there
        on_replica = Redis.from_url(replica.url)
        assert sorted(j["payload"]["n"] for j in await queued_jobs(on_replica)) == list(range(20))
        assert replica.process is not None
        os.kill(replica.process.pid, signal.SIGSTOP)  # a replica that stops confirming (2 s)
        try:
            resp = await client.post(link, json={"n": 20})
        finally:
            os.kill(replica.process.pid, signal.SIGCONT)
        assert resp.status == 503
        assert int(resp.headers["Retry-After"]) > 0
        assert (await client.post(link, json={"n": 21})).status == 200
        await on_replica.aclose()
        await redis.aclose()
    finally:
        replica.kill()
        await primary.aclose()


async def test_without_enough_replicas_every_post_is_503(
    aiohttp_client: AiohttpClient, own_redis_server: EmbeddedRedis
) -> None:
    client, link, redis = await setup_link(
        aiohttp_client, own_redis_server, redis_min_replicas=1, redis_replica_timeout_ms=100
    )
    resp = await client.post(link, json={"n": 0})
    assert resp.status == 503
    assert int(resp.headers["Retry-After"]) > 0
    assert "detail" in await resp.json()
    await redis.aclose()
