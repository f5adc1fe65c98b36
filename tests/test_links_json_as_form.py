"""``curl --data '{...}'`` posts JSON as a form: a link reads it as the JSON it is, and says so.

The bodies are the bytes curl sends: ``--data`` sends the text unencoded with
``Content-Type: application/x-www-form-urlencoded`` (so ``&``, ``=`` and ``+`` in the JSON reach
us as they are); ``--data-urlencode`` sends it percent-encoded, as one key without a value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import orjson
from aiohttp.test_utils import TestClient

from ingest.api.links import JSON_AS_FORM_NOTE
from ingest.console import story
from ingest.settings import Settings
from tests.group_helpers import ALERTS, get_json, list_groups
from tests.test_pipeline import make
from tests.worker_helpers import drain

Client = TestClient[Any, Any]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what curl --data sends
ALERT = {
    "title": "Disk full & slow: used=99% (a+b)",
    "message": "q?x=1&y=2",
    "state": "alerting",
}


async def post_and_read(
    client: Client, auth: dict[str, str], settings: Settings, body: bytes, posted: list[str]
) -> dict[str, Any]:
    """Post ``body`` as curl --data does to a new webhook link; the stored alert."""
    integration = await make(client, auth, "webhook")
    resp = await client.post(integration["path"], data=body, headers=FORM)
    assert resp.status == 200, await resp.text()
    await drain(settings)
    page = await get_json(client, ALERTS, auth)
    newest = page["results"][0]  # alerts are listed newest first
    assert page["count"] == len(posted) + 1
    posted.append(newest["id"])
    return dict(newest)


async def test_json_sent_by_curl_data_is_read_as_json(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    body, posted = orjson.dumps(ALERT), list[str]()
    assert b"&" in body and b"=" in body and b"+" in body  # a form parser would mangle it
    alert = await post_and_read(client, auth, settings, body, posted)
    assert alert["payload"] == ALERT
    assert alert["trace"]["notes"] == [JSON_AS_FORM_NOTE]
    [group] = await list_groups(client, auth)
    assert group["title"] == ALERT["title"]  # not the generic title of a form key
    steps = story.tell(alert["trace"])
    assert steps[0].heading == "Received" and steps[0].lines == [JSON_AS_FORM_NOTE]


async def test_json_sent_by_curl_data_urlencode_is_read_as_json(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    body, posted = quote_plus(orjson.dumps(ALERT).decode()).encode(), list[str]()
    alert = await post_and_read(client, auth, settings, body, posted)
    assert alert["payload"] == ALERT
    assert alert["trace"]["notes"] == [JSON_AS_FORM_NOTE]


async def test_real_forms_stay_forms(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    posted: list[str] = []
    for body, payload in [
        (b"title=disk+full&state=alerting", {"title": "disk full", "state": "alerting"}),
        (b"just-a-word", {"just-a-word": ""}),
        (b"[1,2]", {"[1,2]": ""}),  # a JSON array is not an alert object
        (b'{"title": "cut', {'{"title": "cut': ""}),  # not JSON: the form it is
    ]:
        alert = await post_and_read(client, auth, settings, body, posted)
        assert alert["payload"] == payload
        assert "notes" not in alert["trace"]
        assert story.tell(alert["trace"])[0].heading == "Labels"
