"""Refusals raised below the HTTP layer: what is wrong, in words, with no status codes.

The domain (and its input parsers) raise these; ``ingest.api.errors`` gives each kind its one
answer, the same wherever it is raised: :class:`Refused` (and its named cases) a 400
``{"detail": message}``, :class:`InvalidFields` a 400 with the field tree, :class:`Busy` a 503
with ``Retry-After``. The importer reports them as lines of its plan instead.
"""

from __future__ import annotations

from typing import Any

FieldTree = dict[str, Any]
"""Field errors as the API answers them: nested dicts ending in lists of messages."""

INTEGRATION_NAME_TAKEN = "An integration with this name already exists for this team"
INVALID_POSITION = "Invalid value for position field"


class DomainError(Exception):
    """Base of every refusal here; ``message`` is the one line a person reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(DomainError):
    """The request as a whole cannot be done (an unknown type, a rule broken)."""


class NameTaken(Refused):
    """Another live integration of the same team already has this name."""

    def __init__(self) -> None:
        super().__init__(INTEGRATION_NAME_TAKEN)


class InvalidPosition(Refused):
    """A route ``position`` out of range, or ``-1`` together with ``manual_order``."""

    def __init__(self) -> None:
        super().__init__(INVALID_POSITION)


class InvalidFields(DomainError):
    """Every field error of one request at once, keyed by the path of the field."""

    def __init__(self, fields: FieldTree) -> None:
        super().__init__("invalid fields")
        self.fields = fields


class Busy(DomainError):
    """Another writer holds what this change needs for too long: retry in ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
