"""The one way alert-ingest runs Lua in Redis: a :class:`Script`, registered once per process.

Every script is a module-level ``Script`` (or a :class:`~ingest.batching.BatchedScript` built on
one), created at import from a constant or from a ``.lua`` file of the package
(:meth:`Script.from_package`), never per call. A ``Script`` is not bound to a Redis client:
``await script(redis, keys, args)`` sends ``EVALSHA`` over that client's pool; when Redis answers
``NOSCRIPT`` (after a restart, a failover or ``SCRIPT FLUSH``) it loads the source and sends the
same call again, which is safe because such a reply means nothing ran.

Keys: a script gets every key it names in ``KEYS``. Where it must find a key from data it reads
(an alert id in a zset, the organization of a group), it gets the key's pieces in ``ARGV``, built
by ``ingest.store.keys``, and only joins them: no key format is written in Lua.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError, ResponseError

Arg = bytes | str | int | float


class NotReplicated(RedisError):
    """Fewer replicas than asked confirmed a write in time: a failover could lose it."""


class Script:
    """One Lua script; ``await script(redis, keys, args)`` runs it (EVALSHA, loaded on NOSCRIPT)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    @classmethod
    def from_package(cls, package: str, name: str, prefix: str = "") -> Script:
        """The script in the file ``lua/<name>`` of ``package``, after ``prefix`` (shared code)."""
        return cls(prefix + read(package, name))

    async def __call__(
        self,
        redis: Redis,
        keys: Sequence[Arg],
        args: Sequence[Arg],
        wait: tuple[int, int] | None = None,
    ) -> Any:
        """``wait`` (replicas, timeout ms): confirm with ``WAIT`` (see ``execute_packed``)."""
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return await execute_packed(redis, command, wait)
        except NoScriptError:
            await redis.script_load(self.source)
            return await execute_packed(redis, command, wait)


def read(package: str, name: str) -> str:
    """The text of ``lua/<name>`` in ``package`` (shipped as package data)."""
    return resources.files(package).joinpath("lua").joinpath(name).read_text(encoding="utf-8")


async def execute_packed(
    redis: Redis, command: tuple[Any, ...], wait: tuple[int, int] | None = None
) -> Any:
    """``execute_command`` minus its Python packing: hiredis packs the (large) command.

    Same connection handling as redis-py: a connection from the client's pool, dropped by
    redis-py on any I/O error or timeout, returned to the pool afterwards; an error reply raises
    (``NoScriptError``, ``ResponseError``). With ``wait`` (replicas, timeout ms) a ``WAIT`` is
    sent with the command on the same connection; ``NotReplicated`` when fewer replicas
    confirmed it in time (``ALERT_INGEST_REDIS_MIN_REPLICAS``).
    """
    pool = redis.connection_pool
    conn = await pool.get_connection()
    try:
        packed = hiredis.pack_command(command)
        if wait is not None:
            wait_command: tuple[Any, ...] = ("WAIT", *wait)
            packed += hiredis.pack_command(wait_command)
        await conn.send_packed_command(packed)
        try:
            reply = await conn.read_response()
        except ResponseError:
            if wait is not None:
                await conn.read_response()  # the WAIT's reply: leave the connection clean
            raise
        if wait is not None:
            confirmed = int(await conn.read_response())
            if confirmed < wait[0]:
                raise NotReplicated(
                    f"{confirmed} of {wait[0]} replicas confirmed the write within {wait[1]} ms"
                )
        return reply
    finally:
        await pool.release(conn)
