"""Following the Redis primary through Sentinel failovers, writing to nothing else.

redis-py's Sentinel pool asks the sentinels for the primary only when it opens a connection, so
connections opened before a failover go on writing to the old primary for as long as it accepts
writes: after a ``SENTINEL FAILOVER`` that is until Sentinel demotes it, seconds later, and every
write acknowledged meanwhile is discarded when it resyncs from the new primary. Here:

* **Fence**: every sentinel is watched over pub/sub. When one starts a failover of our service
  (``+try-failover``), new commands wait (up to ``failover_wait`` seconds, then fail with a
  ``ConnectionError``, which the link endpoint answers with 503) until the failover ends
  (``+switch-master``, or an abort). Sentinel promotes the replica a few of its timer ticks after
  ``+try-failover``: writes already sent reach the replica before it is promoted.
* **Switch**: on ``+switch-master`` (or when a new connection's lookup finds a different
  primary) connections to the old address are closed before their next use, and a JSON log line
  ``redis primary changed`` names the old and new address. ``generation`` counts the changes, so
  a worker can tell that a job it began may have written to a primary that is gone.
* **Role check**: a new connection asks ``ROLE`` and is refused unless the server is a primary
  (a sentinel's answer can be stale), and a ``READONLY`` reply closes the connection (redis-py).

A fence lasts at most ``FENCE_MAX_S``: a lost notification cannot stop writes for longer.

Without Sentinel (``redis://`` or ``rediss://``, e.g. a managed Redis whose endpoint name moves
to the new primary) there are no notifications; ``PlainPool`` and its ``ReconnectingConnection``
tell a change of primary from what the connections see:

* a ``READONLY`` reply (the server was demoted) closes the connection, so the next command
  reconnects through the name and finds the new primary instead of failing forever, and counts
  one change;
* each new connection reads the server's ``run_id`` (``INFO server``): a connection that lands on
  a different server than the pool's last one counts one change (a restarted server has a new
  ``run_id`` too, and it may have come back without its last writes), and connections still open
  to the old server are closed before their next use.

Both pools keep ``generation`` (changes seen) and log ``redis primary changed``. With
``refuse_new_primary`` a connection that itself finds the change (a Sentinel lookup naming a new
primary, a ``run_id`` that differs) fails its first command with ``ConnectionError`` after
counting it: a caller that noted ``generation`` before sending a command then sees the change
before anything it sends runs on the new primary. The worker needs that (``worker.runner``); the
api does not, and a restarted single Redis answers its very next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, ConnectionPool, SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection
from redis.exceptions import ConnectionError, ReadOnlyError, RedisError, ResponseError
from redis.utils import str_if_bytes

log = logging.getLogger("ingest.redis")

FENCE_MAX_S = 10.0
Address = tuple[str, int]


class ReconnectingConnection(Connection):
    """A plain connection that closes itself on ``READONLY`` and tells its ``PlainPool`` which
    server it reached (module doc)."""

    following: PlainPool | None = None  # set by the pool that made it
    server_id: str | None = None  # the run_id of the server it is connected to, when known

    async def on_connect(self) -> None:
        await super().on_connect()
        if self.following is not None:
            await self.following.identify(self)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ReadOnlyError:
            await self.disconnect()
            if self.following is not None:
                self.following.demoted(self)
            raise ConnectionError(f"{self.host}:{self.port} is no longer the primary") from None


class ReconnectingSSLConnection(ReconnectingConnection, SSLConnection):
    """``ReconnectingConnection`` over TLS (``rediss://``)."""


_FOLLOWING: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: ReconnectingConnection,
    SSLConnection: ReconnectingSSLConnection,
}


