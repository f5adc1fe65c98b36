"""Grouping scenarios (``test_a_`` to ``test_f_``), labels and maintenance, end to end through the
worker."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.settings import Settings
from tests.test_pipeline import make, post_and_drain, state
from tests.worker_helpers import all_groups, drain, events, group_alerts

Client = TestClient[Any, Any]


async def start_maintenance(client: Client, auth: dict[str, str], url: str) -> None:
    started = await client.post(
        url + "/maintenance_start", json={"mode": "maintenance", "duration": 600}, headers=auth
    )
    assert started.status == 200


async def assert_maintenance_ended(
    client: Client, auth: dict[str, str], url: str, redis: Redis
) -> None:
    shown = await (await client.get(url, headers=auth)).json()
    assert shown["maintenance_mode"] is None and shown["maintenance_end_at"] is None
    assert [state(g) for g in await all_groups(redis)] == ["resolved", "resolved"]
    assert await redis.zcard("ai:maintenance-ends") == 0


async def summary(redis: Redis) -> list[tuple[str, int]]:
    return [(state(g), int(g["alerts_count"])) for g in await all_groups(redis)]


async def test_a_formatted_webhook_uid_state_cycle(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    path = (await make(client, auth, "formatted_webhook"))["path"]
    await post_and_drain(client, settings, path, {"alert_uid": "a", "state": "alerting"})
    await post_and_drain(client, settings, path, {"alert_uid": "a", "state": "alerting"})
    assert await summary(redis) == [("firing", 2)]
    await post_and_drain(client, settings, path, {"alert_uid": "a", "state": "ok"})
    assert await summary(redis) == [("resolved", 3)]
    await post_and_drain(client, settings, path, {"alert_uid": "a", "state": "OK"})
    assert await summary(redis) == [("resolved", 4)]  # attached to the resolved group
    await post_and_drain(client, settings, path, {"alert_uid": "a", "state": "alerting"})
    assert await summary(redis) == [("resolved", 4), ("firing", 1)]
    await post_and_drain(client, settings, path, {"state": "alerting"}, {"state": "alerting"})
    assert await summary(redis) == [("resolved", 4), ("firing", 1), ("firing", 1), ("firing", 1)]
    own = (await all_groups(redis))[-1]
    [alert] = await group_alerts(redis, own["id"])
    assert alert["trace"]["own_group"] is True
    assert "empty" in alert["trace"]["own_group_reason"]


async def test_b_webhook_default_groups_by_whole_payload(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    path = (await make(client, auth, "webhook"))["path"]
    await post_and_drain(client, settings, path, {"id": 1, "state": "alerting"})
    await post_and_drain(client, settings, path, {"id": 1, "state": "alerting"})
    await post_and_drain(client, settings, path, {"id": 1, "state": "OK"})
    # the resolve signal has another key: a new group, resolved at once; G1 stays firing
    assert await summary(redis) == [("firing", 2), ("resolved", 1)]


async def test_d_acknowledge_condition(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    templates = {"acknowledge_signal": '{{ payload.state == "ack" }}'}
    path = (await make(client, auth, "formatted_webhook", templates=templates))["path"]
    await post_and_drain(client, settings, path, {"alert_uid": "x", "state": "alerting"})
    await post_and_drain(client, settings, path, {"alert_uid": "x", "state": "ack"})
    assert await summary(redis) == [("acknowledged", 2)]
    await post_and_drain(client, settings, path, {"alert_uid": "x", "state": "alerting"})
    assert await summary(redis) == [("acknowledged", 3)]
    await post_and_drain(client, settings, path, {"alert_uid": "x", "state": "ok"})
    assert await summary(redis) == [("resolved", 4)]
    await post_and_drain(client, settings, path, {"alert_uid": "y", "state": "ack"})
    assert (await summary(redis))[-1] == ("acknowledged", 1)
    types = [e["type"] for e in await events(redis)]
    assert types.count("alert_group_acknowledged") == 2
    assert types.count("alert_group_resolved") == 1


async def test_e_silenced_group_keeps_grouping_and_unsilences_on_signals(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    path = (await make(client, auth, "formatted_webhook"))["path"]
    await post_and_drain(client, settings, path, {"alert_uid": "s", "state": "alerting"})
    [group] = await all_groups(redis)
    silence = {"silenced_at": "1", "silenced_until": ""}
    await redis.hset(f"ai:group:{group['id']}", mapping=silence)  # type: ignore[misc]
    await post_and_drain(client, settings, path, {"alert_uid": "s", "state": "alerting"})
    assert await summary(redis) == [("silenced", 2)]
    await post_and_drain(client, settings, path, {"alert_uid": "s", "state": "ok"})
    [group] = await all_groups(redis)
    assert state(group) == "resolved" and "silenced_at" not in group


async def test_f_maintenance_attaches_new_groups_and_sends_no_events(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(client, auth, "formatted_webhook")
    path = integration["path"]
    await post_and_drain(client, settings, path, {"alert_uid": "before", "state": "alerting"})
    url = f"/api/v1/integrations/{integration['id']}/maintenance_start"
    start = await client.post(url, json={"mode": "maintenance", "duration": 3600}, headers=auth)
    assert start.status == 200
    sent_before = len(await events(redis))
    await post_and_drain(client, settings, path, {"alert_uid": "new", "state": "alerting"})
    await post_and_drain(client, settings, path, {"alert_uid": "before", "state": "alerting"})
    groups = {g["id"]: g for g in await all_groups(redis)}
    maintenance = [g for g in groups.values() if g.get("is_maintenance") == "1"]
    assert len(maintenance) == 1
    attached = [g for g in groups.values() if g.get("root_id") == maintenance[0]["id"]]
    assert len(attached) == 1 and attached[0]["alerts_count"] == "1"
    old = [g for g in groups.values() if g["alerts_count"] == "2"]
    assert len(old) == 1 and "root_id" not in old[0]  # a group opened before keeps grouping
    assert len(await events(redis)) == sent_before


async def test_f_debug_mode_groups_normally_without_escalation(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(
        client, auth, "formatted_webhook", default_route={"escalation_chain_id": None}
    )
    url = f"/api/v1/integrations/{integration['id']}/maintenance_start"
    await client.post(url, json={"mode": "debug", "duration": 3600}, headers=auth)
    await post_and_drain(client, settings, integration["path"], {"alert_uid": "d", "state": "x"})
    [group] = await all_groups(redis)  # debug mode opens no maintenance group (OnCall neither)
    assert "root_id" not in group and "is_maintenance" not in group
    [event] = await events(redis)
    data = orjson.loads(event["data"])
    assert data["escalate"] is False and data["maintenance_mode"] == "debug"


def labels(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"key": {"name": k}, "value": {"name": v}} for k, v in pairs]


async def test_labels_static_dynamic_multi_with_drops(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(
        client,
        auth,
        "webhook",
        labels=labels(("team", "sre"), ("env", "staging")),
        dynamic_labels=labels(
            ("env", "{{ payload.env }}"),
            ("sev", "{{ payload.severity }}"),
            ("broken", "{{ payload.nope.deeper }}"),
            ("long", "{{ 'x' * 300 }}"),
            ("blank", "{{ '' }}"),
        ),
        alert_group_labels_template='{"service": "{{ payload.svc }}", "team": "platform"}',
    )
    body = {"env": "prod", "severity": "critical", "svc": "db"}
    await post_and_drain(client, settings, integration["path"], body)
    [group] = await all_groups(redis)
    stored = {item["key"]: item["value"] for item in orjson.loads(group["labels"])}
    assert stored == {"team": "platform", "env": "prod", "sev": "critical", "service": "db"}
    [alert] = await group_alerts(redis, group["id"])
    dropped = {d["key"]: d["reason"] for d in alert["trace"]["dropped_labels"]}
    assert dropped["broken"] == "failed"
    assert dropped["long"] == "too_long"
    assert dropped["blank"] == "empty"
    sources = {lb["key"]: lb["source"] for lb in alert["trace"]["labels"]}
    assert sources == {"team": "multi", "env": "dynamic", "sev": "dynamic", "service": "multi"}


async def test_label_cap_keeps_the_first_keys_sorted(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    many = labels(*[(f"k{n:02d}x", "v") for n in range(20)])
    integration = await make(client, auth, "webhook", labels=many)
    await post_and_drain(client, settings, integration["path"], {"a": 1})
    [group] = await all_groups(redis)
    keys = [item["key"] for item in orjson.loads(group["labels"])]
    assert keys == sorted(keys) and len(keys) == settings.max_labels
    [alert] = await group_alerts(redis, group["id"])
    over = [d for d in alert["trace"]["dropped_labels"] if d["reason"] == "over_cap"]
    assert len(over) == 20 - settings.max_labels


async def test_deleted_integration_drops_queued_alerts(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(client, auth, "webhook")
    assert (await client.post(integration["path"], json={"a": 1})).status == 200
    await client.delete(f"/api/v1/integrations/{integration['id']}", headers=auth)
    await drain(settings)
    assert await all_groups(redis) == []
    assert await redis.zcard(settings.queue_name) == 0


async def test_alerts_kept_per_group_are_capped_but_counted(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    capped = settings.replace(max_alerts_per_group=3)
    path = (await make(client, auth, "formatted_webhook"))["path"]
    for n in range(5):
        assert (await client.post(path, json={"alert_uid": "c", "n": n})).status == 200
        await drain(capped)
    [group] = await all_groups(redis)
    assert group["alerts_count"] == "5"
    kept = await group_alerts(redis, group["id"])
    assert [a["payload"]["n"] for a in kept] == [4, 3, 2]
    assert await redis.zcard("ai:org:org1:alerts") == 3


async def test_f_stopping_maintenance_resolves_its_group_and_attached_ones(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(client, auth, "formatted_webhook")
    url = f"/api/v1/integrations/{integration['id']}"
    await start_maintenance(client, auth, url)
    await post_and_drain(client, settings, integration["path"], {"alert_uid": "m", "state": "x"})
    assert sorted(state(g) for g in await all_groups(redis)) == ["firing", "firing"]
    stopped = await client.post(url + "/maintenance_stop", headers=auth)
    assert (await stopped.json())["maintenance_mode"] is None
    assert [state(g) for g in await all_groups(redis)] == ["resolved", "resolved"]
    assert await redis.get(f"ai:maintenance-group:{integration['id']}") is None
    assert await redis.zcard("ai:maintenance-ends") == 0
    # the next maintenance window gets a group of its own
    await start_maintenance(client, auth, url)
    await post_and_drain(client, settings, integration["path"], {"alert_uid": "n", "state": "x"})
    assert sorted(state(g) for g in await all_groups(redis)) == [
        "firing", "firing", "resolved", "resolved",
    ]  # fmt: skip


async def test_f_a_maintenance_window_that_ends_by_itself_is_closed(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    from worker.deps import DEPS, Deps
    from worker.maintenance import expire_maintenance

    integration = await make(client, auth, "formatted_webhook")
    url = f"/api/v1/integrations/{integration['id']}"
    await start_maintenance(client, auth, url)
    await post_and_drain(client, settings, integration["path"], {"alert_uid": "w", "state": "x"})
    ctx = {DEPS: Deps.create(redis, settings)}
    assert await expire_maintenance(ctx) == 0  # not over yet
    await redis.zadd("ai:maintenance-ends", {integration["id"]: 1})  # pretend the time is up
    doc = orjson.loads(await redis.get(f"ai:integration:{integration['id']}") or b"{}")
    doc["maintenance_end_at"] = 1.0
    await redis.set(f"ai:integration:{integration['id']}", orjson.dumps(doc))
    assert await expire_maintenance(ctx) == 1
    await assert_maintenance_ended(client, auth, url, redis)


async def test_f_resolving_the_maintenance_group_ends_maintenance_everywhere(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    """Ending maintenance by resolving its group clears it as a stop would, index included."""
    integration = await make(client, auth, "formatted_webhook")
    url = f"/api/v1/integrations/{integration['id']}"
    await start_maintenance(client, auth, url)
    assert await redis.zscore("ai:maintenance-ends", integration["id"]) is not None
    await post_and_drain(client, settings, integration["path"], {"alert_uid": "r", "state": "x"})
    root = next(g for g in await all_groups(redis) if g.get("is_maintenance") == "1")
    resolved = await client.post(f"/api/v1/alert_groups/{root['id']}/resolve", headers=auth)
    assert resolved.status == 200
    assert [state(g) for g in await all_groups(redis)] == ["resolved", "resolved"]
    shown = await (await client.get(url, headers=auth)).json()
    assert shown["maintenance_mode"] is None and shown["maintenance_end_at"] is None
    assert await redis.zcard("ai:maintenance-ends") == 0
