"""Schemathesis against the served OpenAPI document: every operation, a real api process.

A real ``alert-ingest api`` runs on a private Redis, seeded (through the API, a link and a real
worker) with an integration, a route, an escalation chain, alert groups and alerts. Each
operation gets schema-driven cases (the examples, coverage and fuzzing phases, positive and
negative data) sent with a valid all-scopes token; path ids are mostly swapped for ids of seeded
objects (a fresh object for each DELETE), so cases reach real objects rather than only 404s.

Checked for every response: no 5xx, a documented status code and content type, and a body that
matches the documented schema; negative (schema-violating) data must not be accepted.
Deterministic: derandomized generation with a fixed seed, no example database.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from redis.asyncio import Redis
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import BaseSchema

from ingest.embedded_redis import EmbeddedRedis
from ingest.settings import Settings
from ingest.store import tokens
from tests.conftest import ALL_SCOPES
from tests.processes import api, environment, running, wait_ready
from tests.worker_helpers import drain

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
CONFIG: dict[str, Any] = {
    "seed": 20260801,
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
        # Unknown query parameters are ignored, as by most HTTP APIs; OpenAPI can't declare that.
        "allow-extra-parameters": False,
        "with-security-parameters": False,  # the token is ours, valid, with every scope
    },
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 30,
}
# The first path segment after /api/v1/ names the kind of object an ``{id}`` is.
KINDS = ("integrations", "escalation_chains", "routes", "alert_groups", "alerts", "webhooks")


@dataclass
class Seeded:
    """The running api and the objects made in it (ids by kind)."""

    url: str
    headers: dict[str, str]
    settings: Settings
    ids: dict[str, list[str]] = field(default_factory=dict)
    link: str = ""
    alerts_posted: int = 0
    made: int = 0

    def call(self, method: str, path: str, **kw: Any) -> Any:
        resp = requests.request(method, self.url + path, headers=self.headers, timeout=30, **kw)
        assert resp.status_code < 300, (method, path, resp.status_code, resp.text)
        return resp.json()

    def new_integration(self) -> str:
        labels = [{"key": {"name": "team"}, "value": {"name": "sre"}}]
        data = self.call(
            "POST", "/api/v1/integrations/", json={"type": "webhook", "labels": labels}
        )
        self.link = self.link or data["link"].replace("http://testserver", self.url)
        return str(data["id"])

    def new_chain(self) -> str:
        self.made += 1
        body = {"name": f"chain {self.made}"}
        return str(self.call("POST", "/api/v1/escalation_chains/", json=body)["id"])

    def new_webhook(self) -> str:
        self.made += 1
        body = {"name": f"webhook {self.made}", "url": "https://example.com/hook",
                "http_method": "POST", "trigger_type": "resolve", "password": "pw"}  # fmt: skip
        return str(self.call("POST", "/api/v1/webhooks/", json=body)["id"])

    def new_route(self) -> str:
        body = {
            "integration_id": self.ids["integrations"][0],
            "escalation_chain_id": self.ids["escalation_chains"][0],
            "routing_regex": "disk",
        }
        return str(self.call("POST", "/api/v1/routes/", json=body)["id"])

    def new_group(self) -> str:
        """Post an alert with a fresh grouping key and let a real worker group it."""
        self.alerts_posted += 1
        payload = {"alert_uid": f"fuzz-{self.alerts_posted}", "title": "disk full"}
        resp = requests.post(self.link, json=payload, timeout=30)
        assert resp.status_code == 200, resp.text
        asyncio.run(drain(self.settings, concurrency=2))
        groups = self.call("GET", "/api/v1/alert_groups/")["results"]
        return str(groups[0]["id"])

    def new(self, kind: str) -> str:
        if kind == "alerts":
            self.new_group()
            return str(self.call("GET", "/api/v1/alerts/")["results"][0]["id"])
        return {
            "integrations": self.new_integration,
            "routes": self.new_route,
            "escalation_chains": self.new_chain,
            "alert_groups": self.new_group,
            "webhooks": self.new_webhook,
        }[kind]()

    def seed(self) -> None:
        for kind in KINDS:
            self.ids[kind] = [self.new(kind), self.new(kind)]


async def _token(url: str) -> str:
    redis = Redis.from_url(url)
    try:
        _, secret = await tokens.create_token(redis, "org1", ALL_SCOPES)
    finally:
        await redis.aclose()
    return secret


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("fuzz-redis"))
    server.start()
    env = environment(server.url)
    service = api(env, tmp_path_factory.mktemp("fuzz-logs"))
    try:
        with running(service):
            asyncio.run(wait_ready(service.url))
            token = asyncio.run(_token(server.url))
            settings = Settings(redis_url=server.url, base_url="http://testserver")
            state = Seeded(service.url, {"Authorization": f"Bearer {token}"}, settings)
            state.seed()
            yield state
            assert_no_tracebacks(service.log)
    finally:
        server.stop()


def assert_no_tracebacks(log: Path) -> None:
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-5000:]


@pytest.fixture(scope="module")
def api_schema(seeded: Seeded) -> BaseSchema:
    config = SchemathesisConfig.from_dict(CONFIG)
    return schemathesis.openapi.from_url(seeded.url + "/api/v1/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def use_seeded_id(case: Case[Any], seeded: Seeded) -> None:
    """Swap most generated ``{id}``s for seeded ones (a fresh object for a DELETE)."""
    generated = case.path_parameters.get("id") if case.path_parameters else None
    if generated is None:
        return
    kind = case.path.split("/")[3]
    if zlib.crc32(str(generated).encode()) % 4 == 0:
        return  # keep the generated id: the unknown-id path
    if case.method.upper() == "DELETE":
        case.path_parameters["id"] = seeded.new(kind)
    else:
        pool = seeded.ids[kind]
        case.path_parameters["id"] = pool[zlib.crc32(str(generated).encode()) % len(pool)]


REFERENCES = {"integration_id": "integrations", "escalation_chain_id": "escalation_chains"}


def use_seeded_references(case: Case[Any], seeded: Seeded) -> None:
    """In schema-valid bodies, point ``integration_id``/``escalation_chain_id`` at real objects."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if isinstance(case.body, dict):
        for name, kind in REFERENCES.items():
            if isinstance(case.body.get(name), str):
                case.body[name] = seeded.ids[kind][0]


@schema.parametrize()
def test_api_conforms_to_its_document(case: Case[Any], seeded: Seeded) -> None:
    use_seeded_id(case, seeded)
    use_seeded_references(case, seeded)
    case.headers.update(seeded.headers)  # case-insensitive: replaces any generated one
    started = time.monotonic()
    case.call_and_validate(checks=CHECKS)
    assert time.monotonic() - started < 10
