"""What the import will not do silently: token and name conflicts, unsupported types, invalid
templates, label routes, a refused token; each reported, with exit code 3 (or 1)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.settings import Settings
from ingest.store import integrations as integration_store
from ingest.store import keys, oncall_ids
from tests.conftest import TokenFactory
from tests.import_helpers import run_import, snapshot, standard
from tests.oncall_fake import TOKEN, FakeOnCall

Client = TestClient[Any, Any]
AiohttpServer = Any


async def cli(server: EmbeddedRedis, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of ``alert-ingest import oncall ARGS``."""
    env = {**os.environ, "ALERT_INGEST_REDIS_URL": server.url}
    env.pop("ALERT_INGEST_IMPORT_TOKEN", None)
    if token is not None:
        env["ALERT_INGEST_IMPORT_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", "import", "oncall", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return await proc.wait(), out.decode(), err.decode()


async def test_conflicts_and_unsupported_types_exit_3(
    aiohttp_server: AiohttpServer,
    redis_server: EmbeddedRedis,
    redis: Redis,
    client: Client,
    make_token: TokenFactory,
) -> None:
    fake = FakeOnCall()
    standard(fake)
    datadog = fake.integration("dd", "datadog")
    server: TestServer = await aiohttp_server(fake.app())
    url = str(server.make_url("/"))
    code, out, _ = await cli(redis_server, "--url", url, "--org", "first")
    assert code == 3, out
    assert "type 'datadog' is not supported here: imported as webhook (same link)" in out
    # the sender's URL keeps working although the type here is webhook
    ids = await oncall_ids.load(redis, "first")
    dd = await integration_store.get(redis, "first", ids[datadog["id"]])
    assert dd is not None and dd.type == "webhook"
    path = datadog["link"].removeprefix("http://oncall.example")
    assert (await client.post(path, json={"title": "dd alert"})).status == 200

    auth = await make_token(org="second")
    resp = await client.post(
        "/api/v1/integrations/", json={"type": "webhook", "name": "custom-hook"}, headers=auth
    )
    assert resp.status == 201
    before = await snapshot(redis)
    code, out, _ = await cli(redis_server, "--url", url, "--org", "second", "--skip-unsupported")
    assert code == 3, out
    assert out.count("an integration of another organization already uses its link token") == 6
    assert "type 'datadog' is not supported here (--skip-unsupported)" in out
    assert "incomplete: " in out
    after = await snapshot(redis)
    # the first org's integrations (and their tokens) were not touched
    assert {k: v for k, v in after.items() if b"link:" in k} == {
        k: v for k, v in before.items() if b"link:" in k
    }


async def test_name_conflict_invalid_template_and_label_route_are_reported(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings, client: Client,
    make_token: TokenFactory,
) -> None:  # fmt: skip
    fake = FakeOnCall()
    taken = fake.integration("taken name", "webhook")
    hook = fake.integration("hook", "webhook", web={"title": "{{ payload.x | nofilter }}"})
    am = fake.integration("am", "alertmanager")
    mail = fake.integration("mailbox", "inbound_email")
    fake.route(am, 0, "labels", None)
    fake.route(am, 1, "regex", "[unclosed")
    auth = await make_token(org="acme")
    resp = await client.post(
        "/api/v1/integrations/", json={"type": "webhook", "name": "taken name"}, headers=auth
    )
    assert resp.status == 201
    server: TestServer = await aiohttp_server(fake.app())
    code, out = await run_import(redis, settings, server)
    assert code == 3, out
    ids = await oncall_ids.load(redis, "acme")
    assert taken["id"] not in ids and hook["id"] not in ids and am["id"] in ids
    lines = out.splitlines()
    assert any("taken name" in line and "conflict" in line and "already has this name" in line
               for line in lines)  # fmt: skip
    assert any("templates.web.title: Invalid template" in line and "nofilter" in line
               for line in lines)  # fmt: skip
    assert any("am #1" in line and "label route" in line for line in lines)
    assert any("am #2" in line and "Regular expression is incorrect" in line for line in lines)
    assert mail["id"] not in ids and "same link" not in out
    assert any("mailbox (inbound_email)" in line and "skip" in line and "by email, which we do "
               "not receive" in line for line in lines)  # fmt: skip


async def test_a_token_held_here_is_taken_back_after_a_stopped_run_else_a_conflict_naming_it(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    am = fake.integration("prod-am", "alertmanager")
    server: TestServer = await aiohttp_server(fake.app())
    assert (await run_import(redis, settings, server))[0] == 0
    ids = await oncall_ids.load(redis, "acme")
    # as if the run had stopped between creating the integration and remembering it
    await redis.hdel(keys.org_oncall_ids("acme"), am["id"], am["default_route"]["id"])  # type: ignore[misc]
    code, out = await run_import(redis, settings, server)
    assert code == 0, out
    assert "integrations: 1 unchanged" in out and "stopped before remembering it" in out
    assert await oncall_ids.load(redis, "acme") == ids

    ours = await integration_store.get(redis, "acme", ids[am["id"]])
    assert ours is not None
    ours.name = "prod-am (ours)"  # renamed here, and the import's memory of it lost
    await integration_store.save(redis, ours)
    await redis.delete(keys.org_oncall_ids("acme"))
    before = await snapshot(redis)
    code, out = await run_import(redis, settings, server)
    assert code == 3, out
    assert f"integration 'prod-am (ours)' ({ours.id}) here already uses its link token" in out
    assert await snapshot(redis) == before


async def test_refused_token_and_missing_token(
    aiohttp_server: AiohttpServer, redis_server: EmbeddedRedis, redis: Redis
) -> None:
    server: TestServer = await aiohttp_server(FakeOnCall().app())
    url = str(server.make_url("/"))
    # every failure is one line on stderr, as the README says of every command
    code, out, err = await cli(redis_server, "--url", url, "--org", "acme", "--token", "wrong")
    assert code == 1 and err.startswith("error: OnCall refused the token (403"), err
    assert len(err.splitlines()) == 1 and "refused" not in out, out
    code, out, err = await cli(redis_server, "--url", url, "--org", "acme", token=None)
    assert code == 2 and "give --token or set ALERT_INGEST_IMPORT_TOKEN" in err and not out
    code, out, err = await cli(redis_server, "--url", "ftp://x", "--org", "acme")
    assert code == 2 and "is not an http(s) URL" in err
    assert await redis.dbsize() == 0
