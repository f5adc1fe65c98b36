"""Field validation as the handlers import it.

The helpers live in ``ingest.domain.validation`` because the domain's input parsers (integrations,
routes) use them too; a collected error is raised as ``ingest.domain.errors.InvalidFields``,
which the error middleware answers as a 400 with the field tree.
"""

from ingest.domain.validation import Errors, optional_string, reject_unknown, type_name

__all__ = ["Errors", "optional_string", "reject_unknown", "type_name"]
