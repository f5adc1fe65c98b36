"""Alert-group lists answered from the indexes: every filter and combination, counts, pages.

The reference for each list is computed here from the API's own unfiltered listing, after
source signals, user actions, a silence that ends by time, wipe, delete and retention.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.settings import Rate, Settings
from tests.group_helpers import GROUPS, Client, act, fire, get_json, labelled_pair, webhook
from tests.test_pipeline import post_and_drain
from tests.test_routes_pipeline import add_route
from tests.worker_helpers import drain
from worker.grouping import Commit, Grouper, Placement
from worker.retention import purge

ANY = object()
RANGE_FORMAT = "%Y-%m-%dT%H:%M:%S"


@pytest.fixture
def settings(redis_server: EmbeddedRedis) -> Settings:
    """These tests ask for hundreds of lists a minute: no API rate limit in the way."""
    return Settings(
        redis_url=redis_server.url, base_url="http://testserver", rate_limit_api=Rate(10**6, 60)
    )


async def walk(client: Client, auth: dict[str, str], perpage: int, **params: Any) -> list[str]:
    """Every id of a list, page by page; checks count, pages and links on the way."""
    ids: list[str] = []
    page = 1
    while True:
        body = await get_json(client, GROUPS, auth, perpage=perpage, page=page, **params)
        assert body["current_page_number"] == page
        assert body["total_pages"] == max(1, -(-body["count"] // perpage))
        ids += [g["id"] for g in body["results"]]
        if body["next"] is None:
            break
        page += 1
    assert len(ids) == body["count"], params
    return ids


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def reference(groups: list[dict[str, Any]], **wanted: Any) -> list[str]:
    """What a filtered list must hold, from the unfiltered listing's objects."""
    state = {"new": "firing"}.get(wanted.get("state", ""), wanted.get("state"))
    pairs = wanted.get("label", [])
    pairs = {tuple(p.split(":")) for p in ([pairs] if isinstance(pairs, str) else pairs)}
    team = wanted.get("team_id", ANY)
    low, high = -1e18, 1e18
    if wanted.get("started_at") is not None:
        low, high = (
            datetime.strptime(p, RANGE_FORMAT).replace(tzinfo=UTC).timestamp()
            for p in wanted["started_at"].split("_")
        )
    out = []
    for g in groups:
        labels = {(lb["key"]["name"], lb["value"]["name"]) for lb in g["labels"]}
        if (
            (state is None or g["state"] == state)
            and wanted.get("integration_id", g["integration_id"]) == g["integration_id"]
            and wanted.get("route_id", g["route_id"]) == g["route_id"]
            and (team is ANY or g["team_id"] == (None if team == "null" else team))
            and pairs <= labels
            and low <= stamp(g["created_at"]) <= high
        ):
            out.append(g["id"])
    return out


async def everything(client: Client, auth: dict[str, str]) -> list[dict[str, Any]]:
    body = await get_json(client, GROUPS, auth, perpage=100)
    assert body["next"] is None
    groups: list[dict[str, Any]] = body["results"]
    return groups


async def check_combinations(
    client: Client, auth: dict[str, str], dimensions: dict[str, list[Any]], perpage: int
) -> int:
    """Every combination of the given filter values against the reference; how many were run."""
    groups = await everything(client, auth)
    runs = 0
    names = list(dimensions)
    for values in itertools.product(*(dimensions[n] for n in names)):
        params = {n: v for n, v in zip(names, values, strict=True) if v is not None}
        assert await walk(client, auth, perpage, **params) == reference(groups, **params), params
        runs += 1
    return runs


