"""The Lua loader (``ingest.lua``) and ``BatchedScript``, against a real redis-server."""

from __future__ import annotations

import ast
import asyncio
import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from ingest import lua
from ingest.batching import BatchedScript
from ingest.embedded_redis import EmbeddedRedis
from ingest.lua import Script
from ingest.store.aio import aw

ECHO = Script("return {KEYS[1], ARGV[1]}")

PACKAGES = ("alert_ingest", "ingest", "templates_engine", "worker")


def project_modules() -> Iterator[ModuleType]:
    """Every module of the project's packages, found by walking them (no list to keep)."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            yield importlib.import_module(info.name)


@pytest.fixture
async def own_client(own_redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    """A client of this test's own redis-server, which the test may stop and restart."""
    client = Redis.from_url(own_redis_server.url)
    yield client
    await client.aclose()


async def restart(server: EmbeddedRedis, client: Redis) -> None:
    server.restart()  # scripts are not persisted: the new server has none (AOF keeps the data)
    await client.connection_pool.disconnect()


def module_scripts() -> Iterator[tuple[str, Script]]:
    """Every ``Script`` a module holds, once, named where it is defined (or first found)."""
    seen: set[int] = set()
    for module in project_modules():
        for attr, value in vars(module).items():
            if isinstance(value, Script) and id(value) not in seen:
                seen.add(id(value))
                yield f"{module.__name__}.{attr}", value


@dataclass
class Batched:
    """One ``BatchedScript(...)`` of the source: where, and the names of its Lua pieces."""

    where: str
    body: str | None
    prologue: str | None = None
    epilogue: str | None = None


