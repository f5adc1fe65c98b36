"""The connection layer follows the primary through real Sentinel failovers (ingest.sentinel)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, RedisError

from ingest.redis_conn import connect, primary_generation
from ingest.store.aio import aw
from tests.sentinel_cluster import SentinelCluster

pytestmark = pytest.mark.slow


ClusterFactory = Callable[..., SentinelCluster]


@pytest.fixture
def cluster(sentinel_cluster: ClusterFactory) -> SentinelCluster:
    return sentinel_cluster(replicas=1)


async def write_steadily(client: Redis, stop: asyncio.Event, acked: list[int]) -> int:
    """RPUSH 0, 1, 2 ... from four tasks until ``stop``; ``acked`` gets each acknowledged number.
    Returns how many writes failed."""
    failed = 0
    counter = iter(range(10**9))

    async def one() -> None:
        nonlocal failed
        while not stop.is_set():
            n = next(counter)
            try:
                await aw(client.rpush("acked", n))
            except (RedisError, OSError):
                failed += 1
                await asyncio.sleep(0.05)
            else:
                acked.append(n)
            await asyncio.sleep(0.002)

    await asyncio.gather(*(one() for _ in range(4)))
    return failed


def stored(cluster: SentinelCluster) -> list[int]:
    with SyncRedis(port=cluster.primary_port()) as primary:
        return [int(x) for x in primary.lrange("acked", 0, -1)]


async def test_manual_failover_loses_no_acknowledged_write(
    cluster: SentinelCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "ingest.redis")
    client: Redis = connect(cluster.url)
    await client.ping()
    acked: list[int] = []
    stop = asyncio.Event()
    writing = asyncio.create_task(write_steadily(client, stop, acked))
    await asyncio.sleep(0.5)
    before = len(acked)
    old = cluster.manual_failover()
    cluster_wait = await asyncio.to_thread(cluster.wait_promoted, old)
    await asyncio.sleep(0.5)
    resumed = len(acked)
    await asyncio.sleep(0.5)
    stop.set()
    failed = await writing
    assert before > 0 and len(acked) > resumed  # writes went on after the switch
    assert sorted(stored(cluster)) == sorted(acked), (failed, cluster_wait)
    assert primary_generation(client) == 1
    changes = [r for r in caplog.records if r.getMessage() == "redis primary changed"]
    assert [(r.old, r.new) for r in changes] == [  # type: ignore[attr-defined]
        (f"127.0.0.1:{old}", f"127.0.0.1:{cluster.primary_port()}")
    ]
    await client.aclose()


async def test_primary_killed_writes_resume_on_the_promoted_replica(
    sentinel_cluster: ClusterFactory,
) -> None:
    cluster = sentinel_cluster(replicas=2)
    client: Redis = connect(cluster.url)
    acked: list[int] = []
    stop = asyncio.Event()
    writing = asyncio.create_task(write_steadily(client, stop, acked))
    await asyncio.sleep(0.3)
    old = cluster.kill_primary()
    killed_at = len(acked)
    promoted_in = await asyncio.to_thread(cluster.wait_promoted, old)
    await asyncio.sleep(1.0)
    stop.set()
    failed = await writing
    assert len(acked) > killed_at, "writes never resumed"
    assert failed > 0  # the outage was seen
    # At least one switch; on a loaded machine the sentinels' views can disagree for a moment
    # during promotion, so the pool may switch more than once: it must end on the new primary.
    assert primary_generation(client) >= 1
    pool = client.connection_pool
    assert pool.master_address == ("127.0.0.1", cluster.primary_port())  # type: ignore[attr-defined]
    on_new = set(stored(cluster))
    lost = [n for n in acked if n not in on_new]
    # asynchronous replication: at most the writes of the last moment before the kill
    assert len(lost) <= 8, (lost, promoted_in)
    await client.aclose()


async def test_a_server_that_is_no_longer_primary_is_refused(cluster: SentinelCluster) -> None:
    client: Redis = connect(cluster.url)
    await client.set("k", "v")
    replica = cluster.servers[1].port
    with SyncRedis(port=cluster.primary_port()) as primary:
        primary.execute_command("REPLICAOF", "127.0.0.1", replica)  # demoted behind Sentinel
    await client.connection_pool.disconnect()
    with pytest.raises(ConnectionError, match="not the primary"):
        await client.set("k", "w")
    await client.aclose()


async def test_plain_url_reconnects_after_readonly(sentinel_cluster: ClusterFactory) -> None:
    """A managed Redis moves its endpoint name: READONLY must not stick to the connection."""
    cluster = sentinel_cluster(replicas=1)
    primary, replica = cluster.servers
    client: Redis = connect(primary.url)
    await client.set("k", "v")
    before = await client.client_id()
    with SyncRedis(port=primary.port) as server:
        server.execute_command("REPLICAOF", "127.0.0.1", replica.port)
        with pytest.raises(ConnectionError, match="no longer the primary"):
            await client.set("k", "w")
        server.execute_command("REPLICAOF", "NO", "ONE")
    await client.set("k", "x")
    assert await client.client_id() != before  # a new connection, not the one that saw READONLY
    await client.aclose()
