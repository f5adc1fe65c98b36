"""Webhook delivery end to end: real app, real arq worker, the delivery service, and receivers
on loopback (``127.0.0.0/8`` allowed, as the guard refuses it by default)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import orjson
import pytest
from aiohttp import web
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.netguard import parse_networks
from ingest.settings import Settings
from tests.conftest import AiohttpClient, TokenFactory
from tests.group_helpers import act, fire, only_group, webhook
from tests.webhook_helpers import (
    FAST,
    Client,
    Received,
    add_webhook,
    delivering,
    eventually,
    receiving,
    responses,
)

SECRET = "s3cr3t-signing-key-0123456789"
CREATED = "alert group created"


@pytest.fixture
def wh_settings(settings: Settings) -> Settings:
    return settings.replace(webhook_allowed_networks=parse_networks("127.0.0.0/8"))


@pytest.fixture
async def wh_client(aiohttp_client: AiohttpClient, wh_settings: Settings, redis: Redis) -> Client:
    return await aiohttp_client(create_app(wh_settings))


@pytest.fixture
async def auth(make_token: TokenFactory) -> dict[str, str]:
    return await make_token(bearer=False)


def event_types(received: list[Received]) -> list[str]:
    return [orjson.loads(r.body)["event"]["type"] for r in received]


async def test_every_trigger_type_fires_from_signals_and_actions(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    chain = await (await wh_client.post("/api/v1/escalation_chains/", json={"name": "c"},
                                        headers=auth)).json()  # fmt: skip
    integ = await webhook(wh_client, auth, default_route={"escalation_chain_id": chain["id"]})
    triggers = ["escalation", "alert group created", "acknowledge", "resolve", "silence",
                "unsilence", "unresolve", "unacknowledge", "status change"]  # fmt: skip
    async with receiving() as rx, delivering(redis, wh_settings):
        for trigger in triggers:
            path = "/" + trigger.replace(" ", "-")
            await add_webhook(wh_client, auth, url=rx.url + path, trigger_type=trigger)
        await fire(wh_client, wh_settings, integ, {"k": "a"}, {"k": "a", "state": "ack"})
        group = await only_group(wh_client, auth)
        for verb in ("unacknowledge", "silence", "unsilence", "resolve", "unresolve"):
            assert (await act(wh_client, auth, group["id"], verb, json={"delay": 60}))[0] == 200
        await fire(wh_client, wh_settings, integ, {"k": "a", "state": "ok"})
        await rx.wait_for(7, "/status-change")
        await asyncio.sleep(0.3)  # nothing more arrives
        expected = {
            "/escalation": ["alert group created"],
            "/alert-group-created": ["alert group created"],
            "/acknowledge": ["acknowledge"],
            "/unacknowledge": ["unacknowledge"],
            "/silence": ["silence"],
            "/unsilence": ["unsilence"],
            "/resolve": ["resolve", "resolve"],
            "/unresolve": ["unresolve"],
            "/status-change": [
                "acknowledge",
                "unacknowledge",
                "silence",
                "unsilence",
                "resolve",
                "unresolve",
                "resolve",
            ],
        }
        assert {path: event_types(rx.on(path)) for path in expected} == expected
    body = orjson.loads(rx.on("/unsilence")[0].body)
    assert body["alert_group"]["id"] == group["id"]
    assert body["user"]["username"] and body["integration"]["id"] == integ["id"]
    assert body["alert_payload"] == {"k": "a"}
    assert body["event"]["time"].endswith("+00:00")


async def test_integration_filter_and_trigger_template(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    first = await webhook(wh_client, auth)
    second = await webhook(wh_client, auth)
    async with receiving() as rx, delivering(redis, wh_settings):
        common = {"url": rx.url + "/f", "trigger_type": "alert group created"}
        await add_webhook(wh_client, auth, **common, integration_filter=[second["id"]])
        await add_webhook(wh_client, auth, url=rx.url + "/t", trigger_type="alert group created",
                          trigger_template="{{ alert_payload.k == 'yes' }}")  # fmt: skip
        await fire(wh_client, wh_settings, first, {"k": "no"}, {"k": "yes"})
        await fire(wh_client, wh_settings, second, {"k": "other"})
        await rx.wait_for(1, "/f")
        await rx.wait_for(1, "/t")
        await asyncio.sleep(0.3)
    assert [orjson.loads(r.body)["integration"]["id"] for r in rx.on("/f")] == [second["id"]]
    assert [orjson.loads(r.body)["alert_payload"]["k"] for r in rx.on("/t")] == ["yes"]


async def test_two_500s_then_success_is_delivered_once_with_one_delivery_id(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    async def flaky(request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(status=500 if n <= 2 else 200, text=f"try {n}")

    integ = await webhook(wh_client, auth)
    async with receiving(flaky) as rx, delivering(redis, wh_settings):
        hook = await add_webhook(
            wh_client, auth, url=rx.url + "/x", trigger_type="alert group created"
        )
        await fire(wh_client, wh_settings, integ, {"k": "a"})
        await rx.wait_for(3)
        await eventually(lambda: _count(wh_client, auth, hook["id"], 3))
        await asyncio.sleep(0.3)
    assert len(rx.received) == 3
    ids = {r.headers["X-Alert-Ingest-Delivery"] for r in rx.received}
    assert len(ids) == 1
    log = await responses(wh_client, auth, hook["id"])
    assert [(e["status_code"], e["attempt"], e["outcome"]) for e in log] == [
        (200, 3, "delivered"), (500, 2, "retrying"), (500, 1, "retrying")
    ]  # fmt: skip
    assert {e["delivery_id"] for e in log} == ids
    assert log[0]["content"] == "try 3"


async def _count(client: Client, auth: dict[str, str], webhook_id: str, n: int) -> bool:
    return len(await responses(client, auth, webhook_id)) >= n


async def test_a_slow_receiver_times_out_and_is_retried(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    async def slow_once(request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:
            await asyncio.sleep(3)
        return web.Response(text="ok")

    integ = await webhook(wh_client, auth)
    async with receiving(slow_once) as rx, delivering(redis, wh_settings):
        hook = await add_webhook(
            wh_client, auth, url=rx.url + "/s", trigger_type="alert group created"
        )
        await fire(wh_client, wh_settings, integ, {"k": "a"})
        await eventually(lambda: _count(wh_client, auth, hook["id"], 2))
    log = await responses(wh_client, auth, hook["id"])
    assert [e["outcome"] for e in log] == ["delivered", "retrying"]
    assert log[1]["error"].startswith("Timeout") and log[1]["status_code"] is None
    assert log[1]["duration_ms"] < 2000


async def test_a_dead_receiver_opens_its_breaker_and_others_still_get_theirs(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    integ = await webhook(wh_client, auth)
    async with receiving() as dead:
        dead_url = dead.url
    async with receiving() as rx, delivering(redis, wh_settings) as service:
        hook = await add_webhook(
            wh_client, auth, url=dead_url + "/d", trigger_type="alert group created"
        )
        await add_webhook(wh_client, auth, url=rx.url + "/ok", trigger_type="alert group created")
        await fire(wh_client, wh_settings, integ, *({"k": str(i)} for i in range(8)))
        await rx.wait_for(8, "/ok")
        assert service.deliverer is not None
        await eventually(lambda: _breaker_open(service.deliverer, hook["id"]))
        attempts = len(await responses(wh_client, auth, hook["id"]))
        await asyncio.sleep(1.0)
        # open: the dead endpoint is not tried again until the cooldown ends
        assert len(await responses(wh_client, auth, hook["id"])) == attempts
    log = await responses(wh_client, auth, hook["id"])
    assert all(e["error"].startswith("Connection error") for e in log)


async def _breaker_open(deliverer: Any, webhook_id: str) -> bool:
    return deliverer.breakers.blocked_until(webhook_id, time.time()) is not None


async def test_events_of_a_group_arrive_in_order(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    async def slow_first(request: web.Request, n: int) -> web.StreamResponse:
        await asyncio.sleep(0.2 if n == 1 else 0)
        return web.Response(status=500 if n == 2 else 200)

    integ = await webhook(wh_client, auth)
    await fire(wh_client, wh_settings, integ, {"k": "a"})
    group = await only_group(wh_client, auth)
    async with receiving(slow_first) as rx:
        await add_webhook(wh_client, auth, url=rx.url + "/o", trigger_type="status change")
        for verb in ("acknowledge", "unacknowledge", "resolve", "unresolve", "resolve"):
            assert (await act(wh_client, auth, group["id"], verb))[0] == 200
        async with delivering(redis, wh_settings):
            await rx.wait_for(6)
    # the second request failed and was retried before anything later was sent
    assert event_types(rx.received) == [
        "acknowledge", "unacknowledge", "unacknowledge", "resolve", "unresolve", "resolve"
    ]  # fmt: skip


async def test_the_receiver_verifies_the_signature(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
        parts = dict(item.split("=", 1) for item in header.split(","))
        signed = f"{parts['t']}.".encode() + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(parts["t"])) <= tolerance
        return fresh and hmac.compare_digest(expected, parts["v1"])

    integ = await webhook(wh_client, auth)
    async with receiving() as rx, delivering(redis, wh_settings):
        await add_webhook(wh_client, auth, url=rx.url + "/sig", trigger_type="alert group created",
                          signing_secret=SECRET, data='{"title": "{{ alert_group.title }}"}',
                          forward_all=False)  # fmt: skip
        await fire(wh_client, wh_settings, integ, {"k": 'quote " and \\ backslash'})
        await rx.wait_for(1)
    got = rx.received[0]
    assert verify(SECRET, got.headers["X-Alert-Ingest-Signature"], got.body)
    assert not verify("wrong", got.headers["X-Alert-Ingest-Signature"], got.body)
    assert not verify(SECRET, got.headers["X-Alert-Ingest-Signature"], got.body + b" ")
    assert got.headers["Content-Type"] == "application/json"
    assert orjson.loads(got.body) == {"title": 'Alert quote " and \\ backslash'}


async def test_secrets_are_sent_but_never_shown_or_logged(
    wh_client: Client,
    wh_settings: Settings,
    redis: Redis,
    auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    integ = await webhook(wh_client, auth)
    async with receiving() as rx, delivering(redis, wh_settings):
        hook = await add_webhook(
            wh_client, auth, url=rx.url + "/a", trigger_type="alert group created",
            authorization_header="Bearer very-secret", signing_secret=SECRET,
            headers='{"X-Api-Key": "key-123", "X-Plain": "{{ event.type }}"}',
        )  # fmt: skip
        await fire(wh_client, wh_settings, integ, {"k": "a"})
        await rx.wait_for(1)
        await eventually(lambda: _count(wh_client, auth, hook["id"], 1))
    got = rx.received[0]
    assert got.headers["Authorization"] == "Bearer very-secret"
    assert got.headers["X-Api-Key"] == "key-123"
    assert got.headers["X-Plain"] == "alert group created"
    log = orjson.dumps(await responses(wh_client, auth, hook["id"])).decode()
    listed = await (await wh_client.get("/api/v1/webhooks/", headers=auth)).text()
    for secret in ("very-secret", SECRET):
        assert secret not in log and secret not in listed and secret not in caplog.text
    # a header template is not a secret field (it is shown as written); its values are masked
    # in the log when their name looks secret
    assert "key-123" not in log and "key-123" not in caplog.text
    shown = log
    assert '"X-Plain\\":\\"alert group created' in shown


async def test_forward_all_get_and_plain_text_bodies(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    integ = await webhook(wh_client, auth)
    async with receiving() as rx, delivering(redis, wh_settings):
        created = "alert group created"
        await add_webhook(wh_client, auth, url=rx.url + "/all", trigger_type=created)
        await add_webhook(wh_client, auth, url=rx.url + "/get", trigger_type=created,
                          http_method="GET")  # fmt: skip
        await add_webhook(wh_client, auth, url=rx.url + "/txt", trigger_type=created,
                          forward_all=False, data="plain {{ event.type }}")  # fmt: skip
        await fire(wh_client, wh_settings, integ, {"k": "a"})
        await rx.wait_for(3)
    [full], [get], [txt] = rx.on("/all"), rx.on("/get"), rx.on("/txt")
    assert full.headers["Content-Type"] == "application/json"
    assert list(orjson.loads(full.body))[:4] == ["event", "user", "alert_group", "alert_group_id"]
    assert get.method == "GET" and get.body == b""
    assert txt.body == b"plain alert group created"
    assert txt.headers["Content-Type"].startswith("text/plain")


async def test_worker_metrics_count_deliveries(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    from prometheus_client import generate_latest

    integ = await webhook(wh_client, auth)
    async with receiving() as rx, delivering(redis, wh_settings):
        await add_webhook(wh_client, auth, url=rx.url + "/m", trigger_type="alert group created")
        await fire(wh_client, wh_settings, integ, {"k": "a"})
        await rx.wait_for(1)
        await asyncio.sleep(0.1)
    text = generate_latest().decode()
    for name in (
        'alert_ingest_webhook_deliveries_total{outcome="delivered"}',
        "alert_ingest_webhook_delivery_latency_seconds_count",
        "alert_ingest_webhook_request_duration_seconds_count",
        "alert_ingest_webhook_retries_total",
        "alert_ingest_webhook_circuit_breakers_open",
    ):
        assert name in text, name
    assert FAST.total_timeout == 1.0


async def test_later_webhooks_see_earlier_responses_and_new_webhooks_fire_at_once(
    wh_client: Client, wh_settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    async def ticket(request: web.Request, n: int) -> web.StreamResponse:
        return web.json_response({"ticket": 42} if request.path == "/open" else {})

    integ = await webhook(wh_client, auth)
    async with receiving(ticket) as rx, delivering(redis, wh_settings):
        opener = await add_webhook(wh_client, auth, url=rx.url + "/open", trigger_type=CREATED)
        await fire(wh_client, wh_settings, integ, {"k": "a"})  # right after the create
        await rx.wait_for(1, "/open")
        chained = '{"ticket": {{ responses["' + opener["id"] + '"].ticket }}}'
        await add_webhook(wh_client, auth, url=rx.url + "/ack", trigger_type="acknowledge",
                          forward_all=False, data=chained)  # fmt: skip
        await fire(wh_client, wh_settings, integ, {"k": "a", "state": "ack"})
        await rx.wait_for(1, "/ack")
    assert orjson.loads(rx.on("/ack")[0].body) == {"ticket": 42}
