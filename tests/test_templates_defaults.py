"""Per-type defaults: grouping keys and signals exactly as OnCall's per-type defaults."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.models import INTEGRATION_TYPES
from templates_engine import (
    CHANNEL_FIELDS,
    TEMPLATE_TYPES,
    check_template,
    default_templates,
    evaluate_alert,
    render_channels,
)

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_every_type_has_defaults_that_compile() -> None:
    assert set(TEMPLATE_TYPES) == set(INTEGRATION_TYPES)  # one list: ingest.models
    for kind in INTEGRATION_TYPES:
        defaults = default_templates(kind)
        for name in ("grouping_key", "resolve_signal", "acknowledge_signal", "source_link"):
            value = defaults[name]
            if value is not None:
                assert isinstance(value, str)
                check_template(value)
        for channel, fields in CHANNEL_FIELDS.items():
            block = defaults[channel]
            assert isinstance(block, dict)
            assert set(block) == set(fields)
            for value in block.values():
                if value is not None:
                    check_template(value)
        # only the dialects whose events carry an acknowledge have a default for it
        has_ack = kind in ("pagerduty", "opsgenie")
        assert (defaults["acknowledge_signal"] is not None) == has_ack


@pytest.mark.parametrize("kind", ["alertmanager", "grafana_alerting"])
def test_alertmanager_firing_groups_by_group_key(kind: str) -> None:
    payload = load("firing.json")
    result = evaluate_alert(kind, None, payload)
    assert result.grouping_key == payload["groupKey"]
    assert result.grouping_id == hashlib.md5(payload["groupKey"].encode()).hexdigest()
    assert not result.resolve_signal
    assert not result.acknowledge_signal
    assert result.source_link == payload["alerts"][0]["generatorURL"]
    assert result.issues == ()


@pytest.mark.parametrize("kind", ["alertmanager", "grafana_alerting"])
def test_alertmanager_resolved_is_resolve_signal(kind: str) -> None:
    payload = load("resolved.json")
    result = evaluate_alert(kind, None, payload)
    assert result.resolve_signal
    assert result.grouping_key == payload["groupKey"]


def test_alertmanager_without_group_key_gets_own_group() -> None:
    result = evaluate_alert("alertmanager", None, {"status": "firing"}, alert_id="A1")
    assert result.grouping_key == ""
    assert result.own_group
    again = evaluate_alert("alertmanager", None, {"status": "firing"}, alert_id="A1")
    assert again.grouping_id == result.grouping_id


def test_alertmanager_channels_readable() -> None:
    payload = load("firing.json")
    out = render_channels("alertmanager", None, payload, integration_name="AM")
    assert out.issues == ()
    web = out.channels["web"]
    assert web.title == "HighCPU"
    assert web.message is not None and "CPU above 90% on web-1" in web.message
    assert out.channels["sms"].title == "HighCPU"
    slack = out.channels["slack"]
    assert slack.title is not None and "HighCPU" in slack.title and "via AM" in slack.title


GRAFANA_ALERT = {
    "labels": {"alertname": "KubeJobCompletion", "region": "eu-1"},
    "annotations": {"description": "job did not complete"},
    "status": "firing",
    "generatorURL": "http://grafana/alerting/1",
}


def test_grafana_legacy_defaults() -> None:
    result = evaluate_alert("grafana", None, GRAFANA_ALERT)
    assert result.grouping_key == "KubeJobCompletion"
    assert result.grouping_id == hashlib.md5(b"KubeJobCompletion").hexdigest()
    assert not result.resolve_signal
    assert result.source_link == "http://grafana/alerting/1"
    assert evaluate_alert("grafana", None, {**GRAFANA_ALERT, "status": "resolved"}).resolve_signal
    old = {"ruleName": "CPU", "state": "ok", "ruleUrl": "http://g/r"}
    old_result = evaluate_alert("grafana", None, old)
    assert old_result.grouping_key == "CPU"
    assert old_result.resolve_signal
    assert old_result.source_link == "http://g/r"
    empty = evaluate_alert("grafana", None, {})
    assert empty.grouping_key == "No title (check Web Title Template)"


def test_webhook_groups_by_whole_payload_repr() -> None:
    payload = {"id": 1, "state": "alerting"}
    result = evaluate_alert("webhook", None, payload)
    assert result.grouping_key == "\n{'id': 1, 'state': 'alerting'}\n"
    assert not result.resolve_signal
    ok = evaluate_alert("webhook", None, {"id": 1, "state": "ok"})
    assert ok.resolve_signal
    assert ok.grouping_id != result.grouping_id
    heartbeat = evaluate_alert("webhook", None, {"is_oncall_heartbeat": True, "alert_uid": "h1"})
    assert heartbeat.grouping_key == "\nh1\n"
    assert evaluate_alert("webhook", None, {"url": "http://x"}).source_link == "http://x"


def test_webhook_list_payload_key_is_its_repr() -> None:
    result = evaluate_alert("webhook", None, [1, 2])
    assert result.grouping_key == "\n[1, 2]\n"
    assert not result.resolve_signal


@pytest.mark.parametrize("kind", ["formatted_webhook", "zabbix", "elastalert"])
def test_alert_uid_types(kind: str) -> None:
    payload = {
        "alert_uid": "a",
        "title": "Disk full",
        "state": "alerting",
        "message": "90%",
        "image_url": "http://img",
        "link_to_upstream_details": "http://up",
    }
    firing = evaluate_alert(kind, None, payload)
    assert firing.grouping_key == "a"
    assert not firing.resolve_signal
    assert evaluate_alert(kind, None, {**payload, "state": "OK"}).resolve_signal
    assert evaluate_alert(kind, None, {**payload, "state": "ok"}).resolve_signal
    no_uid = evaluate_alert(kind, None, {"state": "alerting"})
    assert no_uid.grouping_key == "" and no_uid.own_group
    if kind == "elastalert":
        assert firing.source_link is None
    else:
        assert firing.source_link == "http://up"
        web = render_channels(kind, None, payload).channels["web"]
        assert web.title == "Disk full"
        assert web.image_url == "http://img"


@pytest.mark.parametrize("kind", ["formatted_webhook", "zabbix", "elastalert", "kapacitor"])
def test_non_object_payload_key_errors_means_own_group(kind: str) -> None:
    result = evaluate_alert(kind, None, [1, 2])
    assert result.grouping_key is None and result.own_group
    assert not result.resolve_signal
    assert any(i.template == "grouping_key" and i.kind == "warning" for i in result.issues)


def test_kapacitor_defaults() -> None:
    payload = {"id": "TestAlert", "message": "m", "data": "{foo: bar}", "level": "CRITICAL"}
    result = evaluate_alert("kapacitor", None, payload)
    assert result.grouping_key == "TestAlert"
    assert not result.resolve_signal
    assert evaluate_alert("kapacitor", None, {**payload, "level": "OK"}).resolve_signal
    assert result.source_link is None
    web = render_channels("kapacitor", None, payload).channels["web"]
    assert web.title == "TestAlert"
    assert web.message is not None and '"id": "TestAlert"' in web.message


def test_manual_defaults() -> None:
    payload = {
        "oncall": {
            "title": "Help",
            "message": "DB down",
            "permalink": "http://slack/1",
            "author_username": "ann",
        }
    }
    result = evaluate_alert("manual", None, payload)
    assert result.grouping_key == str(payload)
    assert not result.resolve_signal and result.resolve_text is None
    assert result.source_link == "http://slack/1"
    web = render_channels("manual", None, payload).channels["web"]
    assert web.title == "Help"
    assert web.message is not None and "DB down" in web.message and "ann" in web.message


def test_custom_template_overrides_default_and_empty_falls_back() -> None:
    payload = load("firing.json")
    custom = evaluate_alert("alertmanager", {"grouping_key": "{{ payload.receiver }}"}, payload)
    assert custom.grouping_key == "hook"
    empty = evaluate_alert("alertmanager", {"grouping_key": ""}, payload)
    assert empty.grouping_key == payload["groupKey"]
