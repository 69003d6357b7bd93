"""gitkube.schema: JSON Schemas of the kinds gitkube serves, and the object validator.

Public surface:

- ``check_object(obj) -> list[Issue]``: every problem in one object (pure, cacheable);
- ``check_documents(docs, issues=None) -> list[Diagnostic]``: per-object issues placed at
  file:line:col plus cross-document checks (duplicates, undefined namespaces);
- ``Issue``: one problem positioned by field path, JSON-serialisable;
- ``SCHEMA_VERSION``: changes whenever the schemas or the validator change.

See docs/SCHEMA.md for the supported fields, how the schemas are generated and the codes.
"""

from gitkube.schema.documents import check_documents
from gitkube.schema.issue import Issue, format_path
from gitkube.schema.validator import SCHEMA_VERSION, check_object, schema_file

__all__ = [
    "SCHEMA_VERSION",
    "Issue",
    "check_documents",
    "check_object",
    "format_path",
    "schema_file",
]
