"""The sandboxed Jinja2 environment, its compile cache and the single-template render.

``TemplateEngine(limits)`` owns one :class:`SafeEnvironment` and an LRU cache of compiled templates
keyed by source text. ``TemplateEngine.render(source, context)`` never raises for a bad template:
it returns a :class:`RenderResult` with the text, or the issue kind and ``Template Error: …`` /
``Template Warning: …`` message (see :mod:`templates_engine.errors`).

How the limits are enforced without ``sys.settrace``:

- the render budget is checked wherever a template can repeat work: on every iteration of a
  ``{% for %}`` loop (the parser wraps each loop iterable in a guard), on every call (macros,
  recursion, ``loop()`` of recursive loops, methods, globals), on every intercepted operator and
  item access (``environment.getitem`` is what filters such as ``map(attribute=)`` call per item),
  and in the regex filters, ``range`` and ``str.format`` fields. Dot access (``payload.a``) is
  not checked: it is O(1), and a template can only repeat it through a loop, a call or a filter,
  all of which check; straight-line code is bounded by the template length limit;
- ``~`` and every output buffer (blocks, macros, ``{% set %}`` blocks) use size-checked joins;
- the top-level output is consumed chunk by chunk and stops once it is over the output limit.
"""

from __future__ import annotations

import functools
import re
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing, object_type_repr, pass_context
from jinja2.visitor import NodeTransformer

from .errors import IssueKind, TemplateCompileError, classify
from .filters import ONCALL_FILTERS, SAFE_BUILTIN_FILTERS, make_globals
from .guards import BINOPS, SafeMethod, format_wrapper, guarded_binop, guarded_concat
from .limits import DEFAULT_LIMITS, Limits, check_size, clock, over_budget, render_state
from .readonly import FrozenDict, FrozenList

__all__ = [
    "RenderResult",
    "SafeEnvironment",
    "TemplateEngine",
    "check_template",
    "get_engine",
    "is_truthy",
]

_TRUTHY = frozenset({"1", "true", "ok"})
_METHOD_TYPES = (
    types.BuiltinMethodType,
    types.MethodType,
    types.MethodWrapperType,
    types.MethodDescriptorType,
)
_DICT_ATTRS = frozenset(dir(FrozenDict)) | frozenset(dir(dict))
_ADDRESS = re.compile(r"<[^<>\n]{0,200}? at 0x[0-9a-fA-F]+>")
_TYPE_NAMES = {FrozenDict: "dict", FrozenList: "list", SafeMethod: "method"}
_dict_get = dict.get
# Filters that do O(1) work whatever their input (no budget check needed before them).
_CONSTANT_TIME_FILTERS = frozenset(
    {"length", "count", "default", "d", "first", "last", "attr", "abs"}
)


def is_truthy(value: object) -> bool:
    """OnCall's truthiness rule: a string that, stripped and lower-cased, is 1, true or ok."""
    return isinstance(value, str) and value.strip().lower() in _TRUTHY


@dataclass(frozen=True, slots=True)
class RenderResult:
    """The outcome of one render: ``text`` on success, else ``kind`` and ``message``."""

    text: str | None
    kind: IssueKind | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind is None

    @property
    def shown(self) -> str:
        """What a channel shows: the text, or the ``Template Error/Warning: …`` message."""
        return self.text if self.text is not None else (self.message or "")


@pass_context
def _guard_iter(_context: Context, iterable: Any) -> Iterator[Any]:
    state, now = render_state, clock
    if now() > state.deadline:
        over_budget()
    for item in iterable:
        if now() > state.deadline:
            over_budget()
        yield item


def _slice(value: Any, start: Any, stop: Any, step: Any) -> Any:
    """``value[start:stop:step]`` (an O(n) copy that Jinja would emit unhooked) under the budget."""
    if clock() > render_state.deadline:
        over_budget()
    return value[start:stop:step]


