"""Hostile templates: each ends within budget, is an error, shows no internals, and the process
stays healthy (a normal render works right after).

"Within budget" is measured by ``tests.timing.Timed``: CPU time of the rendering thread.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from templates_engine import (
    DEFAULT_LIMITS,
    RouteSpec,
    evaluate_alert,
    render_template,
    select_route,
)
from tests.timing import Timed

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"
FIRING: dict[str, Any] = json.loads((FIXTURES / "firing.json").read_text())
MARGIN = 0.4
BUDGET = DEFAULT_LIMITS.render_budget
INTERNALS = (" at 0x", "<class", "<function", "jinja2.", "templates_engine", "builtins", "<module")


def hostile_payload() -> dict[str, Any]:
    payload = copy.deepcopy(FIRING)
    payload["l"] = list(range(5000))
    payload["big"] = "a" * 1000
    payload["words"] = ["x" * 1000] * 5000
    payload["ll"] = [[{"k": 1}], [{"k": 2}]]
    return payload


HOSTILE = [
    "{{ payload.__class__ }}",
    "{{ payload.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.mro() }}",
    "{{ ''['__class__'] }}",
    "{{ payload.items.__self__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler(1, 2).next.__func__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{% set ns = namespace(a=1) %}{{ ns.__attrs }}",
    "{{ self.__dict__ }}",
    "{{ self._TemplateReference__context }}",
    "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
    "{{ time.__globals__ }}",
    "{{ dict.__base__ }}",
    "{{ payload|attr('__class__') }}",
    "{{ payload.alerts|map(attribute='__class__')|list }}",
    "{{ '{0.__class__}'.format(payload) }}",
    "{{ '{p.__class__.__base__}'.format_map({'p': payload}) }}",
    "{{ '{:999999999}'.format(1) }}",
    "{{ '{0:{1}}'.format(1, 10**9) }}",
    "{{ 'a' * 10**9 }}",
    "{{ [1] * 10**9 }}",
    "{{ (1, 2) * 10**9 }}",
    "{{ 9 ** 9 ** 99999 }}",
    "{{ 10 ** 10 ** 10 ** 10 ** 10 }}",
    "{{ '%999999999s' % 1 }}",
    "{{ '%s' * 100000 % ((payload.big,) * 100000) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ payload.big|indent(10**8) }}",
    "{{ payload.big|replace('', 'x' * 10000) }}",
    "{{ payload.words|join(payload.big) }}",
    "{{ 'a'.join(payload.words) }}",
    "{{ payload.l|batch(10**9, 'x')|list }}",
    "{{ lipsum(10**6) }}",
    "{{ range(10**9)|list }}",
    "{% set ns = namespace(s='a') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(s='a') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set l = [1] %}{% for i in range(80) %}{% set _ = l.extend(l) %}{% endfor %}{{ l|length }}",
    "{% set x %}{% for i in range(9999) %}{{ payload.big }}{% endfor %}{% endset %}{{ x|length }}",
    "{% for a in payload.l %}{% for b in payload.l %}{% set c = a %}{% endfor %}{% endfor %}",
    "{% for a in payload.l %}{% for b in payload.l %}{% if a == b %}{% endif %}{% endfor %}"
    "{% endfor %}",
    "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(1) }}",
    "{% macro m(n) %}{% for i in range(30) %}{{ m(n + 1) if n < 30 else '' }}{% endfor %}"
    "{% endmacro %}{{ m(0) }}",
    "{% for x in payload.l recursive %}{{ loop(payload.l) }}{% endfor %}",
    "{{ ('a' * 40 + '!')|regex_match('(a|aa)+$') }}",
    "{{ ('a' * 40 + '!')|regex_search('(a|aa)+$') }}",
    "{{ ('a' * 40 + '!')|regex_replace('(a|aa)+$', 'b') }}",
    "{{ payload.alerts.append(1) }}",
    "{% set _ = payload.update({'status': 'resolved'}) %}",
    "{{ payload.pop('status') }}",
    "{{ payload.alerts[0].labels.clear() }}",
    "{{ (payload.alerts|first).labels.update({'x': 1}) }}",
    "{{ (payload.alerts|reverse|first).labels.pop('job') }}",
    "{{ dict(payload).alerts.append(1) }}",
    "{{ payload.copy().alerts[0].labels.clear() }}",
    "{{ (payload.alerts + [])[0].labels.clear() }}",
    "{{ ([] + payload.alerts)[0].labels.clear() }}",
    "{{ (payload.alerts|list)[0].labels.setdefault('x', 1) }}",
    "{{ (payload.alerts * 2)[0].labels.clear() }}",
    "{{ (payload.ll|sum(start=[]))[0].clear() }}",
]


def assert_healthy() -> None:
    result = render_template("{{ payload.groupKey }}", {"payload": FIRING})
    assert result.text == FIRING["groupKey"]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_template_is_contained(source: str) -> None:
    payload = hostile_payload()
    before = copy.deepcopy(payload)
    with Timed() as timed:
        result = render_template(source, {"payload": payload})
    timed.assert_within(BUDGET + MARGIN)
    assert result.kind == "error", result
    assert result.text is None
    message = result.message or ""
    assert message.startswith("Template Error: ")
    for marker in INTERNALS:
        assert marker not in message, message
    assert payload == before, "payload was mutated"
    assert_healthy()


def test_battery_is_large_enough() -> None:
    assert len(HOSTILE) >= 25


def test_deeply_nested_payload() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20_000):
        node["a"] = {}
        node = node["a"]
    for source in ("{{ payload }}", "{{ payload|tojson }}", "{{ payload|tojson_pretty }}"):
        with Timed() as timed:
            result = render_template(source, {"payload": deep})
        timed.assert_within(BUDGET + MARGIN)
        assert result.text is None or len(result.text) <= DEFAULT_LIMITS.output_length + 2
        assert result.kind in (None, "error")
    assert_healthy()


def test_generators_and_methods_print_without_internals() -> None:
    payload = hostile_payload()
    for source in (
        "{{ payload.items }}",
        "{{ lipsum }}{{ cycler(1) }}{{ joiner() }}{{ range }}{{ dict }}",
        "{{ (payload.alerts|map('string'))|string }}",
        "{{ payload.alerts|map('string') }}",
    ):
        result = render_template(source, {"payload": payload})
        shown = result.text if result.text is not None else result.message or ""
        for marker in INTERNALS:
            assert marker not in shown, (source, shown)


def test_catastrophic_regex_route_times_out_and_default_wins() -> None:
    payload = {"message": "a" * 40 + "!"}
    routes = [
        RouteSpec("R1", "regex", routing_regex="(a|aa)+!x"),
        RouteSpec("R0", is_default=True),
    ]
    with Timed() as timed:
        decision = select_route(routes, payload, {})
    timed.assert_within(DEFAULT_LIMITS.route_regex_timeout + MARGIN)
    assert decision.route_id == "R0"
    assert decision.tried[0].error is not None and "ms" in decision.tried[0].error


def test_hostile_dynamic_label_and_grouping_key_still_evaluate() -> None:
    result = evaluate_alert(
        "alertmanager",
        {"grouping_key": "{{ 'a' * 10**9 }}"},
        FIRING,
        dynamic_labels=[
            ("x", "{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}{% endfor %}")
        ],
    )
    assert result.own_group
    assert {i.template for i in result.issues} == {"grouping_key", "dynamic_labels.x"}
    assert all(i.kind == "error" for i in result.issues)
    assert result.dropped_labels[0].reason == "failed"
