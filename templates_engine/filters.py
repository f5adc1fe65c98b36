"""Filters and globals of the sandbox.

OnCall-compatible filters: ``tojson_pretty``, ``json_dumps``, ``parse_json``,
``b64decode``, ``regex_replace``, ``regex_match``, ``regex_search``, ``datetimeformat``,
``datetimeformat_as_timezone``, ``datetimeparse``, ``iso8601_to_time``, ``timestamp_to_datetime``,
``timedeltaparse``. On an internal error each returns ``None`` (rendered ``None``), except that an
invalid regex is an error, an unknown time zone a warning, and a regex over its time limit an error
(Grafana OnCall returns ``None`` there; we report it).

Built-in filters that can build large values (``join``, ``sum``, ``center``, ``indent``,
``wordwrap``, ``replace``, ``format``, ``batch``, ``slice``) are replaced by size-checked versions.
Globals: ``time()`` (aware UTC now), a bounded ``range``, a bounded ``lipsum``, and ``cycler``,
``joiner``, ``namespace``, ``dict`` behind bland wrappers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import regex
from jinja2 import filters as jf
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.utils import (
    Cycler,
    Joiner,
    Namespace,
    generate_lorem_ipsum,
    pass_environment,
    pass_eval_context,
)

from .errors import TemplateLimitError
from .guards import SafeMethod, guarded_join, guarded_percent
from .limits import check_deadline, check_size, current_limits, remaining_budget
from .readonly import thaw

__all__ = ["ONCALL_FILTERS", "SAFE_BUILTIN_FILTERS", "compile_regex", "make_globals"]

_DEFAULT_DT_FORMAT = "%H:%M / %d-%m-%Y"
_TIMEDELTA = re.compile(r"^([-+]?\d+)([smhdwMQy])$")
_TIMEDELTA_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# --- OnCall filters -------------------------------------------------------------------------


def tojson_pretty(value: Any) -> str | None:
    try:
        return json.dumps(
            value, sort_keys=True, indent=4, separators=(",", ": "), ensure_ascii=False
        )
    except (TypeError, ValueError, RecursionError):
        return None


def json_dumps(value: Any) -> str | None:
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None


def parse_json(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError, RecursionError):
        return None


def b64decode(value: Any) -> str | None:
    try:
        return base64.b64decode(value).decode("utf-8")
    except (TypeError, ValueError, binascii.Error):
        return None


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Any:
    """Compile a pattern with the ``regex`` package (raises ``regex.error`` when invalid)."""
    return regex.compile(pattern)


def _regex_timeout() -> float:
    return max(min(current_limits().regex_timeout, remaining_budget()), 0.001)


def _regex_call(run: Callable[[], Any]) -> Any:
    check_deadline()
    try:
        return run()
    except TimeoutError:
        raise TemplateLimitError("regex took too long (time limit reached)") from None


def regex_replace(value: Any, find: str, replace: str) -> str | None:
    if not isinstance(value, str) or not isinstance(replace, str):
        return None
    pattern = compile_regex(find)
    # matches do not overlap: every group reference adds at most len(value) in total
    refs = replace.count("\\")
    n = len(value)
    check_size(n + (n + 1) * len(replace) + refs * n, "regex_replace result")
    result: str = _regex_call(lambda: pattern.sub(replace, value, timeout=_regex_timeout()))
    return result


def regex_match(value: Any, pattern: str) -> bool | None:
    if not isinstance(value, str):
        return None
    compiled = compile_regex(pattern)
    return bool(_regex_call(lambda: compiled.match(value, timeout=_regex_timeout())))


def regex_search(value: Any, pattern: str) -> bool | None:
    if not isinstance(value, str):
        return None
    compiled = compile_regex(pattern)
    return bool(_regex_call(lambda: compiled.search(value, timeout=_regex_timeout())))


def datetimeformat(value: Any, format: str = _DEFAULT_DT_FORMAT) -> str | None:
    try:
        return str(value.strftime(format))
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def datetimeformat_as_timezone(
    value: Any,
    format: str = _DEFAULT_DT_FORMAT,
    tz: str = "UTC",
) -> str | None:
    try:
        zone = ZoneInfo(tz)
    except (ValueError, TypeError) as exc:  # malformed key: same kind as unknown (a warning)
        raise KeyError(tz) from exc
    try:
        return str(value.astimezone(zone).strftime(format))
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def datetimeparse(value: Any, format: str = _DEFAULT_DT_FORMAT) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, format)
    except (TypeError, ValueError):
        return None


def iso8601_to_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def timestamp_to_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return dt.datetime.fromtimestamp(value)
    except (OverflowError, OSError, ValueError):
        return None


def timedeltaparse(value: Any) -> dt.timedelta | None:
    if not isinstance(value, str):
        return None
    match = _TIMEDELTA.match(value)
    if match is None or match.group(2) not in _TIMEDELTA_UNITS:
        return None
    try:
        return dt.timedelta(**{_TIMEDELTA_UNITS[match.group(2)]: int(match.group(1))})
    except (OverflowError, ValueError):
        return None


ONCALL_FILTERS: dict[str, Callable[..., Any]] = {
    "tojson_pretty": tojson_pretty,
    "json_dumps": json_dumps,
    "parse_json": parse_json,
    "b64decode": b64decode,
    "regex_replace": regex_replace,
    "regex_match": regex_match,
    "regex_search": regex_search,
    "datetimeformat": datetimeformat,
    "datetimeformat_as_timezone": datetimeformat_as_timezone,
    "datetimeparse": datetimeparse,
    "iso8601_to_time": iso8601_to_time,
    "timestamp_to_datetime": timestamp_to_datetime,
    "timedeltaparse": timedeltaparse,
}


# --- size-checked built-ins -------------------------------------------------------------------


@pass_environment
def safe_join(env: Any, value: Iterable[Any], d: Any = "", attribute: Any = None) -> str:
    items = list(value)
    if attribute is not None:
        getter = make_attrgetter(env, attribute)
        items = [getter(x) for x in items]
    return guarded_join(str(d), items)


@pass_environment
def safe_sum(env: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    items = list(iterable)
    if attribute is not None:
        getter = make_attrgetter(env, attribute)
        items = [getter(x) for x in items]
    if isinstance(start, (str, list, tuple)) or any(isinstance(x, (list, tuple)) for x in items):
        check_size(sum(len(x) for x in [start, *items] if isinstance(x, (list, tuple, str))), "sum")
        items = [thaw(x) for x in items]
        start = thaw(start)
    return sum(items, start)


def safe_center(value: Any, width: int = 80) -> str:
    if isinstance(width, int):
        check_size(width, "centered string")
    return jf.do_center(value, width)


def safe_indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    unit = width if isinstance(width, int) and not isinstance(width, bool) else len(str(width))
    check_size(len(text) + (text.count("\n") + 1) * max(int(unit), 0), "indented string")
    return jf.do_indent(text, width, first, blank)


@pass_environment
def safe_wordwrap(
    env: Any,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(s)
    sep = len(wrapstring) if isinstance(wrapstring, str) else len(env.newline_sequence)
    lines = text.count(" ") + text.count("\n") + len(text) // max(int(width), 1) + 1
    check_size(len(text) + lines * sep, "wrapped string")
    return jf.do_wordwrap(env, text, width, break_long_words, wrapstring, break_on_hyphens)


@pass_eval_context
def safe_replace(
    eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None
) -> str:
    text, old_s, new_s = str(s), str(old), str(new)
    hits = len(text) + 1 if not old_s else text.count(old_s)
    if count is not None and count >= 0:
        hits = min(hits, count)
    check_size(len(text) + hits * len(new_s), "replaced string")
    return jf.do_replace(eval_ctx, text, old_s, new_s, count)


def safe_format(value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise TypeError("can't handle positional and keyword arguments at the same time")
    return guarded_percent(str(value), kwargs or args)


def safe_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    check_size(int(linecount), "batch")
    return jf.do_batch(value, linecount, fill_with)


@pass_environment
def safe_slice(env: Any, value: Any, slices: int, fill_with: Any = None) -> Any:
    check_size(int(slices), "slice")
    return jf.sync_do_slice(value, slices, fill_with)


SAFE_BUILTIN_FILTERS: dict[str, Callable[..., Any]] = {
    "join": safe_join,
    "sum": safe_sum,
    "center": safe_center,
    "indent": safe_indent,
    "wordwrap": safe_wordwrap,
    "replace": safe_replace,
    "format": safe_format,
    "batch": safe_batch,
    "slice": safe_slice,
}


# --- globals ----------------------------------------------------------------------------------


class _Cycler(Cycler):
    def __repr__(self) -> str:
        return "<cycler>"


class _Joiner(Joiner):
    def __repr__(self) -> str:
        return "<joiner>"


def _range(*args: int) -> range:
    check_deadline()
    result = range(*args)
    limit = current_limits().max_range
    if len(result) > limit:
        raise TemplateLimitError(f"range too large ({len(result)} > {limit})")
    return result


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if not (0 <= n <= 20 and 0 < min <= max <= 200):
        raise TemplateLimitError("lipsum arguments out of range (n <= 20, max <= 200)")
    return str(generate_lorem_ipsum(n, html, min, max))


def _time() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_globals() -> dict[str, Any]:
    """The template globals (each wrapped so printing it shows no internals)."""
    return {
        "range": SafeMethod(_range, None, "range"),
        "lipsum": SafeMethod(_lipsum, None, "lipsum"),
        "cycler": SafeMethod(_Cycler, None, "cycler"),
        "joiner": SafeMethod(_Joiner, None, "joiner"),
        "namespace": SafeMethod(Namespace, None, "namespace"),
        "dict": SafeMethod(dict, None, "dict"),
        "time": SafeMethod(_time, None, "time"),
    }
