"""Running ``import oncall`` in process against a fake OnCall, and a standard OnCall setup."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from ingest.importer.client import OnCallClient
from ingest.importer.command import import_oncall
from ingest.settings import Settings
from tests.oncall_fake import TOKEN, FakeOnCall


async def run_import(
    redis: Redis, settings: Settings, server: TestServer, org: str = "acme", **options: Any
) -> tuple[int, str]:
    lines: list[str] = []
    async with aiohttp.ClientSession() as session:
        client = OnCallClient(session, str(server.make_url("/")), TOKEN)
        code = await import_oncall(
            redis, settings, client, org, out=lines.append, err=lines.append, **options
        )
    return code, "\n".join(lines)


async def snapshot(redis: Redis) -> dict[bytes, Any]:
    """Every key and its value (strings, hashes, zsets): to prove a run wrote nothing."""
    out: dict[bytes, Any] = {}
    for key in await redis.keys("*"):
        kind = (await redis.type(key)).decode()
        if kind == "string":
            out[key] = await redis.get(key)
        elif kind == "hash":
            out[key] = await redis.hgetall(key)  # type: ignore[misc]
        elif kind == "zset":
            out[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[key] = await redis.smembers(key)  # type: ignore[misc]
    return out


def standard(fake: FakeOnCall) -> dict[str, Any]:
    """Seven integrations (three pages), routes of each routing type, three chains."""
    sre, db = fake.chain("sre-primary"), fake.chain("db-oncall")
    fake.chain("unused chain")
    title = {"title": "AM {{ payload.commonLabels.alertname }}"}
    am = fake.integration("prod-am", "alertmanager", chain=sre, web=title)
    critical = fake.route(am, 0, "regex", '"severity": "critical"', db)
    team_db = fake.route(am, 1, "jinja2", '{{ payload.commonLabels.team == "db" }}')
    canary = fake.route(am, 10, "regex", "staging|canary", sre)
    hook = fake.integration("custom-hook", "webhook", grouping_key="{{ payload.check }}")
    fake.route(hook, 0, "regex", "disk")
    fake.integration("grafana legacy", "grafana")
    fake.integration("formatted", "formatted_webhook", resolve_signal='{{ payload.state == "ok" }}')
    fake.integration("kapacitor", "kapacitor", heartbeat=False)
    fake.integration("zabbix", "zabbix", sms={"title": "zbx {{ payload.title }}"})
    fake.integration("by hand", "manual")
    return {"am": am, "critical": critical, "team_db": team_db, "canary": canary, "hook": hook,
            "sre": sre, "db": db}  # fmt: skip


def am_payload(group_key: str, **labels: str) -> dict[str, Any]:
    return {
        "receiver": "oncall",
        "status": "firing",
        "groupKey": group_key,
        "alerts": [{"status": "firing", "labels": labels, "annotations": {}}],
        "groupLabels": {},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
    }