class PlainPool(ConnectionPool):
    """The pool of a ``redis://`` or ``rediss://`` URL: counts changes of the server behind it
    (module doc)."""

    def __init__(self, *, refuse_new_primary: bool = False, **kwargs: Any) -> None:
        plain = kwargs.get("connection_class", Connection)  # the URL's scheme decides
        kwargs["connection_class"] = _FOLLOWING.get(plain, plain)
        super().__init__(**kwargs)
        self.generation = 0
        self.server_id: str | None = None  # None: not known yet, or forgotten on READONLY
        self._refuse_new_primary = refuse_new_primary

    def make_connection(self) -> AbstractConnection:
        connection: AbstractConnection = super().make_connection()  # type: ignore[no-untyped-call]
        if isinstance(connection, ReconnectingConnection):
            connection.following = self
        return connection

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        known = getattr(connection, "server_id", None)
        left = None not in (known, self.server_id) and known != self.server_id
        if left and connection.is_connected:  # open to a server the pool has left
            await connection.disconnect()
        await super().ensure_connection(connection)

    async def identify(self, connection: ReconnectingConnection) -> None:
        """Called on each new connection: note its server, count a change of server."""
        await connection.send_command("INFO", "server", check_health=False)
        try:
            info = str_if_bytes(await connection.read_response())
        except ResponseError:  # INFO refused (a managed service may): READONLY alone tells
            return
        run_id = next(
            (line[7:].strip() for line in info.splitlines() if line.startswith("run_id:")), None
        )
        connection.server_id = run_id
        if run_id is None or run_id == self.server_id:
            return
        previous, self.server_id = self.server_id, run_id
        if previous is None:  # the first server, or the first after a READONLY (counted then)
            return
        self._changed(connection, "reconnect", old=previous, new=run_id)
        if self._refuse_new_primary:
            raise ConnectionError(f"{connection.host}:{connection.port} is a new Redis server")

    def demoted(self, connection: ReconnectingConnection) -> None:
        """A connection got ``READONLY``: its server is no longer the primary."""
        if connection.server_id is not None and connection.server_id != self.server_id:
            return  # a server the pool has already left (another connection saw it first)
        self.server_id = None
        self._changed(connection, "readonly", old=connection.server_id, new=None)

    def _changed(
        self, connection: ReconnectingConnection, via: str, old: str | None, new: str | None
    ) -> None:
        address = f"{connection.host}:{connection.port}"
        count_change(self, address=address, old_run_id=old, new_run_id=new, via=via)


def count_change(pool: PlainPool | FollowingPool, **fields: object) -> None:
    """One change of primary, for either pool: ``generation`` moves and one line says so."""
    pool.generation += 1
    log.warning("redis primary changed", extra={**fields, "generation": pool.generation})


class PrimaryConnection(SentinelManagedConnection):
    """A connection that only stays open to a server answering ``ROLE`` as the primary."""

    async def connect_to(self, address: Address) -> None:
        self.host, self.port = address
        await Connection.connect(self)  # type: ignore[no-untyped-call]
        await self.send_command("ROLE")
        role = await self.read_response()
        if not isinstance(role, list) or str_if_bytes(role[0]) != "master":
            await self.disconnect()
            raise ConnectionError(f"{self.host}:{self.port} is not the primary (role {role!r})")


