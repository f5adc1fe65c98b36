"""Size guards: every way a template can build a large value is checked *before* allocating.

Covered: the ``+ - * / // % **`` operators, ``~`` and block/macro output (``concat``),
``str.format``/``format_map`` (width specs and total size), ``"%s" % ...`` (widths and size), and
the size-changing methods of ``str``/``bytes``/``list`` (``join``, ``replace``, ``center``, ...).
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from jinja2.sandbox import SandboxedFormatter

from .errors import TemplateLimitError
from .limits import check_deadline, check_size, clock, current_limits, over_budget, render_state
from .readonly import thaw

__all__ = [
    "SafeMethod",
    "guarded_binop",
    "guarded_concat",
    "guarded_join",
    "guarded_percent",
    "str_size",
]

_SEQ = (str, bytes, list, tuple)
BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}
_PCT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)
_SPEC_NUM = re.compile(r"\d+")


def str_size(value: Any, memo: dict[int, int] | None = None) -> int:
    """Length of ``str(value)``, computed once per object when a memo is given."""
    if isinstance(value, str):
        return len(value)
    if memo is not None:
        key = id(value)
        size = memo.get(key)
        if size is None:
            size = memo[key] = len(str(value))
        return size
    return len(str(value))


def _check_int(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > current_limits().max_int_bits:
        raise TemplateLimitError(f"integer too large (over {current_limits().max_int_bits} bits)")


def _width(text: str | None) -> int:
    if not text:
        return 0
    if text == "*":
        raise TemplateLimitError("'*' width in a format string is not allowed")
    if len(text) > 9:
        raise TemplateLimitError("width in a format string is too large")
    width = int(text)
    check_size(width, "formatted value")
    return width


def guarded_percent(fmt: str, args: Any) -> str:
    """``fmt % args`` after checking widths and the largest possible result size."""
    padding = 0
    for match in _PCT.finditer(fmt):
        padding += _width(match.group(1)) + _width(match.group(2))
    memo: dict[int, int] = {}
    if isinstance(args, tuple):
        argsize = sum(str_size(a, memo) for a in args)
    elif isinstance(args, Mapping):
        argsize = sum(str_size(v, memo) for v in args.values())
    else:
        argsize = str_size(args, memo)
    count = fmt.count("%")
    if isinstance(args, Mapping):
        argsize = argsize * max(count, 1)
    check_size(len(fmt) + padding + argsize, "formatted string")
    result: str = fmt % args
    return result


def guarded_binop(op: str, left: Any, right: Any) -> Any:
    """Apply an intercepted binary operator with size and integer-size checks."""
    if clock() > render_state.deadline:  # inlined check_deadline()
        over_budget()
    if op == "*":
        if isinstance(left, _SEQ) and isinstance(right, int):
            check_size(len(left) * max(right, 0), "repeated value")
            return thaw(left) * right
        if isinstance(right, _SEQ) and isinstance(left, int):
            check_size(len(right) * max(left, 0), "repeated value")
            return left * thaw(right)
        if isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > current_limits().max_int_bits:
                raise TemplateLimitError("integer too large")
    elif op == "+":
        if isinstance(left, _SEQ) and isinstance(right, _SEQ):
            check_size(len(left) + len(right), "concatenated value")
            return thaw(left) + thaw(right)
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            bits = max(left.bit_length(), 1) * right
            if abs(left) > 1 and bits > current_limits().max_int_bits:
                raise TemplateLimitError("integer too large (power)")
    elif op == "%" and isinstance(left, str):
        return guarded_percent(left, right)
    result = BINOPS[op](left, right)
    _check_int(result)
    return result


def guarded_concat(parts: Iterable[Any]) -> str:
    """``"".join`` for template output buffers (blocks, macros, ``{% set %}`` blocks)."""
    items = parts if isinstance(parts, list) else list(parts)
    check_size(sum(map(len, items)), "template output")
    return "".join(items)


def guarded_join(sep: str, items: Iterable[Any]) -> str:
    """``sep.join(map(str, items))`` after checking the result size."""
    values = list(items)
    memo: dict[int, int] = {}
    total = sum(str_size(v, memo) for v in values) + len(sep) * max(len(values) - 1, 0)
    check_size(total, "joined string")
    return sep.join(v if isinstance(v, str) else str(v) for v in values)


class GuardedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing huge widths and huge total output."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self._total = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_deadline()
        for number in _SPEC_NUM.findall(format_spec):
            _width(number)
        text = super().format_field(value, format_spec)
        self._total += len(text)
        check_size(self._total, "formatted string")
        return text


def _sized_arg(args: Sequence[Any], kwargs: Mapping[str, Any], i: int, name: str) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name)


def _check_str_method(
    owner: str | bytes, name: str, args: Sequence[Any], kw: Mapping[str, Any]
) -> None:
    n = len(owner)
    if name == "join" and args:
        return
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _sized_arg(args, kw, 0, "width")
        if isinstance(width, int):
            check_size(width, "padded string")
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
            hits = n + 1 if not old else owner.count(old)  # type: ignore[arg-type]
            check_size(n + hits * len(new), "replaced string")
    elif name == "expandtabs":
        size = _sized_arg(args, kw, 0, "tabsize")
        if isinstance(size, int):
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            check_size(n + tabs * max(size, 0), "expanded string")
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((str_size(v) for v in args[0].values() if v is not None), default=1)
        check_size(n * longest, "translated string")


class SafeMethod:
    """A bound method handed to a template: bland ``repr`` and size checks before the call."""

    __slots__ = ("_fn", "_name", "_owner")

    def __init__(self, fn: Callable[..., Any], owner: Any, name: str) -> None:
        self._fn = fn
        self._owner = owner
        self._name = name

    def __repr__(self) -> str:
        return f"<method {self._name}>"

    __str__ = __repr__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        owner, name = self._owner, self._name
        if isinstance(owner, (str, bytes)):
            if name == "join" and args and isinstance(owner, str):
                return guarded_join(owner, args[0])
            _check_str_method(owner, name, args, kwargs)
        elif isinstance(owner, list) and name == "extend" and args:
            extra = args[0]
            extra_len = len(extra) if isinstance(extra, _SEQ) else 0
            check_size(len(owner) + extra_len, "list")
        return self._fn(*args, **kwargs)


def format_wrapper(env: Any, owner: str, is_map: bool) -> SafeMethod:
    """The sandboxed ``str.format`` / ``str.format_map`` of ``owner``."""

    def run(*args: Any, **kwargs: Any) -> str:
        formatter = GuardedFormatter(env)
        if is_map:
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            kwargs, args = args[0], ()
        check_size(len(owner), "format string")
        return str(formatter.vformat(owner, args, kwargs))

    return SafeMethod(run, string.Formatter, "format_map" if is_map else "format")