async def test_every_filter_after_signals_actions_wipe_delete_and_retention(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    plain, teamed = await labelled_pair(client, auth)
    special = await add_route(
        client, auth, integration_id=plain["id"], routing_regex='{{ payload.r == "x" }}'
    )
    bodies = [{"k": f"p{i}", "env": ("prod", "dev")[i % 2], "r": "x" if i < 3 else ""}
              for i in range(8)]  # fmt: skip
    await fire(client, settings, plain, *bodies)
    await fire(client, settings, teamed, *({"k": f"t{i}", "env": "prod"} for i in range(5)))
    await fire(client, settings, plain, {"k": "p2", "state": "ok"}, {"k": "p6", "state": "ack"})
    ids = {g["title"][-2:]: g["id"] for g in await everything(client, auth)}
    assert len(ids) == 13
    ending = time.time() + 1
    assert (await act(client, auth, ids["t1"], "silence", json={"delay": 1}))[0] == 200
    for key, verb, body in [
        ("p1", "acknowledge", None),
        ("p3", "silence", {"delay": -1}),
        ("t2", "resolve", None),
        ("t2", "unresolve", None),
        ("t3", "acknowledge", None),
        ("t3", "resolve", None),
        ("p7", "silence", {"delay": 3600}),
        ("p7", "unsilence", None),
    ]:
        assert (await act(client, auth, ids[key], verb, json=body))[0] == 200, (key, verb)
    resp = await client.delete(GROUPS + ids["p4"], headers=auth)  # wipe
    assert resp.status == 204
    resp = await client.delete(GROUPS + ids["p5"], headers=auth, json={"mode": "delete"})
    assert resp.status == 204
    await asyncio.sleep(max(0.0, ending - time.time()) + 0.05)  # t1's silence has ended
    states = {g["title"] and g["title"][-2:]: g["state"] for g in await everything(client, auth)}
    assert states == {
        "p0": "firing", "p1": "acknowledged", "p2": "resolved", "p3": "silenced",
        None: "resolved", "p6": "acknowledged", "p7": "firing", "t0": "firing", "t1": "firing",
        "t2": "firing", "t3": "resolved", "t4": "firing",
    }  # fmt: skip
    dimensions: dict[str, list[Any]] = {
        "state": [None, "new", "acknowledged", "resolved", "silenced"],
        "integration_id": [None, plain["id"], teamed["id"], "CNOPE"],
        "route_id": [None, special, plain["default_route"]["id"], teamed["default_route"]["id"]],
        "team_id": [None, "null"],
        "label": [None, ["env:prod", "a:b"]],
    }
    assert await check_combinations(client, auth, dimensions, perpage=4) == 320
    for extra in ({"team_id": "T1"}, {"label": "env:prod"}):  # the other scanned values
        assert await walk(client, auth, 2, **extra) == reference(
            await everything(client, auth), **extra
        )
    await purge(redis, retention_days=0, now=time.time() + 1)
    remaining = await everything(client, auth)
    assert len(remaining) == 9 and all(g["state"] != "resolved" for g in remaining)
    del dimensions["label"]
    await check_combinations(client, auth, dimensions, perpage=4)


async def test_ranges_and_deep_pages_over_many_groups(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    first = await webhook(client, auth)
    second = await webhook(client, auth, team_id="T9")
    grouper = Grouper(redis)
    base = datetime(2024, 3, 1, tzinfo=UTC).timestamp()

    async def commit(i: int) -> None:
        integration = (first, second)[i % 2]
        place = Placement(
            integration["id"],
            "org1",
            integration["default_route"]["id"],
            integration["team_id"] or "",
        )
        commit = Commit(
            alert_id=f"A{i:05d}",
            place=place,
            grouping_id=f"key{i}",
            alert_doc=orjson.dumps(
                {"id": f"A{i:05d}", "received_at": base + i * 60.5, "payload": {}, "trace": {}}
            ),
            now=time.time(),
            received_at=base + i * 60.5,  # one group every minute (and a half second)
            title=f"g{i}",
            labels=orjson.dumps([{"key": "m", "value": str(i % 7)}]).decode(),
            resolve=i % 3 == 0,
            acknowledge=i % 3 == 1,
            new_group_id=f"G{i:05d}",
        )
        version = int(await redis.get(f"ai:integration:{integration['id']}:version"))
        await grouper.commit(commit, version, max_alerts=10)

    total = 1203
    await asyncio.gather(*(commit(i) for i in reversed(range(total))))  # committed out of order
    listing = await walk(client, auth, 100)
    assert listing == [f"G{i:05d}" for i in reversed(range(total))]  # by receipt, newest first
    deep = await get_json(client, GROUPS, auth, perpage=7, page=150)
    assert [g["id"] for g in deep["results"]] == listing[149 * 7 : 150 * 7]
    past = await get_json(client, GROUPS, auth, perpage=100, page=99)
    assert past["current_page_number"] == 13 and len(past["results"]) == 3
    group = await get_json(client, GROUPS + "G00002", auth)
    assert group["created_at"] == "2024-03-01T00:02:01Z"  # received at, not committed at

    def span(start: int, end: int) -> str:
        low, high = (datetime.fromtimestamp(base + m * 60, UTC) for m in (start, end))
        return f"{low.strftime(RANGE_FORMAT)}_{high.strftime(RANGE_FORMAT)}"

    dimensions: dict[str, list[Any]] = {
        "started_at": [None, span(0, 0), span(100, 1000), span(-9, -1)],
        "state": [None, "new", "resolved"],
        "integration_id": [None, second["id"]],
        "route_id": [None, first["default_route"]["id"]],
        "label": [None, "m:3"],
        "team_id": [None, "T9"],
    }
    groups: list[dict[str, Any]] = []
    for page in range(1, 14):
        groups += (await get_json(client, GROUPS, auth, perpage=100, page=page))["results"]
    for values in itertools.product(*dimensions.values()):
        params = {n: v for n, v in zip(dimensions, values, strict=True) if v is not None}
        expected = reference(groups, **params)
        body = await get_json(client, GROUPS, auth, perpage=20, page=5, **params)
        assert body["count"] == len(expected), params
        pages = max(1, -(-len(expected) // 20))
        start = (min(5, pages) - 1) * 20
        assert [g["id"] for g in body["results"]] == expected[start : start + 20], params


async def test_order_is_receipt_order_after_a_backlog(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    keys = [f"b{i:02d}" for i in range(40)]
    for key in keys:  # queued, not processed: a backlog
        resp = await client.post(integration["path"], json={"k": key})
        assert resp.status == 200
    await drain(settings, concurrency=20)  # many job slots commit in whatever order they finish
    groups = await everything(client, auth)
    assert [g["title"][-3:] for g in groups] == list(reversed(keys))
    for group in groups:
        assert abs(stamp(group["created_at"]) - stamp(group["last_alert"]["created_at"])) < 0.001
    await post_and_drain(client, settings, integration["path"], {"k": "b00"})
    assert (await everything(client, auth))[-1]["alerts_count"] == 2  # a later alert: same place


async def test_the_maintenance_group_is_in_the_indexes_from_its_start(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await webhook(client, auth)
    start = f"/api/v1/integrations/{integration['id']}/maintenance_start/"
    resp = await client.post(start, json={"mode": "maintenance", "duration": 3600}, headers=auth)
    assert resp.status == 200, await resp.text()
    [group] = await everything(client, auth)
    for params in ({"state": "new"}, {"integration_id": group["integration_id"]},
                   {"route_id": group["route_id"], "state": "new"}):  # fmt: skip
        assert await walk(client, auth, 5, **params) == [group["id"]], params
    assert (await act(client, auth, group["id"], "resolve"))[0] == 200
    assert await walk(client, auth, 5, state="resolved") == [group["id"]]
    assert await walk(client, auth, 5, state="new") == []
