"""Hypothesis-generated JSON through integration links and the preview, then a real worker.

For every generated payload: the link and the preview never answer 5xx (only a payload holding a
lone surrogate, which JSON text cannot carry as UTF-8, is refused, with a clear 400); the preview's
answer matches its documented schema; and after a real arq worker drained the queue, every
accepted alert is stored in a group and nothing was dead-lettered.

Payloads are encoded with ``json.dumps`` (not orjson, which refuses integers beyond 64 bits) so
huge integers reach the api as JSON text. Generation is derandomized: the same examples each run.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.store import dead_letters, groups
from tests.fuzz_helpers import Client, assert_clear_error, make_integration, post_raw
from tests.openapi_check import assert_valid
from tests.worker_helpers import drain

PREVIEW = "/api/v1/integrations/{id}/preview/"
FUZZ = hsettings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=5)
    | st.sampled_from(["firing", "resolved", "", "\x00", "{{ 7*7 }}", "{% raw %}", "\ud800"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda kids: (
        st.lists(kids, max_size=6) | st.dictionaries(st.text(max_size=8), kids, max_size=6)
    ),
    max_leaves=40,
)
# The fields the default templates of the Alertmanager-style and Grafana types read, fuzzed.
ALERT = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["firing", "resolved"]) | JSON_VALUES,
        "labels": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5) | JSON_VALUES,
        "annotations": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5),
        "startsAt": st.text(max_size=30) | JSON_VALUES,
        "generatorURL": st.text(max_size=30) | JSON_VALUES,
        "fingerprint": JSON_VALUES,
    },
)
NOTIFICATION = st.fixed_dictionaries(
    {"alerts": st.lists(ALERT | JSON_VALUES, max_size=4) | JSON_VALUES},
    optional={
        "status": st.sampled_from(["firing", "resolved"]) | JSON_VALUES,
        "groupKey": JSON_VALUES,
        "groupLabels": JSON_VALUES,
        "commonLabels": JSON_VALUES,
        "commonAnnotations": JSON_VALUES,
        "externalURL": JSON_VALUES,
        "title": JSON_VALUES,
        "message": JSON_VALUES,
        "numFiring": JSON_VALUES,
        "evalMatches": JSON_VALUES,
    },
)


def has_lone_surrogate(value: Any) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


class Run:
    """One integration of a type; posts a payload, previews it, drains, checks it all landed."""

    def __init__(
        self, client: Client, redis: Redis, settings: Settings, auth: dict[str, str]
    ) -> None:
        self.client, self.redis, self.settings, self.headers = client, redis, settings, auth
        self.integration_id = self.link = ""

    async def setup(self, kind: str) -> None:
        self.integration_id, self.link = await make_integration(self.client, self.headers, kind)

    async def check(self, payload: Any, link_may_refuse: bool = False) -> None:
        body = json.dumps(payload).encode()
        refused = has_lone_surrogate(payload)
        status, ctype, text = await post_raw(self.client, self.link, body)
        if refused:
            assert_clear_error(status, ctype, text, 400, "JSON parse error - ", "surrogate")
        elif payload is None:
            assert (status, text) == (400, b"Payload is required")
        elif link_may_refuse and not isinstance(payload, dict):
            assert_clear_error(status, ctype, text, 400, "Payload must be a JSON object")
        else:
            assert status == 200, (status, text[:500])
        await self.preview(payload, refused)
        queued = await self.redis.zcard(self.settings.queue_name)
        before = await groups.org_alert_count(self.redis, "org1")
        await drain(self.settings)
        assert await dead_letters.entries(self.redis) == []
        assert await self.redis.zcard(self.settings.queue_name) == 0
        assert await groups.org_alert_count(self.redis, "org1") == before + queued

    async def preview(self, payload: Any, refused: bool) -> None:
        body = b'{"payload": ' + json.dumps(payload).encode() + b"}"
        path = PREVIEW.format(id=self.integration_id)
        status, ctype, text = await post_raw(self.client, path, body, headers=self.headers)
        if refused:
            assert_clear_error(status, ctype, text, 400, "JSON parse error - ", "surrogate")
            return
        assert status == 200, (status, text[:500])
        assert_valid(orjson.loads(text), "/api/v1/integrations/{id}/preview/", "post", 200)


async def make_run(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings, kind: str
) -> Run:
    run = Run(client, redis, settings, auth)
    await run.setup(kind)
    return run


@pytest.fixture
async def webhook(client: Client, auth: dict[str, str], redis: Redis, settings: Settings) -> Run:
    return await make_run(client, auth, redis, settings, "webhook")


@pytest.fixture
async def alertmanager(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> Run:
    return await make_run(client, auth, redis, settings, "alertmanager")


@pytest.fixture
async def grafana(client: Client, auth: dict[str, str], redis: Redis, settings: Settings) -> Run:
    return await make_run(client, auth, redis, settings, "grafana")


@hsettings(FUZZ, max_examples=60)
@given(payload=JSON_VALUES)
async def test_any_json_through_a_webhook_link_and_preview(webhook: Run, payload: Any) -> None:
    await webhook.check(payload)


@hsettings(FUZZ, max_examples=30)
@given(payload=NOTIFICATION | JSON_VALUES)
async def test_alertmanager_shaped_payloads(alertmanager: Run, payload: Any) -> None:
    await alertmanager.check(payload, link_may_refuse=True)


@hsettings(FUZZ, max_examples=30)
@given(payload=NOTIFICATION)
async def test_grafana_shaped_payloads_split_per_alert(grafana: Run, payload: Any) -> None:
    await grafana.check(payload)
