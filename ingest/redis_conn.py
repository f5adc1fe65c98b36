"""One place that turns ``ALERT_INGEST_REDIS_URL`` into an asyncio Redis client.

``redis://`` and ``rediss://`` URLs get a pool that notices a new server behind the address
(``ingest.sentinel.PlainPool``); ``unix://`` goes to redis-py directly. Sentinel is written
``redis+sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]``: the client asks the
sentinels for the current master of ``<service>`` and follows fail-overs at once (see
``ingest.sentinel``): ``failover_wait`` is how long a command waits for a failover in progress to
end before it fails with a ``ConnectionError``. ``refuse_new_primary`` (the worker) makes the
first command on a new primary fail after the change is counted (``ingest.sentinel``).
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from ingest.sentinel import FollowingPool, PlainPool

R = TypeVar("R", bound=Redis)


def connect(
    url: str,
    cls: type[R] = Redis,  # type: ignore[assignment]
    failover_wait: float = 2.0,
    refuse_new_primary: bool = False,
    **kwargs: Any,
) -> R:
    """Return a client of class ``cls`` (``Redis`` or a subclass such as arq's ``ArqRedis``)."""
    kwargs.setdefault("health_check_interval", 30)
    kwargs.setdefault("socket_connect_timeout", 2.0)
    kwargs.setdefault("socket_timeout", 5.0)
    if url.startswith("redis+sentinel://"):
        return _sentinel(url, cls, failover_wait, refuse_new_primary, **kwargs)
    if url.startswith(("redis://", "rediss://")):
        pool = PlainPool.from_url(url, refuse_new_primary=refuse_new_primary, **kwargs)
        plain = cls.from_pool(pool)
        assert isinstance(plain, cls)
        return plain
    client: R = cls.from_url(url, **kwargs)
    return client


def _sentinel(
    url: str, cls: type[R], failover_wait: float, refuse_new_primary: bool, **kwargs: Any
) -> R:
    parts = urlsplit(url)
    netloc = parts.netloc
    password: str | None = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[-1]) or None
    hosts: list[tuple[str, int]] = []
    for item in netloc.split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if host else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a redis+sentinel URL needs the service name as its path")
    service = path[0]
    db = int(path[1]) if len(path) > 1 else 0
    sentinel_kwargs: dict[str, Any] = {"password": password} if password else {}
    sentinel_kwargs["socket_timeout"] = kwargs["socket_connect_timeout"]
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    pool = FollowingPool(
        service,
        sentinel,
        sentinels=hosts,
        sentinel_kwargs={"password": password} if password else {},
        failover_wait=failover_wait,
        refuse_new_primary=refuse_new_primary,
        is_master=True,
        password=password,
        db=db,
        **kwargs,
    )
    client = cls.from_pool(pool)
    assert isinstance(client, cls)
    return client


def primary_generation(client: Redis) -> int:
    """How many times the client's primary has changed (always 0 for ``unix://``)."""
    return int(getattr(client.connection_pool, "generation", 0))


def failing_over(client: Redis) -> bool:
    """True while a Sentinel failover of the client's primary holds its commands."""
    return bool(getattr(client.connection_pool, "failing_over", False))
