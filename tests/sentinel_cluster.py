"""A real Redis Sentinel deployment on loopback for failover tests.

One primary, ``replicas`` replicas and three ``redis-sentinel`` processes, each on a free port in a
folder of its own, every one dying with the test process. The sentinels are tuned to react within
about a second (``down-after-milliseconds`` 1000) so a failover test takes seconds, not minutes;
production values are in ``docs/operating-redis.md``.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from ingest.embedded_redis import EmbeddedRedis, die_with_parent, free_port

SERVICE = "alerts"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


class SentinelCluster:
    """``start()`` returns when every sentinel sees the primary, each replica and its peers."""

    def __init__(self, directory: Path, sentinel_program: str, replicas: int = 1) -> None:
        self.directory = directory
        self.sentinel_program = sentinel_program
        # a replica's first sync starts at once, not after the default 5 s
        quick_sync = ["--repl-diskless-sync-delay", "0"]
        primary = EmbeddedRedis(directory / "redis-0", extra_args=quick_sync)
        self.servers = [primary] + [
            EmbeddedRedis(
                directory / f"redis-{n}",
                extra_args=[*quick_sync, "--replicaof", "127.0.0.1", str(primary.port)],
            )
            for n in range(1, replicas + 1)
        ]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def start(self, timeout: float = 20.0) -> None:
        for server in self.servers:
            server.start()
        deadline = time.monotonic() + timeout
        # After a diskless full sync the primary streams to a replica only once the replica's
        # first acknowledgement arrives (up to a second later): wait until a write has arrived.
        with Redis(port=self.servers[0].port) as primary:
            primary.set("sentinel-cluster:ready", "1")
        for server in self.servers[1:]:
            self._until(deadline, functools.partial(_has_ready_mark, server.port))
        for port in self.sentinel_ports:
            self.sentinels.append(self._start_sentinel(port))
        replicas = len(self.servers) - 1
        for port in self.sentinel_ports:
            self._until(deadline, functools.partial(self._sees_all, port, replicas))

    def _start_sentinel(self, port: int) -> subprocess.Popen[bytes]:
        # Each sentinel is told its peers and the replicas up front, which it would otherwise
        # learn from hello messages and INFO within seconds: the cluster is ready sooner.
        peers = "".join(
            f"sentinel known-sentinel {SERVICE} 127.0.0.1 {other} {_sentinel_id(other)}\n"
            for other in self.sentinel_ports
            if other != port
        )
        replicas = "".join(
            f"sentinel known-replica {SERVICE} 127.0.0.1 {server.port}\n"
            for server in self.servers[1:]
        )
        folder = self.directory / f"sentinel-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "sentinel.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {folder}\n"
            f"logfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.servers[0].port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 2\n"
            f"sentinel myid {_sentinel_id(port)}\n" + peers + replicas
        )
        return subprocess.Popen(
            [self.sentinel_program, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def _sees_all(self, port: int, replicas: int) -> bool:
        try:
            with Redis(port=port, socket_timeout=1) as sentinel:
                state = sentinel.execute_command("SENTINEL", "MASTER", SERVICE)
        except (OSError, RedisError):  # not up yet
            return False
        fields = dict(zip(state[::2], state[1::2], strict=True))
        return int(fields[b"num-slaves"]) >= replicas and int(fields[b"num-other-sentinels"]) >= 2

    @staticmethod
    def _until(deadline: float, check: Callable[[], bool]) -> None:
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("sentinel cluster not ready")
            time.sleep(0.05)

    def primary_port(self, sentinel_port: int | None = None) -> int:
        """The primary's port as one sentinel (default: the first) sees it now."""
        with Redis(port=sentinel_port or self.sentinel_ports[0], socket_timeout=1) as sentinel:
            _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def server(self, port: int) -> EmbeddedRedis:
        return next(s for s in self.servers if s.port == port)

    def kill_primary(self) -> int:
        """SIGKILL the current primary; returns its port."""
        port = self.primary_port()
        self.server(port).kill()
        return port

    def pause_replicas(self, paused: bool) -> None:
        """SIGSTOP (or SIGCONT) every replica.

        Pausing also writes a 32 MB value to the primary, more than the sockets to the paused
        replicas can buffer: what the primary acknowledges next stays in its own memory, as when
        replicas fall behind, and dies with it."""
        primary = self.primary_port()
        for server in self.servers:
            if server.port != primary and server.process is not None:
                os.kill(server.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)
        if paused:
            with Redis(port=primary, socket_timeout=5) as client:
                client.set("sentinel-cluster:filler", b"x" * (32 << 20))

    def manual_failover(self) -> int:
        """``SENTINEL FAILOVER`` through the first sentinel; returns the old primary's port."""
        port = self.primary_port()
        with Redis(port=self.sentinel_ports[0], socket_timeout=2) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
        return port

    def wait_promoted(self, old_port: int, timeout: float = 15.0) -> float:
        """Wait until every sentinel names a primary other than ``old_port`` and it answers as
        a primary; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout

        def switched() -> bool:
            try:
                ports = {self.primary_port(p) for p in self.sentinel_ports}
            except (OSError, RedisError):
                return False
            if len(ports) != 1 or old_port in ports:
                return False
            return _replication(ports.pop()).get("role") == "master"

        self._until(deadline, switched)
        return time.monotonic() - started

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
            process.wait()
        for server in self.servers:
            server.kill()


def _has_ready_mark(port: int) -> bool:
    try:
        with Redis(port=port, socket_timeout=1) as client:
            return client.get("sentinel-cluster:ready") is not None
    except (OSError, RedisError):
        return False


def _sentinel_id(port: int) -> str:
    return f"{port:040x}"


def _replication(port: int) -> dict[str, Any]:
    """``INFO replication`` of the server on ``port``; empty when it does not answer."""
    try:
        with Redis(port=port, socket_timeout=1) as client:
            return dict(client.info("replication"))
    except (OSError, RedisError):
        return {}
