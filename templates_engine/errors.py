"""Exceptions of the template engine and how a failed render is classified.

Classification follows OnCall:

- *error*: syntax errors, unknown filters, sandbox security violations, our limits (budget, sizes,
  regex time), recursion, and any unexpected exception.
- *warning*: ``TypeError``, ``KeyError``, ``ValueError`` and ``UndefinedError`` (a missing key,
  ``"x" + 1``, a bad time zone).

Messages are ``Template Error: <msg>`` or ``Template Warning: <msg>``.
"""

from __future__ import annotations

from typing import Literal

from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

__all__ = [
    "IssueKind",
    "RenderBudgetExceeded",
    "TemplateCompileError",
    "TemplateLimitError",
    "classify",
]

IssueKind = Literal["error", "warning"]


class TemplateCompileError(Exception):
    """A template that cannot be saved: syntax error, unknown filter, or over the length limit."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message if lineno is None else f"{message} (line {lineno})")
        self.message = message
        self.lineno = lineno


class TemplateLimitError(SecurityError):
    """A template hit one of the sandbox limits (size, range, regex time, ...)."""


class RenderBudgetExceeded(TemplateLimitError):
    """A render ran longer than its budget."""


def _text(exc: BaseException) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return exc.message or type(exc).__name__
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0]) if isinstance(exc.args[0], str) else repr(exc.args[0])
    if isinstance(exc, RecursionError):
        return "maximum recursion depth exceeded"
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = str(exc)
    return text if text else type(exc).__name__


def classify(exc: BaseException) -> tuple[IssueKind, str]:
    """Return the issue kind and the user-facing message for an exception raised by a render."""
    kind: IssueKind
    if isinstance(exc, (SecurityError, TemplateSyntaxError)):
        kind = "error"
    elif isinstance(exc, (TypeError, KeyError, ValueError, UndefinedError)):
        kind = "warning"
    else:
        kind = "error"
    prefix = "Template Error: " if kind == "error" else "Template Warning: "
    return kind, prefix + _text(exc)