def _budgeted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with a budget check first: filters are called straight from compiled code (and by
    ``map``/``select`` once per item), so a chain of them on large values needs its own check."""

    def run(*args: Any, **kwargs: Any) -> Any:
        if clock() > render_state.deadline:
            over_budget()
        return fn(*args, **kwargs)

    pass_arg = getattr(fn, "jinja_pass_arg", None)
    if pass_arg is not None:  # keep pass_context & co
        setattr(run, "jinja_pass_arg", pass_arg)  # noqa: B010 (an attribute of a function)
    return functools.update_wrapper(run, fn)


def _concat(parts: list[Any]) -> str:
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    check_size(sum(map(len, texts)), "concatenated string")
    return "".join(texts)


class _GuardTransformer(NodeTransformer):
    """Wraps loop iterables in ``_guard_iter``, turns ``~`` into the size-checked ``_concat`` and
    slices (``x[a:b]``, emitted by Jinja as plain Python) into the budget-checked ``_slice``."""

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        self.generic_visit(node)
        if not isinstance(node.arg, nodes.Slice):
            return node
        bounds = [
            part if part is not None else nodes.Const(None, lineno=node.lineno)
            for part in (node.arg.start, node.arg.stop, node.arg.step)
        ]
        return nodes.Filter(node.node, "_slice", bounds, [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_guard_iter", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_concat", [], [], None, None, lineno=node.lineno)


class SafeUndefined(Undefined):
    """Jinja's lenient undefined, naming the payload's types as plain ``dict``/``list``."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        if self._undefined_obj is missing:
            return f"{self._undefined_name!r} is undefined"
        name = _TYPE_NAMES.get(type(self._undefined_obj))
        owner = f"{name} object" if name else object_type_repr(self._undefined_obj)
        if not isinstance(self._undefined_name, str):
            return f"{owner!r} has no element {self._undefined_name!r}"
        return f"{owner!r} has no attribute {self._undefined_name!r}"


def _finalize(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, Iterator) and not isinstance(value, (str, list, dict, tuple)):
        raise TypeError("cannot print an iterator or generator; add '|list'")
    return value


