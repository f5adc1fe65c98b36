"""``/metrics`` of the api and of a worker after real traffic: every metric exists with its type."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from ingest.embedded_redis import free_port
from ingest.settings import Settings
from tests.conftest import FIXTURES
from tests.worker_helpers import drain
from worker.service import start_metrics_server

Client = TestClient[Any, Any]
FIRING = orjson.loads((FIXTURES / "alertmanager" / "firing.json").read_bytes())

API_METRICS = {
    "alert_ingest_http_requests": "counter",
    "alert_ingest_http_request_duration_seconds": "histogram",
    "alert_ingest_link_request_body_bytes": "histogram",
    "alert_ingest_rate_limited": "counter",
    "alert_ingest_enqueue_failures": "counter",
    "alert_ingest_alerts_accepted": "counter",
    "alert_ingest_queue_depth": "gauge",
}
WORKER_METRICS = {
    "alert_ingest_queue_wait_seconds": "histogram",
    "alert_ingest_jobs": "counter",
    "alert_ingest_alert_processing_seconds": "histogram",
    "alert_ingest_received_to_grouped_seconds": "histogram",
    "alert_ingest_alerts": "counter",
    "alert_ingest_template_errors": "counter",
    "alert_ingest_template_render_seconds": "histogram",
    "alert_ingest_labels_dropped": "counter",
    "alert_ingest_dead_letter_size": "gauge",
    "alert_ingest_heartbeat_last_received_timestamp_seconds": "gauge",
    "alert_ingest_heartbeats_expired": "gauge",
}


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(family: Any, suffix: str = "", **labels: str) -> float:
    for sample in family.samples:
        if sample.name == family.name + suffix and all(
            sample.labels.get(k) == v for k, v in labels.items()
        ):
            return float(sample.value)
    raise AssertionError(f"no sample {family.name}{suffix} {labels}")


async def test_api_metrics_after_traffic(client: Client, auth: dict[str, str]) -> None:
    created = await (
        await client.post("/api/v1/integrations/", json={"type": "alertmanager"}, headers=auth)
    ).json()
    link = re.sub(r"^http://testserver", "", created["link"])
    before = families(await (await client.get("/metrics")).text())
    sent = value(before["alert_ingest_http_requests"], "_total", handler="link",
                 integration_type="alertmanager", code="200")  # fmt: skip
    for _ in range(3):
        assert (await client.post(link, json=FIRING)).status == 200
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    after = families(await resp.text())
    for name, kind in API_METRICS.items():
        assert name in after, name
        assert after[name].type == kind, (name, after[name].type)
    now = value(after["alert_ingest_http_requests"], "_total", handler="link",
                integration_type="alertmanager", code="200")  # fmt: skip
    assert now - sent == 3
    assert value(after["alert_ingest_rate_limited"], "_total", scope="organization") >= 0
    assert value(after["alert_ingest_link_request_body_bytes"], "_count") >= 3


async def test_worker_metrics_after_processing(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    body = {
        "type": "webhook",
        "dynamic_labels": [{"key": {"name": "sev"}, "value": {"name": "{{ payload.missing.x }}"}}],
    }
    created = await (await client.post("/api/v1/integrations/", json=body, headers=auth)).json()
    link = re.sub(r"^http://testserver", "", created["link"])
    assert (await client.post(link, json={"a": 1})).status == 200
    await drain(settings)
    port = free_port()
    runner = await start_metrics_server("127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            async with session.get(f"http://127.0.0.1:{port}/health/live") as live:
                assert live.status == 200
    finally:
        await runner.cleanup()
    found = families(text)
    for name, kind in WORKER_METRICS.items():
        assert name in found, name
        assert found[name].type == kind, (name, found[name].type)
    assert value(found["alert_ingest_jobs"], "_total", outcome="processed") >= 1
    assert value(found["alert_ingest_alerts"], "_total", result="new_group") >= 1
    assert value(found["alert_ingest_labels_dropped"], "_total", reason="failed") >= 1
    assert value(found["alert_ingest_received_to_grouped_seconds"], "_count") >= 1
