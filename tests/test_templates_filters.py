"""Filters of the template sandbox (OnCall-compatible) and their edge cases."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from templates_engine import RenderResult, render_template


def render(source: str, **context: Any) -> RenderResult:
    return render_template(source, context)


def text(source: str, **context: Any) -> str | None:
    return render(source, **context).text


def test_tojson_pretty_sorts_indents_and_keeps_unicode() -> None:
    out = text("{{ payload|tojson_pretty }}", payload={"b": 1, "a": "é"})
    assert out == '{\n    "a": "é",\n    "b": 1\n}'


def test_json_dumps_is_plain_json() -> None:
    assert text("{{ payload|json_dumps }}", payload={"a": [1, "<"]}) == '{"a": [1, "<"]}'


def test_parse_json_result_can_be_dereferenced() -> None:
    encoded = base64.b64encode(b'{"name": "db-1"}').decode()
    assert text("{{ (payload.m|b64decode|parse_json).name }}", payload={"m": encoded}) == "db-1"


def test_parse_json_and_b64decode_return_none_on_bad_input() -> None:
    assert text("{{ 'not json'|parse_json }}") == "None"
    assert text("{{ 'abc'|b64decode }}") == "None"
    assert text("{{ 'aGVsbG8='|b64decode }}") == "hello"


def test_regex_replace() -> None:
    assert text("{{ 'a-b-c'|regex_replace('-', '+') }}") == "a+b+c"
    assert text("{{ 'x1y22'|regex_replace('(\\\\d+)', '<\\\\1>') }}") == "x<1>y<22>"


def test_regex_match_is_anchored_and_search_is_not() -> None:
    assert text("{{ 'abc'|regex_match('b') }}") == "False"
    assert text("{{ 'abc'|regex_match('a') }}") == "True"
    assert text("{{ 'abc'|regex_search('b') }}") == "True"
    assert text("{{ 'abc'|regex_search('z') }}") == "False"


def test_regex_filters_on_non_string_give_none() -> None:
    assert text("{{ 5|regex_match('5') }}") == "None"
    assert text("{{ 5|regex_search('5') }}") == "None"


def test_invalid_regex_is_an_error() -> None:
    result = render("{{ 'abc'|regex_match('(') }}")
    assert result.kind == "error"
    assert result.message is not None and result.message.startswith("Template Error: ")


def test_datetimeformat_default_and_custom() -> None:
    when = dt.datetime(2024, 5, 6, 7, 8)
    assert text("{{ t|datetimeformat }}", t=when) == "07:08 / 06-05-2024"
    assert text("{{ t|datetimeformat('%Y') }}", t=when) == "2024"
    assert text("{{ 'x'|datetimeformat }}") == "None"


def test_datetimeformat_as_timezone() -> None:
    when = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)
    out = text("{{ t|datetimeformat_as_timezone('%H:%M', 'Europe/Paris') }}", t=when)
    assert out == "13:00"


def test_unknown_timezone_is_a_warning() -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    result = render("{{ t|datetimeformat_as_timezone('%H', 'Mars/Olympus') }}", t=when)
    assert result.kind == "warning"
    assert result.message is not None and result.message.startswith("Template Warning: ")


def test_datetimeparse() -> None:
    assert text("{{ ('12:30 / 01-02-2024'|datetimeparse).year }}") == "2024"
    assert text("{{ ('2024'|datetimeparse('%Y')).year }}") == "2024"
    assert text("{{ 'garbage'|datetimeparse }}") == "None"


def test_iso8601_to_time_aware_naive_and_malformed() -> None:
    assert text("{{ '2024-01-02T03:04:05Z'|iso8601_to_time }}") == "2024-01-02 03:04:05+00:00"
    assert text("{{ ('2024-01-02T03:04:05'|iso8601_to_time).tzinfo }}") == "None"
    assert text("{{ 'yesterday'|iso8601_to_time }}") == "None"


def test_timestamp_to_datetime_numbers_only() -> None:
    assert text("{{ (0|timestamp_to_datetime).__class__ }}") is None  # unsafe attribute
    assert text("{{ 86400|timestamp_to_datetime|datetimeformat('%Y') }}") == "1970"
    assert text("{{ '86400'|timestamp_to_datetime }}") == "None"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30s", "0:00:30"), ("5m", "0:05:00"), ("2h", "2:00:00"), ("1d", "1 day, 0:00:00")],
)
def test_timedeltaparse_units(value: str, expected: str) -> None:
    assert text("{{ v|timedeltaparse }}", v=value) == expected


@pytest.mark.parametrize("value", ["1M", "1Q", "1y", "5", "abc", "1x"])
def test_timedeltaparse_unsupported_gives_none(value: str) -> None:
    assert text("{{ v|timedeltaparse }}", v=value) == "None"


def test_timedeltaparse_supports_datetime_arithmetic() -> None:
    when = dt.datetime(2024, 1, 1, 0, 0)
    assert text("{{ (t + '1w'|timedeltaparse).day }}", t=when) == "8"
    assert text("{{ (t - '-1d'|timedeltaparse).day }}", t=when) == "2"


def test_time_global_is_aware_utc() -> None:
    assert text("{{ time().tzinfo }}") == "UTC"


def test_jinja_builtins_available() -> None:
    out = text(
        "{{ payload.l|sort|join(',') }} {{ payload.l|sum }} {{ 'ab'|upper }} "
        "{{ payload.d|dictsort|first|first }} {{ payload.l|map('string')|list|length }}",
        payload={"l": [3, 1, 2], "d": {"b": 1, "a": 2}},
    )
    assert out == "1,2,3 6 AB a 3"


def test_tojson_builtin_and_default_filter() -> None:
    assert text("{{ payload|tojson }}", payload={"a": "<b>"}) == '{"a": "\\u003cb\\u003e"}'
    assert text("{{ payload.missing|default('x') }}", payload={}) == "x"


def test_range_allowed_up_to_bound() -> None:
    assert text("{{ range(3)|list }}") == "[0, 1, 2]"
    assert render("{{ range(10**6)|list }}").kind == "error"
    assert text("{% if false %}{{ range(10**9) }}{% endif %}ok") == "ok"


def test_string_format_method_is_sandboxed_but_works() -> None:
    assert text("{{ '{}-{}'.format(1, 'a') }}") == "1-a"
    assert text("{{ '{a}'.format_map({'a': 2}) }}") == "2"
    assert text("{{ '%s=%d'|format('x', 3) }}") == "x=3"