class SafeEnvironment(SandboxedEnvironment):
    """Jinja2 sandbox with a read-only payload, our filters, a render budget and size caps."""

    intercepted_binops = frozenset(BINOPS)

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(
            autoescape=False, finalize=_finalize, cache_size=0, undefined=SafeUndefined
        )
        self.limits = limits
        self.filters.update(ONCALL_FILTERS)
        self.filters.update(SAFE_BUILTIN_FILTERS)
        self.filters.update(
            {n: _budgeted(f) for n, f in self.filters.items() if n not in _CONSTANT_TIME_FILTERS}
        )
        self.filters["_guard_iter"] = _guard_iter
        self.filters["_slice"] = _slice
        self.filters["_concat"] = _concat
        self.globals.update(make_globals())
        self.concat = guarded_concat  # type: ignore[method-assign]

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        result = _GuardTransformer().visit(tree)
        assert isinstance(result, nodes.Template)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return guarded_binop(operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        kind = _TYPE_NAMES.get(type(obj), type(obj).__name__)
        raise SecurityError(f"access to attribute {attribute!r} of {kind!r} object is unsafe")

    def _expose(self, obj: Any, attribute: str, value: Any) -> Any:
        if not self.is_safe_attribute(obj, attribute, value):
            return self.unsafe_undefined(obj, attribute)
        if isinstance(value, _METHOD_TYPES):
            if attribute in ("format", "format_map") and isinstance(obj, str):
                return format_wrapper(self, obj, attribute == "format_map")
            return SafeMethod(value, obj, attribute)
        return value

    def getattr(self, obj: Any, attribute: str) -> Any:
        # No budget check: O(1), and only repeatable through checked loops, calls and filters.
        if type(obj) is FrozenDict and attribute not in _DICT_ATTRS:
            # the payload's hot path: FrozenDict.__getitem__ without its Python frame
            value = _dict_get(obj, attribute, missing)
            if value is missing:
                return self.undefined(obj=obj, name=attribute)
            kind = type(value)
            if kind is dict or kind is list or kind is tuple:
                return obj._wrap(attribute, value)
            return value
        if isinstance(obj, dict) and attribute not in _DICT_ATTRS:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        try:
            value = getattr(obj, attribute)
        except AttributeError:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                if attribute.startswith("_") and not isinstance(obj, Undefined):
                    return self.unsafe_undefined(obj, attribute)
                return self.undefined(obj=obj, name=attribute)
        return self._expose(obj, attribute, value)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if clock() > render_state.deadline:  # filters call this once per item of a sequence
            over_budget()
        try:
            return obj[argument]
        except (TypeError, LookupError):
            if isinstance(argument, str):
                try:
                    value = getattr(obj, argument)
                except AttributeError:
                    if argument.startswith("_") and not isinstance(obj, (dict, Undefined)):
                        return self.unsafe_undefined(obj, argument)
                else:
                    return self._expose(obj, argument, value)
        return self.undefined(obj=obj, name=argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if clock() > render_state.deadline:
            over_budget()
        if type(__obj) is SafeMethod:
            # What ``Context.call`` does for an object without ``pass_context`` & co (a
            # SafeMethod never has them, nor ``unsafe_callable``/``alters_data``), minus its
            # three failing ``hasattr`` look-ups.
            if kwargs:
                kwargs.pop("_block_vars", None)
                kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:
                return __self.undefined(
                    "value was undefined because a callable raised a StopIteration exception"
                )
        if not __self.is_safe_callable(__obj):
            raise SecurityError("this object is not safely callable")
        return __context.call(__obj, *args, **kwargs)


class TemplateEngine:
    """One sandbox environment with its limits and an LRU cache of compiled templates."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.env = SafeEnvironment(limits)
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, source: str) -> Any:
        """The compiled template for ``source``; raises :class:`TemplateCompileError`."""
        cached = self._cache.get(source)
        if cached is None:
            cached = self._compile_uncached(source)
            with self._lock:
                self._cache[source] = cached
                while len(self._cache) > self.limits.cache_size:
                    self._cache.popitem(last=False)
        else:
            try:  # noqa: SIM105 (contextlib.suppress costs a context manager per render)
                self._cache.move_to_end(source)
            except KeyError:  # evicted by another thread meanwhile
                pass
        if isinstance(cached, TemplateCompileError):
            raise cached
        return cached

    def _compile_uncached(self, source: str) -> Any:
        limit = self.limits.template_length
        if len(source) > limit:
            return TemplateCompileError(f"Template exceeds length limit ({len(source)} > {limit})")
        try:
            template = self.env.from_string(source)
        except TemplateSyntaxError as exc:
            return TemplateCompileError(exc.message or "invalid template", exc.lineno)
        except (RecursionError, MemoryError):
            return TemplateCompileError("template is too deeply nested")
        template.globals = dict(template.globals)  # a flat dict: cheaper contexts than ChainMap
        return template

    def render(
        self, source: str, context: Mapping[str, Any], *, output_limit: int | None = None
    ) -> RenderResult:
        """Render ``source`` with ``context`` (freeze payload/labels first: see ``freeze``)."""
        try:
            template = self.compile(source)
        except TemplateCompileError as exc:
            return RenderResult(None, "error", "Template Error: " + exc.message)
        limit = output_limit if output_limit is not None else self.limits.output_length
        parts: list[str] = []
        size = 0
        state = render_state
        saved = state.deadline, state.limits
        state.limits = self.limits
        state.deadline = clock() + self.limits.render_budget
        try:
            stream = template.root_render_func(template.new_context(context))
            try:
                for chunk in stream:
                    parts.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        break
            finally:
                stream.close()
        except Exception as exc:  # every failure of a user template becomes an issue
            kind, message = classify(exc)
            return RenderResult(None, kind, message)
        finally:
            state.deadline, state.limits = saved
        text = "".join(parts)
        if " at 0x" in text:
            text = _ADDRESS.sub("<object>", text)
        if len(text) > limit:
            text = text[:limit] + ".."
        return RenderResult(text)


@lru_cache(maxsize=16)
def get_engine(limits: Limits | None = None) -> TemplateEngine:
    """The shared engine for ``limits`` (one per distinct ``Limits`` value)."""
    return TemplateEngine(limits or DEFAULT_LIMITS)


def check_template(source: str, limits: Limits | None = None) -> None:
    """Validate a template on save: raises :class:`TemplateCompileError` with message and line."""
    get_engine(limits).compile(source)
