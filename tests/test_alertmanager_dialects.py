"""The real Alertmanager 0.25 (Debian ``prometheus-alertmanager``) pointed at a real api and worker
through its ``pagerduty_configs`` (``url`` + ``routing_key``) and, separately, its
``opsgenie_configs`` (``api_url`` + ``api_key``): firing -> a group, resolved -> that group
resolved, firing again -> a new group (the key is the same SHA-256 for the group's whole life),
with the documented title and labels."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis, free_port
from ingest.store import tokens
from tests.conftest import ALL_SCOPES
from tests.processes import api, environment, running, wait_ready, worker
from tests.programs import require_program

pytestmark = pytest.mark.slow

Groups = list[dict[str, Any]]


@dataclass
class Stack:
    api_url: str
    auth: dict[str, str]
    session: aiohttp.ClientSession
    tmp: Path

    async def integration(self, kind: str) -> dict[str, Any]:
        url = self.api_url + "/api/v1/integrations/"
        async with self.session.post(url, json={"type": kind}, headers=self.auth) as resp:
            assert resp.status == 201
            data: dict[str, Any] = await resp.json()
        data["token"] = data["link"].rstrip("/").rsplit("/", 1)[1]
        return data

    async def groups(self) -> Groups:
        url = self.api_url + "/api/v1/alert_groups/"
        async with self.session.get(url, headers=self.auth) as resp:
            assert resp.status == 200
            results: Groups = (await resp.json())["results"]
        return sorted(results, key=lambda g: g["created_at"])

    async def wait_groups(self, check: Callable[[Groups], bool], within: float = 30) -> Groups:
        deadline = time.monotonic() + within
        while True:
            found = await self.groups()
            if check(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"groups never matched: {found}")
            await asyncio.sleep(0.2)


@pytest.fixture
async def stack(redis: Redis, redis_server: EmbeddedRedis, tmp_path: Path) -> AsyncIterator[Stack]:
    env = environment(redis_server.url)
    api_process, worker_process = api(env, tmp_path), worker(env, tmp_path)
    with running(api_process, worker_process):
        await wait_ready(api_process.url)
        await wait_ready(worker_process.url, "/health/live")
        _, secret = await tokens.create_token(redis, "org1", ALL_SCOPES)
        async with aiohttp.ClientSession() as session:
            yield Stack(api_process.url, {"Authorization": secret}, session, tmp_path)


class Alertmanager:
    """One local Alertmanager (no gossip) with one receiver; alerts posted to its API."""

    def __init__(self, tmp: Path, receiver: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "route": {
                "receiver": "sender",
                "group_by": ["alertname"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "sender", **receiver}],
        }
        (tmp / "am.yml").write_bytes(orjson.dumps(config))  # JSON is YAML
        self.log = (tmp / "am.log").open("wb")
        self.process = subprocess.Popen(
            [
                require_program("prometheus-alertmanager"),
                f"--config.file={tmp / 'am.yml'}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def post(
        self, session: aiohttp.ClientSession, starts: datetime, ends: datetime | None
    ) -> None:
        alert: dict[str, Any] = {
            "labels": {"alertname": "HighCPU", "instance": "h1", "severity": "critical"},
            "annotations": {"summary": "CPU high"},
            "startsAt": starts.isoformat(),
            "generatorURL": "http://prom:9090/graph",
        }
        if ends is not None:
            alert["endsAt"] = ends.isoformat()
        deadline = time.monotonic() + 20
        while True:
            try:
                async with session.post(self.url + "/api/v2/alerts", json=[alert]) as resp:
                    assert resp.status == 200, await resp.text()
                    return
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()


async def cycle(stack: Stack, receiver: dict[str, Any]) -> Groups:
    """Firing, resolved, firing again; returns the groups after each step (the last one)."""
    am = Alertmanager(stack.tmp, receiver)
    try:
        start = datetime.now(UTC) - timedelta(seconds=30)
        await am.post(stack.session, start, None)
        [first] = await stack.wait_groups(lambda g: len(g) == 1)
        assert first["state"] == "firing"
        await am.post(stack.session, start, datetime.now(UTC))
        await stack.wait_groups(lambda g: len(g) == 1 and g[0]["state"] == "resolved")
        await am.post(stack.session, datetime.now(UTC) + timedelta(seconds=1), None)
        return await stack.wait_groups(lambda g: len(g) == 2)
    finally:
        am.stop()


def labels_of(group: dict[str, Any]) -> dict[str, str]:
    return {label["key"]["name"]: label["value"]["name"] for label in group["labels"]}


async def test_pagerduty_configs(stack: Stack) -> None:
    pd = await stack.integration("pagerduty")
    receiver = {
        "pagerduty_configs": [
            {
                "url": stack.api_url + "/v2/enqueue",
                "routing_key": pd["token"],
                "component": "{{ .CommonLabels.instance }}",
                "group": "prod",
            }
        ]
    }
    first, second = await cycle(stack, receiver)
    assert (first["state"], second["state"]) == ("resolved", "firing")
    for group in (first, second):
        assert group["title"].startswith("[FIRING:1] HighCPU")
        assert labels_of(group) == {
            "severity": "error",  # Alertmanager's default severity
            "source": "Alertmanager",
            "component": "h1",
            "group": "prod",
        }
        assert group["integration_id"] == pd["id"]


async def test_opsgenie_configs(stack: Stack) -> None:
    og = await stack.integration("opsgenie")
    receiver = {
        "opsgenie_configs": [
            {
                "api_url": stack.api_url + "/",
                "api_key": og["token"],
                "priority": "P2",
                "tags": "prod, cpu",
                "entity": "{{ .CommonLabels.instance }}",
                "update_alerts": True,
            }
        ]
    }
    first, second = await cycle(stack, receiver)
    assert (first["state"], second["state"]) == ("resolved", "firing")
    for group in (first, second):
        assert group["title"].startswith("[FIRING:1] HighCPU")
        assert labels_of(group) == {"priority": "P2", "tags": "prod,cpu", "entity": "h1"}
        assert group["integration_id"] == og["id"]
