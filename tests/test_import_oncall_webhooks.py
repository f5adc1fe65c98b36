"""Outgoing webhooks from OnCall: triggers, filters and templates carried; secrets cannot be read,
so such a webhook is imported disabled and reported until its secrets are entered here."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.store import keys, oncall_ids
from ingest.store import webhooks as webhook_store
from tests.import_helpers import run_import
from tests.oncall_fake import FakeOnCall

AiohttpServer = Any
MASK = "****************"


async def test_webhooks_are_imported_and_secret_ones_disabled_until_secrets_are_entered(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    am = fake.integration("prod-am", "alertmanager")
    fake.integration("other", "webhook")
    notify = fake.webhook(
        "notify-sre", "alert group created", "https://hooks.example.com/sre",
        integration_filter=[am["id"]],
        trigger_template="{{ alert_payload.commonLabels.severity == 'critical' }}",
    )  # fmt: skip
    ticket = fake.webhook(
        "ticket", "resolve", "https://tickets.example.com/api/close",
        data='{"id": "{{ alert_group.id }}"}', headers='{"X-Team": "sre"}', forward_all=False,
        username="bot", password=MASK, authorization_header=MASK, http_method="PUT",
    )  # fmt: skip
    fake.webhook("personal", "personal notification", "https://hooks.example.com/me")
    fake.webhook("internal", "status change", "http://10.0.0.5/hook")
    server: TestServer = await aiohttp_server(fake.app())

    code, out = await run_import(redis, settings, server)

    assert code == 3, out
    assert "read 4 outgoing webhooks" in out
    assert "outgoing webhooks: 2 create, 2 skip" in out
    lines = out.splitlines()
    assert any("ticket" in line and "create*" in line and "password and authorization_header"
               in line and "imported disabled" in line for line in lines)  # fmt: skip
    assert any("personal" in line and "skip" in line and "trigger_type" in line for line in lines)
    assert any("internal" in line and "skip" in line and "url: Invalid URL" in line
               for line in lines)  # fmt: skip
    ids = await oncall_ids.load(redis, "acme")
    sent = await webhook_store.get(redis, "acme", ids[notify["id"]])
    assert sent is not None and sent.is_webhook_enabled
    assert sent.integration_filter == [ids[am["id"]]]
    assert sent.trigger_type == "alert group created" and sent.trigger_template is not None
    closing = await webhook_store.get(redis, "acme", ids[ticket["id"]])
    assert closing is not None and not closing.is_webhook_enabled
    assert (closing.http_method, closing.forward_all, closing.username) == ("PUT", False, "bot")
    assert closing.data == '{"id": "{{ alert_group.id }}"}' and closing.password is None

    code, out = await run_import(redis, settings, server)
    assert "outgoing webhooks: 2 unchanged, 2 skip" in out

    # secrets entered and the webhook enabled here: a later run keeps both
    await webhook_store.save(
        redis, "acme",
        {"password": "s3cret", "authorization_header": "Token t", "is_webhook_enabled": True},
        closing.id,
    )  # fmt: skip
    code, out = await run_import(redis, settings, server)
    closing = await webhook_store.get(redis, "acme", ids[ticket["id"]])
    assert closing is not None and closing.is_webhook_enabled and closing.password == "s3cret"
    assert not any("ticket" in line and "imported disabled" in line for line in out.splitlines())


async def test_a_filter_left_without_imported_integrations_is_not_widened_to_all(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    am = fake.integration("prod-am", "alertmanager")
    paging = fake.integration("paging", "direct_paging")  # never imported
    only_paging = fake.webhook(
        "only-paging", "alert group created", "https://hooks.example.com/a",
        integration_filter=[paging["id"]],
    )  # fmt: skip
    mixed = fake.webhook(
        "mixed", "resolve", "https://hooks.example.com/b",
        integration_filter=[paging["id"], am["id"]],
    )  # fmt: skip
    server: TestServer = await aiohttp_server(fake.app())

    for _ in range(2):  # the second run keeps both as they are
        code, out = await run_import(redis, settings, server)
        assert code == 3, out
        lines = out.splitlines()
        assert any("only-paging" in line and "*" in line and "none of the integrations its "
                   "filter names was imported" in line and "imported disabled" in line
                   for line in lines)  # fmt: skip
        assert any("mixed" in line and "*" in line and "integration 'paging (direct_paging)' "
                   "of its filter is not imported; dropped" in line for line in lines)  # fmt: skip
        ids = await oncall_ids.load(redis, "acme")
        lone = await webhook_store.get(redis, "acme", ids[only_paging["id"]])
        assert lone is not None and not lone.is_webhook_enabled
        assert not lone.fires_on(frozenset({"alert group created"}), ids[am["id"]])
        kept = await webhook_store.get(redis, "acme", ids[mixed["id"]])
        assert kept is not None and kept.is_webhook_enabled
        assert kept.integration_filter == [ids[am["id"]]]


async def test_escalation_webhooks_arrive_disabled_until_enabled_here(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    fake.integration("prod-am", "alertmanager")
    step = fake.webhook("page-vendor", "escalation", "https://hooks.example.com/step")
    server: TestServer = await aiohttp_server(fake.app())

    code, out = await run_import(redis, settings, server)

    assert code == 3, out
    assert any("page-vendor" in line and "create*" in line and "only from an escalation step"
               in line and "imported disabled" in line for line in out.splitlines())  # fmt: skip
    ids = await oncall_ids.load(redis, "acme")
    hook = await webhook_store.get(redis, "acme", ids[step["id"]])
    assert hook is not None and not hook.is_webhook_enabled
    code, out = await run_import(redis, settings, server)
    assert code == 3 and "outgoing webhooks: 1 unchanged" in out, out

    # enabled here on purpose: a later run keeps it enabled and has nothing left to report
    await webhook_store.save(redis, "acme", {"is_webhook_enabled": True}, hook.id)
    code, out = await run_import(redis, settings, server)
    assert code == 0, out
    hook = await webhook_store.get(redis, "acme", ids[step["id"]])
    assert hook is not None and hook.is_webhook_enabled


async def test_a_vendor_preset_is_noted(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    fake.webhook("plain", "resolve", "https://hooks.example.com/p", preset="simple_webhook")
    fake.webhook("vendor", "resolve", "https://vendor.example.com/v", preset="vendor_tickets")
    server: TestServer = await aiohttp_server(fake.app())

    code, out = await run_import(redis, settings, server)

    assert code == 3, out
    lines = out.splitlines()
    assert any(line.startswith("webhook") and "plain" in line and "create" in line
               and "*" not in line for line in lines)  # fmt: skip
    assert any("vendor" in line and "create*" in line and "preset 'vendor_tickets' may change "
               "its request" in line for line in lines)  # fmt: skip


async def test_a_webhook_written_but_not_remembered_is_taken_as_imported(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    """A run stopped between writing a webhook and remembering its OnCall id leaves a webhook
    no OnCall id names: the next run takes it as imported when it is exactly what it would
    write, and reports a name conflict for anything else of that name."""
    fake = FakeOnCall()
    am = fake.integration("prod-am", "alertmanager")
    hook = fake.webhook(
        "notify",
        "alert group created",
        "https://hooks.example.com/n",
        integration_filter=[am["id"]],
    )
    server: TestServer = await aiohttp_server(fake.app())
    assert (await run_import(redis, settings, server))[0] == 0
    ours = (await oncall_ids.load(redis, "acme"))[hook["id"]]
    await redis.hdel(keys.org_oncall_ids("acme"), hook["id"])  # type: ignore[misc]

    code, out = await run_import(redis, settings, server)
    assert code == 0, out
    assert "outgoing webhooks: 1 unchanged" in out
    assert (await oncall_ids.load(redis, "acme"))[hook["id"]] == ours
    assert [w.id for w in await webhook_store.list_all(redis, "acme")] == [ours]

    await redis.hdel(keys.org_oncall_ids("acme"), hook["id"])  # type: ignore[misc]
    await webhook_store.save(redis, "acme", {"url": "https://elsewhere.example.com/"}, ours)
    code, out = await run_import(redis, settings, server)
    assert code == 3, out
    assert f"webhook {ours} here already has this name" in out
