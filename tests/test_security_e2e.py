"""Security end to end, with real ``alert-ingest api`` and ``worker`` processes on a private Redis.

- Logs at info hold no token (API token, link token) and no payload, also on failure paths.
- The hostile-template battery of ``tests/test_templates_hostile.py``, through links: each alert
  still lands in a group with the error in its trace, the worker stays healthy, and no internals
  reach stored titles, labels or events.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.store import dead_letters, tokens
from ingest.store import groups as group_store
from tests.conftest import ALL_SCOPES
from tests.processes import Service, api, environment, running, wait_ready, worker
from tests.test_faults import org_groups, wait_processed
from tests.worker_helpers import events

pytestmark = pytest.mark.slow
API = "/api/v1/"


async def call(
    session: aiohttp.ClientSession, method: str, url: str, secret: str, body: Any = None
) -> tuple[int, Any]:
    async with session.request(method, url, json=body, headers={"Authorization": secret}) as resp:
        text = await resp.text()
        return resp.status, orjson.loads(text) if text.startswith(("{", "[")) else text


async def new_integration(
    session: aiohttp.ClientSession, base: str, secret: str, **body: Any
) -> dict[str, Any]:
    status, data = await call(
        session, "POST", base + API + "integrations/", secret, {"type": "webhook", **body}
    )
    assert status == 201, data
    data["url"] = data["link"].replace("http://testserver", base)
    return dict(data)


def start(redis_server: EmbeddedRedis, tmp_path: Path, **env_extra: str) -> tuple[Service, Service]:
    env = environment(redis_server.url, **env_extra)
    return api(env, tmp_path), worker(env, tmp_path)


async def ready(the_api: Service, the_worker: Service) -> None:
    await wait_ready(the_api.url)
    await wait_ready(the_worker.url, "/health/live")


# --------------------------------------------------------------------------- logs


def read_logs(folder: Path, pattern: str) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(folder.glob(pattern)))


async def test_no_token_or_payload_in_info_logs(
    own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    redis = Redis.from_url(own_redis_server.url)
    the_api, the_worker = start(own_redis_server, tmp_path, ALERT_INGEST_LOG_LEVEL="info")
    marker = "MARKER" + secrets.token_hex(8)
    _, secret = await tokens.create_token(redis, "org1", ALL_SCOPES)
    mistyped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    base = the_api.url
    with running(the_api, the_worker):
        await ready(the_api, the_worker)
        async with aiohttp.ClientSession() as session:
            integration = await new_integration(
                session,
                base,
                secret,
                templates={
                    "grouping_key": "{{ payload.k }}",
                    "source_link": "{{ payload.marker.__class__ }}",  # a template error
                    "web": {"title": "{{ payload.marker }}"},
                },
                dynamic_labels=[
                    {"key": {"name": "m"}, "value": {"name": "{{ payload.marker }}"}},
                    {"key": {"name": "bad"}, "value": {"name": "{{ 'a' * 10**9 }}"}},
                ],
            )
            link, link_token = integration["url"], integration["link"].rstrip("/").split("/")[-1]
            alert = {"k": "x", "marker": marker, "secret": secret}
            async with session.post(link, json=alert) as resp:
                assert resp.status == 200
            failures: list[tuple[str, str, Any, bytes | None]] = [
                ("POST", link, None, b'{"marker": "' + marker.encode()),  # invalid JSON
                ("POST", link, None, marker.encode()),
                ("POST", link.replace(link_token, link_token[:-1] + "x"), alert, None),
                ("POST", link.replace("/webhook/", "/alertmanager/"), alert, None),
                ("POST", base + API + "integrations/", {"type": marker}, None),
                (
                    "POST",
                    base + API + f"integrations/{integration['id']}/preview/",
                    {"payload": alert, "templates": {"grouping_key": "{{ payload.marker.x() }}"}},
                    None,
                ),
                ("GET", base + API + "alert_groups/INOPE/", None, None),
                ("GET", base + API + "alerts/", None, None),
            ]
            for method, url, body, raw in failures:
                async with session.request(
                    method, url, json=body, data=raw, headers={"Authorization": secret}
                ) as resp:
                    assert resp.status < 500, (url, resp.status)
            for bad in (mistyped, secret[:-1], secret + "x", f"Bearer {mistyped}"):
                status, _ = await call(session, "GET", base + API + "integrations/", bad)
                assert status == 401
            for verb, body in (
                ("maintenance_start", {"mode": "debug", "duration": 60}),
                ("maintenance_stop", None),
            ):
                url = base + API + f"integrations/{integration['id']}/{verb}/"
                status, _ = await call(session, "POST", url, secret, body)
                assert status == 200
            await wait_processed(redis, 1)
            status, data = await call(session, "GET", base + API + "alerts/", secret)
            assert status == 200 and marker in orjson.dumps(data).decode()  # it was stored
            status, _ = await call(
                session, "DELETE", base + API + f"integrations/{integration['id']}/", secret
            )
            assert status == 204
            async with session.post(link, json=alert) as resp:
                assert resp.status == 403  # a deleted integration's link
        the_worker.stop()  # graceful: every log line is written
        the_api.stop()
    await redis.aclose()
    logs = read_logs(tmp_path, "*.log")
    lines = [orjson.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line["level"] == "info" for line in lines), logs  # info lines were written
    for needle in (marker, secret, secret.removeprefix("aik_"), mistyped, link_token):
        assert needle not in logs, needle


# --------------------------------------------------------------------------- hostile templates


MACRO_RECURSION = "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(1) }}"
MACRO_FANOUT = (
    "{% macro m(n) %}{% for i in range(30) %}{{ m(n + 1) if n < 30 else '' }}"
    "{% endfor %}{% endmacro %}{{ m(0) }}"
)
DOUBLING = (
    "{% set ns = namespace(s='a') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}"
)
EXTEND = "{% set l = [1] %}{% for i in range(80) %}{% set _ = l.extend(l) %}{% endfor %}{{ l }}"
NESTED = "{% for a in payload.l %}{% for b in payload.l %}{% set c = a %}{% endfor %}{% endfor %}"
CATASTROPHIC = "(a|aa)+$"


def case(
    templates: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    route: tuple[str, str] | None = None,
    failing: set[str] | None = None,
) -> dict[str, Any]:
    return {
        "templates": templates or {},
        "labels": labels or {},
        "route": route,
        "failing": failing or set(),
    }


CASES: dict[str, dict[str, Any]] = {
    "attribute escape": case(
        {
            "grouping_key": "{{ payload.__class__.__mro__[1].__subclasses__() }}",
            "web": {"title": "{{ ''.__class__.mro() }}", "message": "{{ payload.items.__self__ }}"},
        },
        failing={"grouping_key"},
    ),
    "globals": case(
        {
            "web": {
                "title": "{{ joiner.__init__.__globals__.os }}",
                "message": "{{ self._TemplateReference__context }}",
            }
        },
        {"x": "{{ cycler.__init__.__globals__ }}", "y": "{{ lipsum.__globals__ }}"},
        failing={"dynamic_labels.x", "dynamic_labels.y"},
    ),
    "format escape": case(
        {
            "grouping_key": "{{ '{0.__class__}'.format(payload) }}",
            "resolve_signal": "{{ '{p.__class__.__base__}'.format_map({'p': payload}) }}",
        },
        failing={"grouping_key", "resolve_signal"},
    ),
    "attr filters": case(
        {
            "source_link": "{{ payload|attr('__class__') }}",
            "web": {"title": "{{ payload.alerts|map(attribute='__class__')|list }}"},
        },
        {"x": "{{ dict.__base__ }}"},
        failing={"source_link", "dynamic_labels.x"},
    ),
    "huge repetition": case(
        {"grouping_key": "{{ 'a' * 10**9 }}", "web": {"title": "{{ 'x'|center(10**9) }}"}},
        {"x": "{{ [1] * 10**9 }}"},
        failing={"grouping_key", "dynamic_labels.x"},
    ),
    "power towers": case(
        {
            "grouping_key": "{{ 10 ** 10 ** 10 ** 10 ** 10 }}",
            "acknowledge_signal": "{{ 9 ** 9 ** 99999 }}",
        },
        failing={"grouping_key", "acknowledge_signal"},
    ),
    "doubling": case(
        {"grouping_key": DOUBLING, "web": {"message": DOUBLING}},
        {"x": EXTEND},
        failing={"grouping_key", "dynamic_labels.x"},
    ),
    "recursive macros": case(
        {
            "grouping_key": MACRO_RECURSION,
            "resolve_signal": MACRO_FANOUT,
            "web": {"title": MACRO_RECURSION},
        },
        failing={"grouping_key", "resolve_signal"},
    ),
    "nested loops": case({"web": {"title": NESTED}}, {"x": NESTED}, failing={"dynamic_labels.x"}),
    "regex filter": case(
        {
            "grouping_key": f"{{{{ payload.message|regex_search('{CATASTROPHIC}') }}}}",
            "web": {"title": f"{{{{ payload.message|regex_replace('{CATASTROPHIC}', 'b') }}}}"},
        },
        {"x": f"{{{{ payload.message|regex_match('{CATASTROPHIC}') }}}}"},
        failing={"grouping_key", "dynamic_labels.x"},
    ),
    "regex route": case(route=("regex", "(a|aa)+!x")),
    "template route": case(
        route=("jinja2", f"{{{{ payload.message|regex_match('{CATASTROPHIC}') }}}}"), failing=set()
    ),
    "payload mutation": case(
        {
            "grouping_key": "{% set _ = payload.update({'status': 'resolved'}) %}{{ payload.k }}",
            "resolve_signal": "{{ payload.status == 'resolved' }}",
            "acknowledge_signal": "{{ payload.alerts[0].labels.clear() }}",
            "web": {"title": "{{ payload.pop('status') }}"},
        },
        {"x": "{{ (payload.alerts|first).labels.update({'x': 1}) }}"},
        failing={"grouping_key", "acknowledge_signal", "dynamic_labels.x"},
    ),
}

STRICT = (
    "<class",
    "<function",
    "<built-in",
    "<bound",
    "<module",
    "<method",
    "<generator",
    " at 0x",
    "jinja2.",
    "templates_engine",
    "builtins",
    "mappingproxy",
    "Traceback",
)
DUNDER = (
    "__class__",
    "__globals__",
    "__mro__",
    "__subclasses__",
    "__init__",
    "__base__",
    "__self__",
    "_TemplateReference",
)


def assert_no_internals(text: str, where: str) -> None:
    """No object internals in ``text``; a "Template Error: ..." (also when a default template
    embeds another's output) may name the attribute it refused, as the user wrote it."""
    assert not re.search(r"0x[0-9a-fA-F]{6,}", text), (where, text)
    for marker in STRICT:
        assert marker not in text, (where, marker, text)
    rendered = re.sub(r"Template Error: [^\n>|*]*", "", text)
    for marker in DUNDER:
        assert marker not in rendered, (where, marker, text)


def hostile_payload(name: str) -> dict[str, Any]:
    return {
        "k": name,
        "message": "a" * 40 + "!",
        "big": "a" * 1000,
        "l": list(range(5000)),
        "status": "firing",
        "alerts": [{"labels": {"job": "x"}}],
    }


async def test_hostile_templates_through_links(
    own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    redis = Redis.from_url(own_redis_server.url)
    the_api, the_worker = start(own_redis_server, tmp_path)
    _, secret = await tokens.create_token(redis, "org1", ALL_SCOPES)
    base = the_api.url
    made: dict[str, dict[str, Any]] = {}
    with running(the_api, the_worker):
        await ready(the_api, the_worker)
        async with aiohttp.ClientSession() as session:
            for name, spec in CASES.items():
                labels = [
                    {"key": {"name": k}, "value": {"name": v}} for k, v in spec["labels"].items()
                ]
                integration = await new_integration(
                    session,
                    base,
                    secret,
                    name=name,
                    templates=spec["templates"],
                    dynamic_labels=labels,
                )
                if spec["route"] is not None:
                    kind, source = spec["route"]
                    body = {
                        "integration_id": integration["id"],
                        "escalation_chain_id": None,
                        "routing_type": kind,
                        "routing_regex": source,
                    }
                    status, data = await call(session, "POST", base + API + "routes/", secret, body)
                    assert status == 201, data
                made[name] = integration
            # posted once every integration exists: each configuration change makes the alerts in
            # flight start over (``stale``), and these spend up to a budget per template
            for name, integration in made.items():
                async with session.post(integration["url"], json=hostile_payload(name)) as resp:
                    assert resp.status == 200, await resp.text()
            await wait_processed(redis, len(CASES), within=120)

            # the worker is healthy: alive, live, and a plain alert right after is grouped well
            assert the_worker.process is not None and the_worker.process.poll() is None
            async with session.get(the_worker.url + "/health/live") as resp:
                assert resp.status == 200
            plain = await new_integration(
                session, base, secret, name="plain", templates={"web": {"title": "{{ payload.k }}"}}
            )
            async with session.post(plain["url"], json={"k": "plain title"}) as resp:
                assert resp.status == 200
            groups = await wait_processed(redis, len(CASES) + 1)
            [after] = [g for g in groups if g["integration_id"] == plain["id"]]
            assert after["title"] == "plain title"
    assert await dead_letters.size(redis) == 0
    logs = read_logs(tmp_path, "worker-*.log")
    assert "job failed" not in logs and "will retry" not in logs, logs

    stream = await events(redis)
    groups = await org_groups(redis)
    for name, integration in made.items():
        spec = CASES[name]
        [group] = [g for g in groups if g["integration_id"] == integration["id"]]
        assert group["alerts_count"] == "1", name
        [alert] = await group_store.alerts(redis, await group_store.alert_ids(redis, group["id"]))
        trace = alert["trace"]
        failed = {i["template"] for i in trace["issues"] if i["kind"] == "error"}
        assert spec["failing"] <= failed, (name, failed)
        for issue in trace["issues"]:
            assert_no_internals(issue["message"], f"{name}: trace {issue['template']}")
        if spec["route"] is not None:
            [tried, *_] = trace["route"]["tried"]
            assert tried["error"], (name, trace["route"])
            assert trace["route"]["route_id"] == integration["default_route"]["id"]
        assert alert["payload"] == hostile_payload(name), f"{name}: payload mutated"
        assert not group.get("resolved_at") and not group.get("acknowledged_at"), name
        assert_no_internals(group.get("title", ""), f"{name}: title")
        for label in orjson.loads(group.get("labels") or "[]"):
            assert_no_internals(f"{label['key']}={label['value']}", f"{name}: label")
        [event] = [e for e in stream if e["alert_id"] == alert["id"]]
        assert event["type"] == "alert_group_created"
        data = orjson.loads(event["data"])
        for channel, rendered in data["channels"].items():
            for field in ("title", "message", "image_url"):
                assert_no_internals(rendered.get(field) or "", f"{name}: {channel}.{field}")
        assert_no_internals(data.get("source_link") or "", f"{name}: source_link")
    await redis.aclose()
