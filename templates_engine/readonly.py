"""Read-only views of the payload (and labels) a template sees.

``FrozenDict``/``FrozenList`` subclass ``dict``/``list`` so ``repr``, ``tojson`` and every Jinja
filter behave exactly as on the plain JSON value (``{{ payload }}`` prints ``{'a': 'b'}``). Nested
containers are wrapped lazily on access; every mutating method raises ``SecurityError``.
``.copy()`` returns a plain, mutable ``dict``/``list`` whose nested values stay read-only, so a
template may ``copy()`` then ``pop()`` without changing what other templates or storage see.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any, NoReturn, SupportsIndex, overload

from jinja2.exceptions import SecurityError

__all__ = ["FrozenDict", "FrozenList", "freeze", "thaw"]

_CONTAINERS = frozenset({dict, list, tuple})  # the types ``freeze`` wraps (exact types only)


def _read_only(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise SecurityError("the payload is read-only (use .copy() to get a mutable copy)")


def freeze(value: Any) -> Any:
    """Wrap a JSON value so a template cannot change it (scalars are returned as is)."""
    kind = type(value)
    if kind is dict:
        return FrozenDict(value)
    if kind is list or kind is tuple:
        return FrozenList(value)
    return value


def thaw(value: Any) -> Any:
    """A plain list/dict with read-only items for a frozen container (used before ``+``/``*``)."""
    if isinstance(value, FrozenList):
        return value.copy()
    if isinstance(value, FrozenDict):
        return value.copy()
    return value


class FrozenDict(dict[Any, Any]):
    """A read-only dict; nested dicts and lists come back frozen."""

    __slots__ = ("_kids",)

    def __init__(self, raw: dict[Any, Any]) -> None:
        dict.__init__(self, raw)
        self._kids: dict[Any, Any] = {}

    def _wrap(self, key: Any, value: Any) -> Any:
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
            kid = self._kids.get(key)
            if kid is None:
                kid = self._kids[key] = freeze(value)
            return kid
        return value

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
            return self._wrap(key, value)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return self._wrap(key, dict.__getitem__(self, key))
        return default

    def __iter__(self) -> Iterator[Any]:
        return dict.__iter__(self)

    def values(self) -> list[Any]:  # type: ignore[override]
        wrap = self._wrap
        return [wrap(k, v) if type(v) in _CONTAINERS else v for k, v in dict.items(self)]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        wrap = self._wrap
        return [(k, wrap(k, v) if type(v) in _CONTAINERS else v) for k, v in dict.items(self)]

    def copy(self) -> dict[Any, Any]:
        wrap = self._wrap
        return {k: wrap(k, v) if type(v) in _CONTAINERS else v for k, v in dict.items(self)}

    __setitem__ = _read_only
    __delitem__ = _read_only
    __ior__ = _read_only
    pop = _read_only
    popitem = _read_only
    setdefault = _read_only
    update = _read_only
    clear = _read_only


class FrozenList(list[Any]):
    """A read-only list; nested dicts and lists come back frozen."""

    __slots__ = ("_kids",)

    def __init__(self, raw: list[Any] | tuple[Any, ...]) -> None:
        list.__init__(self, raw)
        self._kids: dict[int, Any] = {}

    def _wrap(self, index: int, value: Any) -> Any:
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
            kid = self._kids.get(index)
            if kid is None:
                kid = self._kids[index] = freeze(value)
            return kid
        return value

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> FrozenList: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        if isinstance(index, slice):
            part = FrozenList(list.__getitem__(self, index))
            start, stop, step = index.indices(len(self))
            if step == 1 and self._kids:  # share the views already made (keeps their caches)
                part._kids.update(
                    (i - start, k) for i, k in self._kids.items() if start <= i < stop
                )
            return part
        i = operator.index(index)
        if i < 0:
            i += len(self)
        return self._wrap(i, list.__getitem__(self, index))

    def __iter__(self) -> Iterator[Any]:
        wrap = self._wrap
        for i, value in enumerate(list.__iter__(self)):
            yield wrap(i, value) if type(value) in _CONTAINERS else value

    def __reversed__(self) -> Iterator[Any]:
        n = len(self)
        for j, value in enumerate(list.__reversed__(self)):
            yield self._wrap(n - 1 - j, value)

    def copy(self) -> list[Any]:
        return list(self.__iter__())

    def __add__(self, other: Any) -> Any:
        return self.copy() + thaw(other)

    def __radd__(self, other: Any) -> Any:
        return thaw(other) + self.copy()

    def __mul__(self, n: SupportsIndex) -> list[Any]:
        return self.copy() * n

    __rmul__ = __mul__
    __setitem__ = _read_only
    __delitem__ = _read_only
    __iadd__ = _read_only
    __imul__ = _read_only
    append = _read_only
    extend = _read_only
    insert = _read_only
    remove = _read_only
    pop = _read_only
    clear = _read_only
    sort = _read_only
    reverse = _read_only
