"""Validation: read the manifests (gitkube.source), check them (gitkube.schema), report.

This is the one orchestration of load + cache + check. ``validate`` collects every problem;
``load_valid`` is what commands that act on the manifests (plan, apply) call: the documents
when they are valid, ValidationFailed with every diagnostic when not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gitkube.diagnostics import Diagnostic
from gitkube.errors import ValidationFailed
from gitkube.source.document import Document
from gitkube.source.loader import LoadResult, load


@dataclass(frozen=True)
class Report:
    """Everything ``gitkube validate`` prints: the loaded documents and every problem."""

    result: LoadResult
    diagnostics: list[Diagnostic]

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def documents(self) -> list[Document]:
        return self.result.documents

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form documented in docs/VALIDATE.md."""
        errors = sum(1 for d in self.diagnostics if d.severity == "error")
        return {
            "valid": self.valid,
            "documents": len(self.result.documents),
            "files": self.result.files,
            "errors": errors,
            "warnings": len(self.diagnostics) - errors,
            "revision": self.result.commit,
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def _check_object(obj: dict[str, Any]) -> list[Any]:
    """The schema's per-object check in JSON form (cacheable, and picklable for workers)."""
    from gitkube.schema import check_object

    return [issue.to_json() for issue in check_object(obj)]


def validate(path: str | os.PathLike[str], revision: str | None = None, *,
             use_cache: bool = True) -> Report:
    """Read and check every manifest below ``path`` (at ``revision`` if given): every
    problem, sorted by file and position. Raises UsageError/SourceError only when the
    directory or revision itself cannot be read."""
    from gitkube.schema import SCHEMA_VERSION, Issue, check_documents

    result = load(path, revision, check=_check_object, check_version=SCHEMA_VERSION,
                  use_cache=use_cache)
    issues = [[Issue.from_json(item) for item in items] for items in result.checked]
    diagnostics = [*result.diagnostics, *check_documents(result.documents, issues)]
    diagnostics.sort(key=Diagnostic.sort_key)
    return Report(result, diagnostics)


def load_valid(path: str | os.PathLike[str], revision: str | None = None) -> LoadResult:
    """The documents below ``path`` (at ``revision``), or ValidationFailed carrying every
    diagnostic when any is an error."""
    report = validate(path, revision)
    if not report.valid:
        raise ValidationFailed(report.diagnostics)
    return report.result
