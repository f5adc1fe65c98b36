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
from redis.exceptions import NoScriptError

Arg = bytes | str | int | float


class Script:
    """One Lua script; ``await script(redis, keys, args)`` runs it (EVALSHA, loaded on NOSCRIPT)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    @classmethod
    def from_package(cls, package: str, name: str, prefix: str = "") -> Script:
        """The script in the file ``lua/<name>`` of ``package``, after ``prefix`` (shared code)."""
        return cls(prefix + read(package, name))

    async def __call__(self, redis: Redis, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return await execute_packed(redis, command)
        except NoScriptError:
            await redis.script_load(self.source)
            return await execute_packed(redis, command)


def read(package: str, name: str) -> str:
    """The text of ``lua/<name>`` in ``package`` (shipped as package data)."""
    return resources.files(package).joinpath("lua").joinpath(name).read_text(encoding="utf-8")


async def execute_packed(redis: Redis, command: tuple[Any, ...]) -> Any:
    """``execute_command`` minus its Python packing: hiredis packs the (large) command.

    Same connection handling as redis-py: a connection from the client's pool, dropped by
    redis-py on any I/O error or timeout, returned to the pool afterwards; an error reply raises
    (``NoScriptError``, ``ResponseError``).
    """
    pool = redis.connection_pool
    conn = await pool.get_connection()
    try:
        await conn.send_packed_command(hiredis.pack_command(command))
        return await conn.read_response()
    finally:
        await pool.release(conn)
