"""Bad input through the link and the public API: a clear 4xx, or 200 and stored safely.

Each case answers either a 4xx JSON ``{"detail": ...}`` that names the reason, or 200, after which
a real worker stores and groups the alert (templates, regex and Jinja routes included) without a
dead letter. Never a 500, never a traceback in a body.

What orjson (the parser) does with the awkward cases, as these tests pin down:

- nesting: orjson refuses more than 1024 levels; ``ingest.api.body`` refuses more than
  ``MAX_JSON_DEPTH`` (200), so every accepted payload can be stored again (orjson's serializer
  stops at 254 levels, and the alerts API nests a payload 3 levels deep);
- duplicate keys: accepted, the last value wins;
- integers beyond 64 bits: parsed as (lossy) floats; ``1e400`` (infinite as a double): refused;
- ``\\u0000`` in strings and keys: kept; a raw control byte inside a string: refused;
- a lone surrogate (``"\\ud800"``) or invalid UTF-8: refused.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from ingest.api.body import MAX_JSON_DEPTH
from ingest.settings import Settings
from ingest.store import groups
from tests.fuzz_helpers import Client, assert_clear_error, landed, make_integration, post_raw

PREVIEW = "/api/v1/integrations/{}/preview/"
TEMPLATES = {
    "grouping_key": "{{ payload | tojson }}",
    "resolve_signal": "{{ 'resolved' in (payload | string) }}",
    "source_link": "{{ payload | tojson_pretty | length }}",
    "web": {"title": "{{ payload }}", "message": "{{ payload | tojson_pretty }}"},
    "slack": {"title": "{{ payload | json_dumps }}"},
}
DYNAMIC_LABELS = [{"key": {"name": "size"}, "value": {"name": "{{ payload | length }}"}}]


def nested_lists(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


async def busy_integration(client: Client, auth: dict[str, str]) -> tuple[str, str]:
    """A webhook whose templates and routes all walk the whole payload."""
    integration_id, link = await make_integration(
        client, auth, templates=TEMPLATES, dynamic_labels=DYNAMIC_LABELS
    )
    for body in (
        {"routing_type": "regex", "routing_regex": "never-there"},
        {"routing_type": "jinja2", "routing_regex": "{{ (payload | tojson) == '' }}"},
    ):
        route = {"integration_id": integration_id, "escalation_chain_id": None, **body}
        resp = await client.post("/api/v1/routes/", json=route, headers=auth)
        assert resp.status == 201, await resp.text()
    return integration_id, link


async def stored_payloads(redis: Redis) -> list[Any]:
    found = await groups.alerts(redis, await groups.org_alert_ids(redis, "org1"))
    return [a["payload"] for a in found]


async def assert_no_recursion_trouble(client: Client, auth: dict[str, str]) -> None:
    """Every alert (and its trace) reads back through the API, no template hit recursion."""
    resp = await client.get("/api/v1/alerts/", headers=auth)
    assert resp.status == 200, await resp.text()
    for alert in (await resp.json())["results"]:
        issues = alert["trace"]["issues"] + [
            t for t in alert["trace"]["route"]["tried"] if t["error"]
        ]
        assert not [i for i in issues if "recursion" in str(i).lower()], issues


# --- nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [nested_lists(10_000), nested_objects(10_000)])
async def test_depth_10000_is_a_clear_400(
    client: Client, auth: dict[str, str], redis: Redis, body: bytes
) -> None:
    integration_id, link = await make_integration(client, auth)
    for path in (link, "/api/v1/integrations/", "/api/v1/routes/"):
        answer = await post_raw(client, path, body, headers=auth)
        assert_clear_error(*answer, 400, "JSON parse error - ", "depth")
    preview = b'{"payload": ' + body + b"}"
    answer = await post_raw(client, PREVIEW.format(integration_id), preview, headers=auth)
    assert_clear_error(*answer, 400, "JSON parse error - ", "depth")
    assert await redis.zcard("alert-ingest:queue") == 0


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 1024])
async def test_depth_orjson_parses_but_cannot_store_is_a_clear_400(
    client: Client, auth: dict[str, str], redis: Redis, depth: int
) -> None:
    """orjson parses up to 1024 levels but serializes only 254: refused before anything is kept."""
    integration_id, link = await make_integration(client, auth)
    for body in (nested_lists(depth), nested_objects(depth)):
        answer = await post_raw(client, link, body)
        detail = assert_clear_error(*answer, 400, "JSON parse error - ", "depth")
        assert str(MAX_JSON_DEPTH) in detail or depth > 1024
        answer = await post_raw(
            client, PREVIEW.format(integration_id), b'{"payload":' + body + b"}", headers=auth
        )
        assert_clear_error(*answer, 400, "JSON parse error - ", "depth")
    assert await redis.zcard("alert-ingest:queue") == 0


async def test_deepest_accepted_payload_is_stored_and_processed(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration_id, link = await busy_integration(client, auth)
    lists, objects = nested_lists(MAX_JSON_DEPTH), nested_objects(MAX_JSON_DEPTH)
    for body in (lists, objects):
        status, _, text = await post_raw(client, link, body)
        assert status == 200, text
    await landed(redis, settings, 2)
    assert sorted(map(orjson.dumps, await stored_payloads(redis))) == sorted([lists, objects])
    await assert_no_recursion_trouble(client, auth)
    resp = await client.get("/api/v1/alerts/", params={"search": "a"}, headers=auth)
    assert resp.status == 200 and (await resp.json())["count"] == 1
    for make in (nested_lists, nested_objects):
        preview = b'{"payload":' + make(MAX_JSON_DEPTH - 1) + b"}"  # one level for the envelope
        status, _, text = await post_raw(
            client, PREVIEW.format(integration_id), preview, headers=auth
        )
        assert status == 200, text
        issues = orjson.loads(text)["trace"]["issues"]
        assert not [i for i in issues if "recursion" in i["message"]], issues


# --- size ---------------------------------------------------------------------------------


async def test_huge_array_within_the_body_limit_is_stored_and_processed(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    _, link = await busy_integration(client, auth)
    numbers = orjson.dumps(list(range(200_000)))
    objects = orjson.dumps([{"i": i} for i in range(100_000)])
    assert max(len(numbers), len(objects)) < settings.max_body_bytes
    for body in (numbers, objects):
        status, _, text = await post_raw(client, link, body)
        assert status == 200, text
    await landed(redis, settings, 2)
    lengths = sorted(len(p) for p in await stored_payloads(redis))
    assert lengths == [100_000, 200_000]


async def test_body_over_the_limit_is_413_json(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration_id, link = await make_integration(client, auth)
    big = b'{"a": "' + b"x" * settings.max_body_bytes + b'"}'
    form = b"a=" + b"x" * settings.max_body_bytes
    for path, body, ctype in [
        (link, big, "application/json"),
        (link, form, "application/x-www-form-urlencoded"),
        (link, big, "text/plain"),
        ("/api/v1/integrations/", big, "application/json"),
        (PREVIEW.format(integration_id), big, "application/json"),
    ]:
        answer = await post_raw(client, path, body, ctype, headers=auth)
        assert_clear_error(*answer, 413, "too large")


# --- encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": "\xff\xfe"}', "UTF-8"),
        (b'{"\xc3\x28": 1}', "UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "UTF-8"),  # a surrogate encoded as UTF-8
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"a": "\\udc00x"}', "surrogate"),
        (b'{"a": "x\x00y"}', ""),  # a raw control byte inside a string
        (b"1e400", "infinity"),
        (b'{"n": -1e400}', "infinity"),
        (b"NaN", ""),
        (b'{"a": Infinity}', ""),
        (b"\xef\xbb\xbf{}", ""),  # a byte order mark
    ],
)
async def test_unparseable_json_is_a_clear_400(
    client: Client, auth: dict[str, str], redis: Redis, body: bytes, reason: str
) -> None:
    integration_id, link = await make_integration(client, auth)
    answer = await post_raw(client, link, body)
    assert_clear_error(*answer, 400, "JSON parse error - ", reason)
    answer = await post_raw(client, "/api/v1/integrations/", body, headers=auth)
    assert_clear_error(*answer, 400, "JSON parse error - ", reason)
    preview = b'{"payload": ' + body + b"}"
    answer = await post_raw(client, PREVIEW.format(integration_id), preview, headers=auth)
    assert_clear_error(*answer, 400, "JSON parse error - ", reason)
    assert await redis.zcard("alert-ingest:queue") == 0


async def test_awkward_but_valid_json_is_stored_and_processed(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    _, link = await busy_integration(client, auth)
    bodies = {
        b'{"a\\u0000b": "x\\u0000y", "\\u0000": ["\\u0000"]}': {
            "a\x00b": "x\x00y",
            "\x00": ["\x00"],
        },
        b'{"k": 1, "k": 2, "k": "last"}': {"k": "last"},  # duplicate keys: the last wins
        b'{"big": ' + b"9" * 100 + b"}": {"big": 1e100},  # beyond 64 bits: a float
        b'{"u64": 18446744073709551615, "i64": -9223372036854775808}': {
            "u64": 18446744073709551615,
            "i64": -9223372036854775808,
        },
        b'{"tiny": 1e-400, "max": 1.7976931348623157e308}': {
            "tiny": 0.0,
            "max": 1.7976931348623157e308,
        },
        '{"emoji": "\U0001f525", "rtl": "\u202e", "bom": "\ufeff", "ls": "\u2028"}'.encode(): {
            "emoji": "\U0001f525",
            "rtl": "\u202e",
            "bom": "\ufeff",
            "ls": "\u2028",
        },
        b'"just a string"': "just a string",
        b"[1, true, null]": [1, True, None],
        b"0": 0,
        b"false": False,
    }
    for body in bodies:
        status, _, text = await post_raw(client, link, body)
        assert status == 200, (body, text)
    await landed(redis, settings, len(bodies))
    stored = await stored_payloads(redis)
    for expected in bodies.values():
        assert expected in stored
    await assert_no_recursion_trouble(client, auth)


async def test_nul_through_the_public_api_is_kept(client: Client, auth: dict[str, str]) -> None:
    body = {
        "type": "webhook",
        "name": "a\x00b",
        "labels": [{"key": {"name": "k\x00"}, "value": {"name": "v\x00"}}],
        "templates": {"web": {"title": "{{ payload['\\x00'] }}\x00"}},
    }
    resp = await client.post("/api/v1/integrations/", json=body, headers=auth)
    data = await resp.json()
    assert resp.status in (201, 400), data
    if resp.status == 201:
        got = await client.get(f"/api/v1/integrations/{data['id']}/", headers=auth)
        assert (await got.json())["name"] == "a\x00b"
    else:
        assert "Traceback" not in str(data)


# --- content types and forms --------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "application/xml", "application/octet-stream", "image/png", "x/y; charset=zz"],
)
async def test_unsupported_content_type_is_415(
    client: Client, auth: dict[str, str], ctype: str
) -> None:
    integration_id, link = await make_integration(client, auth)
    for path in (link, "/api/v1/integrations/", PREVIEW.format(integration_id)):
        answer = await post_raw(client, path, b'{"payload": {}}', ctype, headers=auth)
        assert_clear_error(*answer, 415, ctype.split(";")[0])


async def test_json_with_an_odd_charset_is_still_json(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    _, link = await make_integration(client, auth)
    for ctype in ("application/json; charset=latin-1", "application/vnd.x+json; charset=nope"):
        status, _, text = await post_raw(client, link, b'{"a": "\xc3\xa9"}', ctype)
        assert status == 200, text
    await landed(redis, settings, 2)
    assert await stored_payloads(redis) == [{"a": "\xe9"}, {"a": "\xe9"}]


async def test_form_bodies_with_nul_are_stored_and_processed(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    _, link = await busy_integration(client, auth)
    form = "application/x-www-form-urlencoded"
    assert (await post_raw(client, link, b"a%00b=x%00y&n=1", form))[0] == 200
    assert (await post_raw(client, link, b"n=2&n=3", form))[0] == 200  # last value wins
    part = b'--b\r\nContent-Disposition: form-data; name="k"\r\n\r\nv\x00w\r\n--b--\r\n'
    multipart = "multipart/form-data; boundary=b"
    assert (await post_raw(client, link, part, multipart))[0] == 200
    # a NUL in a part's header is a malformed header: 400, not a 500
    answer = await post_raw(client, link, part.replace(b'"k"', b'"k\x00"'), multipart)
    assert_clear_error(*answer, 400, "Malformed form body: Invalid HTTP header")
    await landed(redis, settings, 3)
    stored = await stored_payloads(redis)
    assert {"a\x00b": "x\x00y", "n": "1"} in stored
    assert {"n": "3"} in stored
    assert {"k": "v\x00w"} in stored


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"a=%ff%fe", "application/x-www-form-urlencoded"),
        (b"a=%ed%a0%80", "application/x-www-form-urlencoded"),  # an encoded surrogate
        (b"a=\xff", "application/x-www-form-urlencoded"),
        (b"a=1", "application/x-www-form-urlencoded; charset=no-such-charset"),
        (b"a=\xff", "application/x-www-form-urlencoded; charset=latin-1"),
        (b"a=1", "multipart/form-data"),  # no boundary
        (b"--b\r\nno headers\r\n--b--\r\n", "multipart/form-data; boundary=b"),
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n'
            b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
    ],
)
async def test_odd_form_bodies_are_4xx_or_stored(
    client: Client,
    auth: dict[str, str],
    redis: Redis,
    settings: Settings,
    body: bytes,
    ctype: str,
) -> None:
    integration_id, link = await make_integration(client, auth)
    status, rtype, text = await post_raw(client, link, body, ctype)
    accepted = 0
    if status == 200:
        accepted = 1
    else:
        assert 400 <= status < 500, (status, text)
        assert "Traceback" not in text.decode(errors="replace")
    status, rtype, text = await post_raw(client, "/api/v1/integrations/", body, ctype, headers=auth)
    assert 400 <= status < 500, (status, text)
    assert rtype == "application/json" and isinstance(orjson.loads(text), dict), text
    status, _, text = await post_raw(
        client, PREVIEW.format(integration_id), body, ctype, headers=auth
    )
    assert 400 <= status < 500, (status, text)
    await landed(redis, settings, accepted)
