"""Evaluation API: labels, grouping, signals, read-only payload, routing and channels."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from templates_engine import (
    InvalidRegex,
    RouteSpec,
    check_regex,
    evaluate_alert,
    render_channels,
    render_template,
    render_web_title,
    select_route,
)

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"
FIRING: dict[str, Any] = json.loads((FIXTURES / "firing.json").read_text())


def test_labels_static_dynamic_multi_later_wins_sorted() -> None:
    result = evaluate_alert(
        "alertmanager",
        None,
        FIRING,
        static_labels=[("team", "core"), ("severity", "low")],
        dynamic_labels=[("severity", "{{ payload.commonLabels.severity }}")],
        multi_label_template='{"zone": "eu", "count": 3, "flag": true}',
    )
    assert [(lb.key, lb.value, lb.source) for lb in result.labels] == [
        ("count", "3", "multi"),
        ("flag", "true", "multi"),
        ("severity", "critical", "dynamic"),
        ("team", "core", "static"),
        ("zone", "eu", "multi"),
    ]
    assert [(d.key, d.reason) for d in result.dropped_labels] == [("severity", "overridden")]


def test_dynamic_label_drop_reasons() -> None:
    result = evaluate_alert(
        "webhook",
        None,
        {"a": "x" * 201},
        dynamic_labels=[
            ("empty", "{{ payload.nope }}"),
            ("none", "{{ payload.nope or None }}"),
            ("long", "{{ payload.a }}"),
            ("failed", "{{ payload.nope.deeper }}"),
            ("ok", " spaced "),
        ],
    )
    reasons = {d.key: d.reason for d in result.dropped_labels}
    assert reasons == {"empty": "empty", "none": "none", "long": "too_long", "failed": "failed"}
    assert result.labels_dict == {"ok": " spaced "}
    assert [i.template for i in result.issues] == ["dynamic_labels.failed"]
    assert result.issues[0].kind == "warning"


def test_multi_label_drops() -> None:
    template = json.dumps({"": "x", "k" * 201: "v", "list": [1], "nul": None, "ok": "v"})
    result = evaluate_alert("webhook", None, {}, multi_label_template=template)
    reasons = sorted(d.reason for d in result.dropped_labels)
    assert reasons == ["invalid_key", "invalid_key", "not_scalar", "not_scalar"]
    assert result.labels_dict == {"ok": "v"}
    bad = evaluate_alert("webhook", None, {}, multi_label_template="[1, 2]")
    assert bad.labels == () and bad.issues[0].template == "multi_labels"


def test_label_cap_keeps_first_by_key() -> None:
    static = [(f"k{i:02d}", "v") for i in range(20)]
    result = evaluate_alert("webhook", None, {}, static_labels=static, max_labels=15)
    assert [lb.key for lb in result.labels] == [f"k{i:02d}" for i in range(15)]
    assert [d.reason for d in result.dropped_labels] == ["over_cap"] * 5


def test_grouping_key_sees_labels_and_md5_is_unstripped() -> None:
    result = evaluate_alert(
        "webhook",
        {"grouping_key": "{{ labels.team }} "},
        {},
        static_labels=[("team", "core")],
    )
    assert result.grouping_key == "core "
    assert result.grouping_id == hashlib.md5(b"core ").hexdigest()


def test_dynamic_labels_do_not_see_labels() -> None:
    result = evaluate_alert(
        "webhook", None, {}, static_labels=[("a", "1")], dynamic_labels=[("b", "{{ labels }}")]
    )
    assert [(d.key, d.reason) for d in result.dropped_labels] == [("b", "empty")]


def test_signals_and_texts() -> None:
    templates = {"resolve_signal": " {{ 'OK' }} ", "acknowledge_signal": "{{ payload.ack }}"}
    result = evaluate_alert("webhook", templates, {"ack": "1"})
    assert result.resolve_signal and result.resolve_text == " OK "
    assert result.acknowledge_signal and result.acknowledge_text == "1"
    failed = evaluate_alert("webhook", {"resolve_signal": "{{ payload.a.b }}"}, {})
    assert not failed.resolve_signal and failed.resolve_text is None


def test_template_mutating_a_copy_does_not_leak() -> None:
    payload = {"status": "firing", "labels": {"a": "1"}}
    templates = {
        "grouping_key": "{% set p = payload.copy() %}{{ p.pop('status') }}{{ p|length }}",
        "resolve_signal": "{{ payload.status == 'firing' }}",
    }
    result = evaluate_alert("webhook", templates, payload)
    assert result.grouping_key == "firing1"
    assert result.resolve_signal
    assert payload == {"status": "firing", "labels": {"a": "1"}}


def test_read_only_payload_prints_like_plain_json() -> None:
    payload = {"a": [1, {"b": "c"}], "d": None}
    assert render_template("{{ payload }}", {"payload": payload}).text == str(payload)
    assert render_template("{{ payload|tojson }}", {"payload": payload}).text == json.dumps(payload)
    assert render_template("{{ payload._id }}", {"payload": {"_id": 7}}).text == "7"


def test_trace_is_json_serialisable() -> None:
    result = evaluate_alert("alertmanager", None, FIRING, dynamic_labels=[("x", "{{ 1/0 }}")])
    data = orjson.loads(orjson.dumps(result.to_dict()))
    assert data["grouping_key"] == FIRING["groupKey"]
    assert data["issues"][0]["template"] == "dynamic_labels.x"
    assert data["issues"][0]["kind"] == "error"


ROUTES = [
    RouteSpec("R1", "regex", routing_regex='"severity": "warning"'),
    RouteSpec("R2", "jinja2", routing_regex="{{ payload.commonLabels.job == 'node' }}"),
    RouteSpec("R3", "labels", labels=(("team", "core"),)),
    RouteSpec("R0", "regex", is_default=True),
]


def test_route_regex_over_python_json_dumps() -> None:
    routes = [RouteSpec("R1", "regex", routing_regex='"severity": "critical"'), ROUTES[-1]]
    decision = select_route(routes, FIRING, {})
    assert decision.route_id == "R1"
    ascii_only = [RouteSpec("R1", "regex", routing_regex="é"), ROUTES[-1]]
    assert select_route(ascii_only, {"m": "é"}, {}).route_id == "R0"
    escaped = [RouteSpec("R1", "regex", routing_regex=r"\\u00e9"), ROUTES[-1]]
    assert select_route(escaped, {"m": "é"}, {}).route_id == "R1"


def test_route_order_jinja_then_labels_then_default() -> None:
    decision = select_route(ROUTES, FIRING, {"team": "core"})
    assert decision.route_id == "R2"
    assert [t.matched for t in decision.tried] == [False, True]
    other = {**FIRING, "commonLabels": {"job": "db"}}
    assert select_route(ROUTES, other, {"team": "core"}).route_id == "R3"
    last = select_route(ROUTES, other, {"team": "edge"})
    assert last.route_id == "R0"
    assert last.tried[-1].reason == "default route"
    assert len(last.to_dict()["tried"]) == 4


def test_default_route_is_last_even_if_listed_first() -> None:
    routes = [ROUTES[-1], RouteSpec("R9", "regex", routing_regex="HighCPU")]
    assert select_route(routes, FIRING, {}).route_id == "R9"


def test_label_route_edge_cases() -> None:
    empty = [RouteSpec("R1", "labels", labels=()), ROUTES[-1]]
    assert select_route(empty, {}, {"a": "b"}).route_id == "R0"
    no_labels = [RouteSpec("R1", "labels", labels=(("a", "b"),)), ROUTES[-1]]
    assert select_route(no_labels, {}, None).route_id == "R0"


def test_route_errors_mean_no_match() -> None:
    routes = [
        RouteSpec("R1", "regex", routing_regex="("),
        RouteSpec("R2", "jinja2", routing_regex="{{ payload.a.b }}"),
        RouteSpec("R3", "regex", routing_regex=None),
        ROUTES[-1],
    ]
    decision = select_route(routes, {}, {})
    assert decision.route_id == "R0"
    assert decision.tried[0].error is not None
    assert (decision.tried[1].error or "").startswith("Template Warning")


def test_no_route_at_all() -> None:
    assert select_route([], {}, {}).route_id is None


def test_check_regex() -> None:
    check_regex("a+b")
    with pytest.raises(InvalidRegex) as info:
        check_regex("(unclosed")
    assert "Invalid regex" in info.value.message


def test_render_channels_context_and_errors() -> None:
    templates = {
        "source_link": "{{ payload.url }}",
        "web": {"title": "T {{ payload.n }}", "message": "{{ payload.a.b }}", "image_url": None},
        "slack": {"title": "{{ web_title }}|{{ integration_name }}|{{ grafana_oncall_link }}"},
        "sms": {"title": "{{ grafana_oncall_incident_id }} {{ source_link }}"},
        "telegram": {"message": "{{ web_message }}", "image_url": "{{ None }}"},
    }
    out = render_channels(
        "webhook",
        templates,
        {"n": 5, "url": "http://src"},
        integration_name="Hook",
        alert_group_id="42",
        alert_group_link="http://g/42",
    )
    assert out.source_link == "http://src"
    assert out.channels["web"].title == "T 5"
    assert (out.channels["web"].message or "").startswith("Template Warning: ")
    assert out.channels["slack"].title == "T 5|Hook|http://g/42"
    assert out.channels["sms"].title == "42 http://src"
    assert out.channels["telegram"].image_url is None
    assert [i.template for i in out.issues] == ["web.message"]
    assert set(out.to_dict()["channels"]) == {
        "web",
        "slack",
        "sms",
        "phone_call",
        "telegram",
        "mobile_app",
        "email",
        "webhook",
        "msteams",
    }


def test_render_channels_title_cut_at_500() -> None:
    out = render_channels("webhook", {"web": {"title": "{{ 'x' * 900 }}"}}, {}, channels=["web"])
    assert out.channels["web"].title == "x" * 500 + ".."
    assert list(out.channels) == ["web"]


def test_render_channels_reuses_a_web_title_rendered_before() -> None:
    """``render_web_title`` then ``render_channels(web=...)`` gives what one ``render_channels``
    gives with the same arguments, without rendering the web title or the source link again."""
    templates = {
        "source_link": "{{ payload.url }}",
        "web": {"title": "{{ labels.team }} {{ source_link }} {{ payload.nope.x }}"},
        "slack": {"title": "{{ web_title }}!"},
    }
    args: dict[str, Any] = {
        "labels": {"team": "sre"},
        "integration_name": "Hook",
        "alert_group_id": "I1",
        "alert_group_link": "http://g/I1",
    }
    payload = {"url": "http://src"}
    web = render_web_title("webhook", templates, payload, **args)
    assert web.alert_group_id == "I1" and (web.title or "").startswith("Template Warning: ")
    whole = render_channels("webhook", templates, payload, channels=["web", "slack"], **args)
    reused = render_channels(
        "webhook", templates, payload, channels=["web", "slack"], web=web, **args
    )
    assert reused == whole
    changed = {**templates, "web": {"title": "never rendered"}, "source_link": "nor this"}
    kept = render_channels("webhook", changed, payload, channels=["web"], web=web, **args)
    assert kept.channels["web"].title == web.title and kept.source_link == "http://src"


def test_a_web_title_that_cannot_see_the_group_is_carried_to_the_group_joined() -> None:
    """Drawn for a group the alert did not open, the web title is carried over to the group it
    joined when neither it nor the source link reads the group's id or link: the result is what
    rendering everything for that group gives, the other channels seeing the real group."""
    templates = {
        "source_link": "{{ payload.url }}",
        "web": {"title": "{{ labels.team }} {{ source_link }}"},
        "slack": {"title": "{{ web_title }} in {{ grafana_oncall_alert_group_id }}"},
        "telegram": {"title": "{{ grafana_oncall_link }} {{ grafana_oncall_incident_id }}"},
    }
    payload = {"url": "http://src"}
    drawn: dict[str, Any] = {"alert_group_id": "INEW", "alert_group_link": "http://g/INEW"}
    joined: dict[str, Any] = {"alert_group_id": "IOLD", "alert_group_link": "http://g/IOLD"}
    common: dict[str, Any] = {"labels": {"team": "sre"}, "integration_name": "Hook"}
    web = render_web_title("webhook", templates, payload, **common, **drawn)
    carried = web.for_group("IOLD", "http://g/IOLD")
    assert carried is not None and carried.alert_group_id == "IOLD"
    assert web.for_group("INEW", "http://g/INEW") is web
    channels = ["web", "slack", "telegram"]
    whole = render_channels("webhook", templates, payload, channels=channels, **common, **joined)
    reused = render_channels(
        "webhook", templates, payload, channels=channels, web=carried, **common, **joined
    )
    assert reused == whole
    assert whole.channels["slack"].title == "sre http://src in IOLD"
    assert whole.channels["telegram"].title == "http://g/IOLD IOLD"


@pytest.mark.parametrize(
    "templates",
    [
        {"web": {"title": "#{{ grafana_oncall_alert_group_id }}"}},
        {"web": {"title": "{% if grafana_oncall_incident_id %}x{% endif %}"}},
        {"web": {"title": "{{ source_link }}"}, "source_link": "{{ grafana_oncall_link }}"},
        {"web": {"title": "{% set x = grafana_oncall_link %}{{ x }}"}},
        {"web": {"title": "{{ broken"}},
    ],
)
def test_a_web_title_that_may_see_the_group_is_rendered_again(templates: dict[str, Any]) -> None:
    web = render_web_title("webhook", templates, {}, alert_group_id="INEW")
    assert web.for_group("IOLD", "http://g/IOLD") is None