def _name(node: ast.expr | None) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _calls_by_function(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | None, ast.Call]]:
    """Every call of the tree with the function it is directly in (None: module level)."""

    def visit(node: ast.AST, function: ast.FunctionDef | None) -> Iterator[tuple[Any, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Call):
                yield function, child
            yield from visit(child, child if isinstance(child, ast.FunctionDef) else function)

    yield from visit(tree, None)


def batched_calls(module: ModuleType) -> Iterator[Batched]:
    """The ``BatchedScript(redis, body, prologue=..., epilogue=...)`` calls of ``module``.

    A piece named by a parameter of the enclosing function (``def batched(body): return
    BatchedScript(redis, body, ...)``) is followed to that function's callers in the module.
    """
    assert module.__file__ is not None
    calls = list(_calls_by_function(ast.parse(Path(module.__file__).read_text())))
    for function, call in calls:
        if _name(call.func) != "BatchedScript":
            continue
        pieces = {k.arg: _name(k.value) for k in call.keywords}
        base = Batched(
            f"{module.__name__}:{call.lineno}",
            _name(call.args[1]) if len(call.args) > 1 else pieces.get("body"),
            pieces.get("prologue"),
            pieces.get("epilogue"),
        )
        params = [a.arg for a in function.args.args] if function is not None else []
        if function is None or base.body not in params:
            yield base
            continue
        position = params.index(base.body)
        for _, outer in calls:
            if _name(outer.func) == function.name and len(outer.args) > position:
                where = f"{module.__name__}:{outer.lineno}"
                yield Batched(where, _name(outer.args[position]), base.prologue, base.epilogue)


def batched_scripts(redis: Redis) -> Iterator[tuple[str, BatchedScript]]:
    """Each batched body of the project wrapped as its owner wraps it (same prologue/epilogue)."""
    for module in project_modules():
        if module.__name__ == "ingest.batching":
            continue
        for call in batched_calls(module):
            pieces = vars(module)
            named = [call.body, call.prologue, call.epilogue]
            assert all(n is None or isinstance(pieces.get(n), str) for n in named), (
                f"{call.where}: give BatchedScript module-level strings, got {named}"
            )
            assert call.body is not None
            script = BatchedScript(
                redis,
                pieces[call.body],
                prologue=pieces[call.prologue] if call.prologue else "",
                epilogue=pieces[call.epilogue] if call.epilogue else "",
            )
            yield f"{module.__name__}.{call.body}", script


async def test_script_loads_itself_on_first_use(redis: Redis) -> None:
    await aw(redis.script_flush())
    assert await redis.script_exists(ECHO.sha) == [False]
    assert await ECHO(redis, ["k"], ["v"]) == [b"k", b"v"]
    assert await redis.script_exists(ECHO.sha) == [True]
    assert await ECHO(redis, ["k2"], [3]) == [b"k2", b"3"]


async def test_script_reloads_after_a_redis_restart(
    own_redis_server: EmbeddedRedis, own_client: Redis
) -> None:
    assert await ECHO(own_client, ["a"], ["1"]) == [b"a", b"1"]
    await restart(own_redis_server, own_client)
    assert await own_client.script_exists(ECHO.sha) == [False]
    assert await ECHO(own_client, ["b"], ["2"]) == [b"b", b"2"]


def test_package_lua_files_are_read_at_import() -> None:
    body = lua.read("worker", "grouping.lua")
    assert "KEYS[1]" in body
    with pytest.raises(FileNotFoundError):
        lua.read("worker", "no-such-script.lua")


async def test_every_script_compiles(redis: Redis) -> None:
    found = dict(module_scripts())
    assert {
        "ingest.store.group_actions._ACT",
        "worker.runner._CLAIM",
        "ingest.store.auto_resolve._RESOLVE",
        "ingest.store.change_events._ADD",
        "ingest.store.group_index.REINDEX",
        "ingest.store.groups._ROWS",
        "ingest.store.migrate._RENEW",
    } <= set(found)
    for name, script in found.items():
        assert await redis.script_load(script.source) == script.sha, name


async def test_every_batched_body_compiles_in_its_wrapper(redis: Redis) -> None:
    found = dict(batched_scripts(redis))
    assert {
        "ingest.queue._LINK_POST",
        "ingest.queue._REQUEUE",
        "worker.events._SCRIPT",
        "worker.grouping._BODY",
        "worker.runner._FINISH",
        "worker.webhooks.lanes._SETTLE",
        "worker.webhooks.deliver.FETCH",
    } <= set(found)
    for name, batched in found.items():
        assert await redis.script_load(batched.script.source) == batched.script.sha, name


async def test_every_script_builds_keys_only_from_store_keys(redis: Redis) -> None:
    """No key format is spelled in Lua: no ``':…'`` suffix joined onto a key."""
    sources = [s.source for _, s in module_scripts()]
    sources += [b.script.source for _, b in batched_scripts(redis)]
    sources += [lua.read("worker", "grouping.lua")]
    for source in sources:
        for line in source.splitlines():
            assert ".. ':" not in line, line


BODY = """
redis.call('RPUSH', KEYS[1], ARGV[1])
if ARGV[1] == 'boom' then error('boom ' .. ARGV[1]) end
if ARGV[1] == 'refuse' then return redis.error_reply('refused here') end
return redis.call('LLEN', KEYS[1])
"""
PROLOGUE = "redis.call('INCR', 'test:batches')"


async def test_concurrent_calls_go_out_as_one_batch(redis: Redis) -> None:
    script = BatchedScript(redis, BODY, prologue=PROLOGUE)
    replies = await asyncio.gather(*(script(["test:list"], [str(i)]) for i in range(20)))
    assert replies == list(range(1, 21))  # in call order, each atomic
    assert await redis.get("test:batches") == b"1"
    assert await script(["test:list"], ["x"]) == 21  # idle: a batch of one
    assert await redis.get("test:batches") == b"2"


async def test_a_failing_call_fails_only_its_caller(redis: Redis) -> None:
    script = BatchedScript(redis, BODY)
    calls = [script(["test:list"], [arg]) for arg in ("a", "boom", "b", "refuse", "c")]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[0] == 1 and results[2] == 3 and results[4] == 5
    assert isinstance(results[1], ResponseError) and "boom boom" in str(results[1])
    assert isinstance(results[3], ResponseError) and "refused here" in str(results[3])
    # the writes a failing call made before it failed are kept, as for a script on its own
    assert await aw(redis.lrange("test:list", 0, -1)) == [b"a", b"boom", b"b", b"refuse", b"c"]


async def test_batches_reload_the_script_after_a_flush(redis: Redis) -> None:
    script = BatchedScript(redis, BODY)
    assert await script(["test:list"], ["a"]) == 1
    await aw(redis.script_flush())
    replies = await asyncio.gather(script(["test:list"], ["b"]), script(["test:list"], ["c"]))
    assert list(replies) == [2, 3]


async def test_batches_reload_the_script_after_a_redis_restart(
    own_redis_server: EmbeddedRedis, own_client: Redis
) -> None:
    script = BatchedScript(own_client, BODY)
    assert await script(["test:list"], ["a"]) == 1
    await restart(own_redis_server, own_client)
    assert await own_client.script_exists(script.script.sha) == [False]
    replies = await asyncio.gather(*(script(["test:list"], [str(i)]) for i in range(3)))
    assert replies == [2, 3, 4]  # each call ran once: NOSCRIPT means nothing ran


async def test_a_lost_connection_fails_the_batch_and_the_next_one_works(
    own_redis_server: EmbeddedRedis, own_client: Redis
) -> None:
    script = BatchedScript(own_client, BODY)
    assert await script(["test:list"], ["a"]) == 1
    own_redis_server.stop()
    results = await asyncio.gather(
        script(["test:list"], ["b"]), script(["test:list"], ["c"]), return_exceptions=True
    )
    assert all(isinstance(r, (RedisConnectionError, OSError)) for r in results), results
    own_redis_server.start()
    assert await script(["test:list"], ["d"]) == 2
