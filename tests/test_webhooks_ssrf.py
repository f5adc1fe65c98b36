"""The SSRF guard at send time: end to end for loopback (the only range a test may connect to),
and through the guarded connector with a test resolver for every other range. A connector that
fails the test on any attempt to connect to a non-loopback address fences every case: **no test
opens a connection to anything but loopback.**"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.netguard import parse_networks
from ingest.settings import Settings
from tests.conftest import AiohttpClient, TokenFactory
from tests.group_helpers import fire, webhook
from tests.webhook_helpers import Client, add_webhook, delivering, eventually, receiving, responses
from worker.webhooks.connector import GuardedConnector, RefusedAddress

CREATED = "alert group created"


class LoopbackOnly(GuardedConnector):
    """Fails loudly if the code under test ever tries to connect anywhere but loopback."""

    attempted: list[str]

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        for info in kwargs.get("addr_infos", []):
            address = ipaddress.ip_address(info[4][0])
            if not address.is_loopback:
                self.attempted.append(str(address))
                raise AssertionError(f"connection to {address} attempted")
        return await super()._wrap_create_connection(*args, **kwargs)


class FakeDNS(AbstractResolver):
    """Names to addresses, answered in turn (the last answer repeats): a rebinding server."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: dict[str, int] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        turns = self.answers[host]
        n = self.calls.get(host, 0)
        self.calls[host] = n + 1
        addresses = turns[min(n, len(turns) - 1)]
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for a in addresses
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def fenced() -> AsyncIterator[tuple[aiohttp.ClientSession, FakeDNS, LoopbackOnly]]:
    dns = FakeDNS(
        {
            "metadata.test": [["169.254.169.254"]],
            "ten.test": [["10.0.0.1"]],
            "home.test": [["192.168.1.1"]],
            "mapped.test": [["::ffff:10.0.0.1"]],
            "mapped-meta.test": [["::ffff:169.254.169.254"]],
            "mixed.test": [["93.184.215.14", "10.0.0.1"]],
            "rebind.test": [["127.0.0.1"], ["10.0.0.1"]],
        }
    )
    connector = LoopbackOnly(
        parse_networks("127.0.0.0/8"), resolver=dns, use_dns_cache=False, force_close=True
    )
    connector.attempted = []
    session = aiohttp.ClientSession(connector=connector)
    yield session, dns, connector
    await session.close()
    assert connector.attempted == []


@pytest.mark.parametrize(
    "url",
    [
        "http://metadata.test/latest/meta-data/",
        "http://ten.test/",
        "http://home.test/",
        "http://mapped.test/",
        "http://mapped-meta.test/",
        "http://mixed.test/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
    ],
)
async def test_the_connector_refuses_before_connecting(
    fenced: tuple[aiohttp.ClientSession, FakeDNS, LoopbackOnly], url: str
) -> None:
    session, _, _ = fenced
    with pytest.raises((RefusedAddress, aiohttp.ClientConnectorError)) as caught:
        await session.get(url)
    refused = caught.value
    if isinstance(refused, aiohttp.ClientConnectorError):
        assert isinstance(refused.__cause__ or refused.__context__, RefusedAddress)


async def test_a_rebinding_name_is_checked_on_every_connection(
    fenced: tuple[aiohttp.ClientSession, FakeDNS, LoopbackOnly],
) -> None:
    session, dns, _ = fenced
    async with receiving() as rx:
        url = f"http://rebind.test:{rx.port}/x"
        async with session.get(url) as first:
            assert first.status == 200
        with pytest.raises((RefusedAddress, aiohttp.ClientConnectorError)):
            await session.get(url)
    assert dns.calls["rebind.test"] == 2 and len(rx.received) == 1


@pytest.fixture
async def closed_client(aiohttp_client: AiohttpClient, settings: Settings, redis: Redis) -> Client:
    """The api with no network allowed (the default)."""
    return await aiohttp_client(create_app(settings))


async def test_loopback_is_refused_end_to_end_when_no_network_is_allowed(
    closed_client: Client, settings: Settings, redis: Redis, make_token: TokenFactory
) -> None:
    auth = await make_token()
    integ = await webhook(closed_client, auth)
    async with receiving() as rx, delivering(redis, settings):
        hooks = {}
        for host in ("localhost", "127.0.0.1", "[::1]", "127.1", "[::ffff:127.0.0.1]"):
            url = f"http://{{{{ '{host}' }}}}:{rx.port}/x"
            hooks[host] = await add_webhook(closed_client, auth, url=url, trigger_type=CREATED)
        await fire(closed_client, settings, integ, {"k": "a"})
        for hook in hooks.values():
            await eventually(lambda h=hook: _logged(closed_client, auth, h["id"]))  # type: ignore[misc]
        await asyncio.sleep(0.2)
    assert rx.received == []
    for host, hook in hooks.items():
        [entry] = await responses(closed_client, auth, hook["id"])
        assert entry["outcome"] == "refused" and entry["status_code"] is None, host
        assert entry["error"].startswith("URL - "), (host, entry["error"])


async def _logged(client: Client, auth: dict[str, str], webhook_id: str) -> bool:
    return bool(await responses(client, auth, webhook_id))


async def test_redirects_are_not_followed(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis, make_token: TokenFactory
) -> None:
    allowed = settings.replace(webhook_allowed_networks=parse_networks("127.0.0.0/8"))
    client = await aiohttp_client(create_app(allowed))
    auth = await make_token()
    integ = await webhook(client, auth)
    async with receiving() as target:

        async def redirect(request: web.Request, n: int) -> web.StreamResponse:
            raise web.HTTPFound(f"http://localhost:{target.port}/stolen")

        async with receiving(redirect) as rx, delivering(redis, allowed):
            hook = await add_webhook(client, auth, url=rx.url + "/r", trigger_type=CREATED)
            await fire(client, allowed, integ, {"k": "a"})
            await eventually(lambda: _logged(client, auth, hook["id"]))
            await asyncio.sleep(0.2)
    assert len(rx.received) == 1 and target.received == []
    [entry] = await responses(client, auth, hook["id"])
    assert (entry["status_code"], entry["outcome"], entry["attempt"]) == (302, "failed", 1)
    assert orjson.loads(entry["event_data"])["event"]["type"] == CREATED
