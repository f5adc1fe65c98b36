"""Limits, error kinds, truthiness, compile checks and the compile cache."""

from __future__ import annotations

import pytest

from templates_engine import (
    Limits,
    TemplateCompileError,
    check_template,
    get_engine,
    is_truthy,
    render_template,
)
from templates_engine.errors import classify


def test_check_template_accepts_valid() -> None:
    check_template("{{ payload.a|upper }}{% if labels.x %}x{% endif %}")


def test_check_template_syntax_error_has_line() -> None:
    with pytest.raises(TemplateCompileError) as info:
        check_template("ok\n{{ payload.a ")
    assert info.value.lineno == 2
    assert "end of print statement" in info.value.message


def test_check_template_unknown_filter() -> None:
    with pytest.raises(TemplateCompileError) as info:
        check_template("{{ payload|no_such_filter }}")
    assert "no_such_filter" in info.value.message


def test_check_template_length_limit_message_names_limit() -> None:
    with pytest.raises(TemplateCompileError) as info:
        check_template("x" * 50_001)
    assert info.value.message == "Template exceeds length limit (50001 > 50000)"
    check_template("x" * 20, Limits(template_length=20))
    with pytest.raises(TemplateCompileError):
        check_template("x" * 21, Limits(template_length=20))


def test_long_template_at_render_is_an_error() -> None:
    result = render_template("a" * 80_000, {})
    assert result.kind == "error"
    assert result.message == "Template Error: Template exceeds length limit (80000 > 50000)"


def test_output_is_cut_with_two_dots() -> None:
    result = render_template("{{ 'a' * 60000 }}", {})
    assert result.text == "a" * 50_000 + ".."
    small = render_template("{{ 'abcdef' }}", {}, Limits(output_length=3))
    assert small.text == "abc.."


def test_render_budget_stops_loops() -> None:
    limits = Limits(render_budget=0.05)
    source = "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}"
    result = render_template(source, {}, limits)
    assert result.kind == "error"
    assert result.message == "Template Error: render budget of 50 ms exceeded"


def test_value_size_cap() -> None:
    limits = Limits(max_value_size=1000)
    assert render_template("{{ 'a' * 1000 }}", {}, limits).ok
    result = render_template("{{ 'a' * 1001 }}", {}, limits)
    assert result.kind == "error"
    assert "too large (1001 > 1000)" in (result.message or "")


def test_integer_cap() -> None:
    assert render_template("{{ 2 ** 100 }}", {}).text == str(2**100)
    assert render_template("{{ 9 ** 999999 }}", {}).kind == "error"


def test_range_cap_configurable() -> None:
    assert render_template("{{ range(5)|length }}", {}, Limits(max_range=5)).text == "5"
    assert render_template("{{ range(6)|length }}", {}, Limits(max_range=5)).kind == "error"


def test_syntax_security_and_unknown_filter_are_errors() -> None:
    for source in ("{{ x ", "{{ payload.__class__ }}", "{{ 1|nope }}", "{{ ().__class__ }}"):
        assert render_template(source, {"payload": {}}).kind == "error", source


def test_missing_key_and_type_errors_are_warnings() -> None:
    for source in ("{{ payload.a.b }}", "{{ 'x' + 1 }}", "{{ payload.a.b.c }}"):
        result = render_template(source, {"payload": {}})
        assert result.kind == "warning", source
        assert (result.message or "").startswith("Template Warning: ")


def test_missing_key_renders_empty() -> None:
    assert render_template("{{ payload.nope }}", {"payload": {}}).text == ""


def test_classify_mapping() -> None:
    assert classify(KeyError("tz"))[0] == "warning"
    assert classify(ValueError("x"))[0] == "warning"
    assert classify(RuntimeError("x")) == ("error", "Template Error: x")


@pytest.mark.parametrize("value", [" 1 ", "TRUE", " ok ", "True", "Ok"])
def test_truthy(value: str) -> None:
    assert is_truthy(value)


@pytest.mark.parametrize("value", [" 0 ", None, 1, "yes", "false", "", "True!"])
def test_not_truthy(value: object) -> None:
    assert not is_truthy(value)


def test_trailing_newline_dropped_once() -> None:
    assert render_template("a\n", {}).text == "a"
    assert render_template("a\n\n", {}).text == "a\n"


def test_compile_cache_is_bounded_lru() -> None:
    engine = get_engine(Limits(cache_size=3))
    first = engine.compile("{{ 1 }}")
    assert engine.compile("{{ 1 }}") is first
    for i in range(2, 6):
        engine.compile(f"{{{{ {i} }}}}")
    assert len(engine._cache) == 3
    assert engine.compile("{{ 1 }}") is not first


def test_limits_validate() -> None:
    with pytest.raises(ValueError):
        Limits(render_budget=0)
    with pytest.raises(ValueError):
        Limits(output_length=0)


def test_evaluation_budget_bounds_many_hostile_templates() -> None:
    """Eight runaway dynamic labels hold the caller for about the evaluation budget, not 8x."""
    from templates_engine import Limits, evaluate_alert
    from tests.timing import Timed

    limits = Limits(render_budget=0.1, evaluation_budget=0.3)
    spin = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    with Timed() as timed:
        result = evaluate_alert(
            "webhook",
            None,
            {"a": 1},
            dynamic_labels=[(f"k{n}x", spin) for n in range(8)],
            limits=limits,
        )
    timed.assert_within(0.3 + 0.1 + 0.4)  # budget + one render + margin
    messages = [issue.message for issue in result.issues]
    assert sum("budget of this evaluation is spent" in m for m in messages) >= 4
    assert all(issue.kind == "error" for issue in result.issues)
    assert result.grouping_key is not None and "'a': 1" in result.grouping_key  # always rendered