class FollowingPool(SentinelConnectionPool):
    """The pool of a Sentinel-managed primary that follows failovers at once (module doc)."""

    def __init__(
        self,
        service_name: str,
        sentinel_manager: Any,
        *,
        sentinels: list[Address],
        sentinel_kwargs: dict[str, Any],
        failover_wait: float,
        refuse_new_primary: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs["connection_class"] = PrimaryConnection
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self.generation = 0
        self._sentinels = sentinels
        self._sentinel_kwargs = sentinel_kwargs
        self._failover_wait = failover_wait
        self._refuse_new_primary = refuse_new_primary
        self._fences: dict[Address, float] = {}
        self._fence_changed = asyncio.Event()
        self._watchers: list[asyncio.Task[None]] = []

    # -- switching ----------------------------------------------------------------------------

    async def get_master_address(self) -> Address:
        host, port = await self.sentinel_manager.discover_master(self.service_name)
        address = (str(host), int(port))
        if self.switch(address, "lookup") and self._refuse_new_primary:
            raise ConnectionError(f"{address[0]}:{address[1]} is a new primary")
        return address

    def switch(self, address: Address, via: str) -> bool:
        """Make ``address`` the primary; connections elsewhere are closed before their next use.
        True when that changed the primary (and ``generation``)."""
        previous = self.master_address
        if previous == address:
            return False
        self.master_address = address
        if previous is None:
            return False
        old, new = f"{previous[0]}:{previous[1]}", f"{address[0]}:{address[1]}"
        count_change(self, service=self.service_name, old=old, new=new, via=via)
        return True

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        stale = self.master_address is not None and (
            (connection.host, connection.port) != self.master_address  # type: ignore[attr-defined]
        )
        if stale and connection.is_connected:
            await connection.disconnect()
        await super().ensure_connection(connection)

    async def get_connection(self, *args: Any, **options: Any) -> Any:
        self._start_watching()
        await self._wait_unfenced()
        return await super().get_connection(*args, **options)

    # -- fencing ------------------------------------------------------------------------------

    @property
    def failing_over(self) -> bool:
        """True while a failover holds commands (``/health/ready`` answers 503 meanwhile)."""
        return self._fenced_for() > 0

    def _fence(self, sentinel: Address) -> None:
        if not self._fences:
            log.warning("redis failover started; holding commands", extra={"via": sentinel[1]})
        self._fences[sentinel] = asyncio.get_running_loop().time() + FENCE_MAX_S
        self._fence_changed.clear()

    def _unfence(self, sentinel: Address | None) -> None:
        if sentinel is None:
            self._fences.clear()
        else:
            self._fences.pop(sentinel, None)
        if not self._fences:
            self._fence_changed.set()

    def _fenced_for(self) -> float:
        now = asyncio.get_running_loop().time()
        for sentinel, until in list(self._fences.items()):
            if until <= now:
                log.warning("redis failover fence expired", extra={"via": sentinel[1]})
                self._unfence(sentinel)
        return max(self._fences.values(), default=now) - now

    async def _wait_unfenced(self) -> None:
        deadline = asyncio.get_running_loop().time() + self._failover_wait
        while (left := self._fenced_for()) > 0:
            budget = deadline - asyncio.get_running_loop().time()
            if budget <= 0:
                raise ConnectionError("Redis failover in progress")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, budget)):
                    await self._fence_changed.wait()

    # -- watching the sentinels ---------------------------------------------------------------

    def _start_watching(self) -> None:
        if self._watchers and not any(task.done() for task in self._watchers):
            return
        self._stop_watching()
        loop = asyncio.get_running_loop()
        self._watchers = [loop.create_task(self._watch(address)) for address in self._sentinels]

    def _stop_watching(self) -> None:
        for task in self._watchers:
            task.cancel()
        self._watchers = []

    async def _watch(self, sentinel: Address) -> None:
        delay = 0.2
        while True:
            client = Redis(
                host=sentinel[0],
                port=sentinel[1],
                socket_connect_timeout=2.0,
                socket_keepalive=True,
                **self._sentinel_kwargs,
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe("+try-failover", "+switch-master", "+failover-end")
                    await pubsub.psubscribe("-failover-abort-*")
                    delay = 0.2
                    async for message in pubsub.listen():
                        self._on_event(sentinel, message)
            except (RedisError, OSError):
                self._unfence(sentinel)  # an unreachable sentinel holds nothing up
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _on_event(self, sentinel: Address, message: dict[str, Any]) -> None:
        if message.get("type") not in ("message", "pmessage"):
            return
        channel = str_if_bytes(message["channel"])
        words = str_if_bytes(message["data"]).split()
        if channel == "+switch-master":
            if len(words) == 5 and words[0] == self.service_name:
                self.switch((words[3], int(words[4])), "switch-master")
                self._unfence(None)
            return
        # "<instance type> <name> <ip> <port>"
        if len(words) < 2 or words[0] != "master" or words[1] != self.service_name:
            return
        if channel == "+try-failover":
            self._fence(sentinel)
        else:  # +failover-end, -failover-abort-*
            self._unfence(sentinel)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        if inuse_connections:  # the client is being closed
            self._stop_watching()
        await super().disconnect(inuse_connections)
