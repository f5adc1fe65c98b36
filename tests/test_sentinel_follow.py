"""The connection layer follows the primary through real Sentinel failovers, and through a
plain ``redis://`` address that reaches a new server (ingest.sentinel)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, RedisError

from ingest.embedded_redis import EmbeddedRedis, free_port
from ingest.redis_conn import connect, failing_over, primary_generation
from ingest.settings import Settings
from ingest.store.aio import aw
from tests.programs import require_program
from tests.sentinel_cluster import SentinelCluster
from worker.settings import create_worker

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
    fenced: list[bool] = []  # what /health/ready reads: True while commands are held

    async def sample() -> None:
        while not stop.is_set():
            fenced.append(failing_over(client))
            await asyncio.sleep(0.02)

    sampling = asyncio.create_task(sample())
    await asyncio.sleep(0.5)
    before = len(acked)
    old = cluster.manual_failover()
    cluster_wait = await asyncio.to_thread(cluster.wait_promoted, old)
    await asyncio.sleep(0.5)
    resumed = len(acked)
    await asyncio.sleep(0.5)
    stop.set()
    failed = await writing
    await sampling
    assert before > 0 and len(acked) > resumed  # writes went on after the switch
    assert True in fenced and not fenced[-1]
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
    assert primary_generation(client) == 1  # a job begun before the READONLY runs again
    await client.aclose()


async def test_plain_url_counts_a_new_server_behind_the_address(
    own_redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """A managed endpoint that now reaches another server (a new ``run_id``) is a change of
    primary; with ``refuse_new_primary`` the first command there fails instead of running."""
    caplog.set_level(logging.WARNING, "ingest.redis")
    lenient: Redis = connect(own_redis_server.url)
    strict: Redis = connect(own_redis_server.url, refuse_new_primary=True)
    for client in (lenient, strict):
        await client.set("k", "v")
        assert primary_generation(client) == 0
    own_redis_server.restart()  # the same address, a new server: it may lack the last writes
    for client in (lenient, strict):  # the old connections died with the old server
        await client.connection_pool.disconnect()
    assert await lenient.get("k") == b"v"  # the api's client: the next request just works
    with pytest.raises(ConnectionError, match="new Redis server"):
        await strict.get("k")
    assert await strict.get("k") == b"v"
    assert primary_generation(lenient) == primary_generation(strict) == 1
    changes = [r for r in caplog.records if r.getMessage() == "redis primary changed"]
    assert [r.via for r in changes] == ["reconnect", "reconnect"]  # type: ignore[attr-defined]
    for client in (lenient, strict):
        await client.aclose()


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, int]]:
    """A redis-server with a TLS port (a self-signed certificate) beside its plain one."""
    openssl = require_program("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls_port = free_port()
    tls = [
        "--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
    ]  # fmt: skip
    server = EmbeddedRedis(tmp_path / "redis", extra_args=tls)
    server.start()
    yield server, tls_port
    server.kill()


async def test_rediss_url_follows_the_server_too(tls_redis: tuple[EmbeddedRedis, int]) -> None:
    """A managed Redis is usually reached over TLS: ``rediss://`` reconnects on ``READONLY`` and
    counts a new server as ``redis://`` does."""
    server, tls_port = tls_redis
    client: Redis = connect(f"rediss://127.0.0.1:{tls_port}/0", ssl_cert_reqs="none")
    await client.set("k", "v")
    with SyncRedis(port=server.port) as plain:
        plain.execute_command("REPLICAOF", "127.0.0.1", free_port())  # demoted
        with pytest.raises(ConnectionError, match="no longer the primary"):
            await client.set("k", "w")
        plain.execute_command("REPLICAOF", "NO", "ONE")
    await client.set("k", "x")
    assert primary_generation(client) == 1
    server.restart()  # no persistence here: the new server has lost the write
    await client.connection_pool.disconnect()
    assert await client.get("k") is None
    assert primary_generation(client) == 2
    await client.aclose()


class MovingEndpoint:
    """A loopback TCP forwarder standing in for a managed Redis endpoint name: ``target`` is
    where new connections go; connections already open stay where they were."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.sleep(0.05)  # the forwarding tasks see their sockets closed and end


async def test_plain_url_leaves_the_old_server_when_the_endpoint_moved(
    sentinel_cluster: ClusterFactory,
) -> None:
    """A managed failover: the replica is promoted and the name moves to it while the old
    primary still accepts writes. Once one connection has reached the new server, connections
    still open to the old one are closed before their next use: no write goes there."""
    cluster = sentinel_cluster(replicas=1)
    old, new = cluster.servers
    endpoint = MovingEndpoint(old.port)
    await endpoint.start()
    client: Redis = connect(f"redis://127.0.0.1:{endpoint.port}/0")
    pool = client.connection_pool
    opened = [await pool.get_connection() for _ in range(2)]  # two connections to the old one
    with SyncRedis(port=new.port) as promoted:
        promoted.execute_command("REPLICAOF", "NO", "ONE")
    endpoint.target = new.port
    opened.append(await pool.get_connection())  # a new connection: it reaches the new server
    for connection in opened:
        await pool.release(connection)
    held = [await pool.get_connection() for _ in range(3)]  # the same three connections
    for connection in held:
        await connection.send_command("INCR", "writes")
        await connection.read_response()
        await pool.release(connection)
    assert primary_generation(client) == 1
    with SyncRedis(port=old.port) as before, SyncRedis(port=new.port) as after:
        assert before.get("writes") is None
        assert after.get("writes") == b"3"
    await client.aclose()
    await endpoint.stop()


async def test_worker_reruns_a_job_when_the_server_behind_a_plain_url_changed(
    own_redis_server: EmbeddedRedis,
) -> None:
    """A job that began on one server and finishes on another is released, not marked done:
    its writes may have gone to the server that is gone (asynchronous replication)."""
    pool = connect(own_redis_server.url, ArqRedis, refuse_new_primary=True)
    worker = create_worker(Settings(redis_url=own_redis_server.url), pool, handle_signals=False)
    queue = worker.queue_name
    await pool.zadd(queue, {"a1": 1})
    await pool.set(job_key_prefix + "a1", b"job")
    await pool.set(in_progress_key_prefix + "a1", worker.owner)
    began = primary_generation(pool)  # as the job notes it when it starts
    own_redis_server.restart()
    await worker._finish("a1", "done", began)
    assert primary_generation(pool) == began + 1
    assert await pool.zscore(queue, "a1") == 1  # still queued: another run adds what was lost
    assert await pool.exists(job_key_prefix + "a1") == 1
    assert await pool.exists(in_progress_key_prefix + "a1") == 0  # released: claimable at once
    await worker.close()
