"""Integration link endpoints: every answer listed in ``ingest.api.links``, against a real Redis."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.settings import Rate, Settings
from tests.conftest import FIXTURES, AiohttpClient
from tests.queue_helpers import queued_jobs

Client = TestClient[Any, Any]
FIRING = orjson.loads((FIXTURES / "alertmanager" / "firing.json").read_bytes())


async def make(client: Client, auth: dict[str, str], kind: str, **extra: Any) -> tuple[str, str]:
    """Create an integration; returns (id, link path)."""
    resp = await client.post("/api/v1/integrations/", json={"type": kind, **extra}, headers=auth)
    data = await resp.json()
    assert resp.status == 201, data
    return data["id"], re.sub(r"^http://testserver", "", data["link"])


async def test_accepted_alert_is_queued(client: Client, auth: dict[str, str], redis: Redis) -> None:
    integration_id, link = await make(client, auth, "webhook")
    resp = await client.post(link, json={"hello": "world"})
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == "Ok."
    [job] = await queued_jobs(redis)
    assert job["integration_id"] == integration_id
    assert job["payload"] == {"hello": "world"}
    assert re.fullmatch(r"A[A-NP-Z1-9]{12}", job["alert_id"])
    assert isinstance(job["received_at"], float)


async def test_trailing_slash_is_optional(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    _, link = await make(client, auth, "webhook")
    resp = await client.post(link.rstrip("/"), json={}, allow_redirects=False)
    assert resp.status == 200
    assert len(await queued_jobs(redis)) == 1


async def test_unknown_token_is_403(client: Client) -> None:
    resp = await client.post("/integrations/v1/webhook/NoSuchToken123/", json={})
    assert resp.status == 403
    assert await resp.text() == "Integration key was not found. Permission denied."


async def test_deleted_integration_stops_at_once(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    integration_id, link = await make(client, auth, "webhook")
    assert (await client.post(link, json={})).status == 200  # the token is now cached
    await client.delete(f"/api/v1/integrations/{integration_id}", headers=auth)
    resp = await client.post(link, json={})
    assert resp.status == 403
    assert len(await queued_jobs(redis)) == 1


async def test_deleted_on_another_replica_stops_at_once(
    aiohttp_client: AiohttpClient, settings: Settings, auth: dict[str, str], redis: Redis
) -> None:
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))
    integration_id, link = await make(one, auth, "webhook")
    assert (await two.post(link, json={})).status == 200
    await one.delete(f"/api/v1/integrations/{integration_id}", headers=auth)
    assert (await two.post(link, json={})).status == 403


async def test_wrong_type_in_url(client: Client, auth: dict[str, str]) -> None:
    _, link = await make(client, auth, "alertmanager")
    resp = await client.post(link.replace("/alertmanager/", "/grafana/"), json={})
    assert resp.status == 400
    assert await resp.text() == (
        "This url is for integration with Grafana. Key is for Alertmanager."
    )


async def test_null_payload(client: Client, auth: dict[str, str]) -> None:
    _, link = await make(client, auth, "webhook")
    resp = await client.post(link, data=b"null", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert await resp.text() == "Payload is required"


@pytest.mark.parametrize("body", [b"{bad", b"NaN", b'{"a": Infinity}', b"\xff\xfe"])
async def test_malformed_json(client: Client, auth: dict[str, str], body: bytes) -> None:
    _, link = await make(client, auth, "webhook")
    resp = await client.post(link, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["detail"].startswith("JSON parse error - ")


@pytest.mark.parametrize("kind", ["alertmanager", "grafana_alerting"])
@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42"])
async def test_alertmanager_types_need_an_object(
    client: Client, auth: dict[str, str], kind: str, body: bytes
) -> None:
    _, link = await make(client, auth, kind)
    resp = await client.post(link, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert await resp.json() == {"detail": "Payload must be a JSON object"}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"true"])
async def test_universal_types_take_any_json(
    client: Client, auth: dict[str, str], redis: Redis, body: bytes
) -> None:
    _, link = await make(client, auth, "webhook")
    resp = await client.post(link, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    [job] = await queued_jobs(redis)
    assert job["payload"] == orjson.loads(body)


async def test_unsupported_content_types(client: Client, auth: dict[str, str]) -> None:
    _, link = await make(client, auth, "webhook")
    resp = await client.post(link, data=b"hi", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.post(link, data=b"hi", skip_auto_headers=["Content-Type"])
    assert resp.status == 415


async def test_file_upload_is_refused(client: Client, auth: dict[str, str]) -> None:
    _, link = await make(client, auth, "webhook")
    form = aiohttp.FormData()
    form.add_field("file", b"data", filename="a.txt", content_type="text/plain")
    resp = await client.post(link, data=form)
    assert resp.status == 400
    assert await resp.text() == "File uploads are not allowed"


async def test_form_bodies_become_flat_objects(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    _, link = await make(client, auth, "webhook")
    resp = await client.post(
        link, data=b"a=1&a=2&b=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 200
    assert (await queued_jobs(redis))[0]["payload"] == {"a": "2", "b": "x"}
    form = aiohttp.FormData()
    form.add_field("title", "disk full")
    assert (await client.post(link, data=form)).status == 200
    payloads = [j["payload"] for j in await queued_jobs(redis)]  # same-millisecond order is free
    assert {"title": "disk full"} in payloads and len(payloads) == 2


async def test_body_too_large(
    aiohttp_client: AiohttpClient, settings: Settings, auth: dict[str, str], redis: Redis
) -> None:
    client = await aiohttp_client(create_app(settings.replace(max_body_bytes=10_000)))
    _, link = await make(client, auth, "webhook")
    resp = await client.post(link, data=b"[" + b"1," * 6000 + b"1]",
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert resp.status == 413
    assert "detail" in await resp.json()
    assert await queued_jobs(redis) == []


async def test_empty_body_is_an_empty_object(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    _, link = await make(client, auth, "formatted_webhook")
    resp = await client.post(link, data=b"", headers={"Content-Type": "text/plain"})
    assert resp.status == 200
    assert (await queued_jobs(redis))[0]["payload"] == {}


async def test_alertmanager_notification_is_one_alert_with_counts(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    _, link = await make(client, auth, "alertmanager")
    assert (await client.post(link, json=FIRING)).status == 200
    [job] = await queued_jobs(redis)
    assert job["payload"]["groupKey"] == FIRING["groupKey"]
    firing = sum(1 for a in FIRING["alerts"] if a["status"] == "firing")
    assert job["payload"]["numFiring"] == firing
    assert job["payload"]["numResolved"] == len(FIRING["alerts"]) - firing
    explicit = {**FIRING, "numFiring": 7, "numResolved": 9}
    await client.post(link, json=explicit)
    counts = sorted(j["payload"]["numFiring"] for j in await queued_jobs(redis))
    assert counts == sorted([firing, 7])


async def test_grafana_alerts_split_into_one_alert_each(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    _, link = await make(client, auth, "grafana")
    body = {"alerts": [{"labels": {"n": "1"}}, {"labels": {"n": "2"}}, {"labels": {"n": "3"}}]}
    assert (await client.post(link, json=body)).status == 200
    jobs = await queued_jobs(redis)
    assert sorted(j["payload"]["labels"]["n"] for j in jobs) == ["1", "2", "3"]
    assert len({j["alert_id"] for j in jobs}) == 3
    assert (await client.post(link, json={"title": "old format"})).status == 200
    assert len(await queued_jobs(redis)) == 4


async def test_get_page_and_heartbeat(client: Client, auth: dict[str, str], redis: Redis) -> None:
    integration_id, link = await make(client, auth, "webhook")
    page = await client.get(link)
    assert page.status == 200 and "integration link" in await page.text()
    assert (await client.get(link + "heartbeat/")).status == 200
    beat = await client.get(link + "heartbeat")
    # as OnCall answers: the JSON string ":)", so a pinger that decodes JSON works
    assert beat.content_type == "application/json" and await beat.read() == b'":)"'
    assert (await client.post(link + "heartbeat/", json={})).status == 200
    assert await redis.zscore("ai:heartbeats", integration_id) is not None
    assert await queued_jobs(redis) == []
    _, no_heartbeat = await make(client, auth, "kapacitor")
    assert (await client.get(no_heartbeat + "heartbeat/")).status == 404
    resp = await client.put(link, json={})
    assert resp.status == 405 and "detail" in await resp.json()


async def test_rate_limits_across_two_replicas(
    aiohttp_client: AiohttpClient, settings: Settings, auth: dict[str, str], redis: Redis
) -> None:
    limited = settings.replace(
        rate_limit_integration=Rate(3, 300), rate_limit_organization=Rate(5, 300)
    )
    one = await aiohttp_client(create_app(limited))
    two = await aiohttp_client(create_app(limited))
    _, first = await make(one, auth, "webhook")
    _, second = await make(one, auth, "webhook")
    codes = [(await c.post(first, json={})).status for c in (one, two, one, two, one)]
    assert codes == [200, 200, 200, 429, 429]
    refused = await two.post(first, json={})
    body = await refused.json()
    assert body["scope"] == "integration" and body["retry_after"] >= 1
    assert int(refused.headers["Retry-After"]) == body["retry_after"]
    # integration-level refusals spent no org budget: 2 of the org's 5 are left
    assert [(await two.post(second, json={})).status for _ in range(3)] == [200, 200, 429]
    org = await (await one.post(second, json={})).json()
    assert org["scope"] == "organization"
    assert len(await queued_jobs(redis)) == 5


async def test_alertmanager_gets_503_instead_of_429(
    aiohttp_client: AiohttpClient, settings: Settings, auth: dict[str, str], redis: Redis
) -> None:
    client = await aiohttp_client(create_app(settings.replace(rate_limit_integration=Rate(1, 60))))
    _, link = await make(client, auth, "alertmanager")
    assert (await client.post(link, json=FIRING)).status == 200
    resp = await client.post(link, json=FIRING)
    assert resp.status == 503
    assert "Retry-After" in resp.headers
    assert (await resp.json())["scope"] == "integration"


async def test_per_integration_rate_limit_override(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    integration_id, link = await make(client, auth, "webhook", rate_limit="2/1m")
    got = await (await client.get(f"/api/v1/integrations/{integration_id}", headers=auth)).json()
    assert got["rate_limit"] == "2/1m"
    assert [(await client.post(link, json={})).status for _ in range(3)] == [200, 200, 429]
    bad = await client.put(f"/api/v1/integrations/{integration_id}", json={"rate_limit": "lots"},
                           headers=auth)  # fmt: skip
    assert bad.status == 400 and "rate_limit" in await bad.json()
