"""Validation: read the manifests (gitkube.source), check them (gitkube.schema), report.

This is the one orchestration of load + cache + check. ``validate`` collects every problem;
``load_valid`` is what commands that act on the manifests (plan, apply) call: the documents
when they are valid, ValidationFailed with every diagnostic when not.

Per-object check results are cached with the parsed content (by blob id and
SCHEMA_VERSION). On top of that, the report of a whole tree is remembered under the tree's
fingerprint (every path and blob id): re-validating an unchanged tree reads no manifest and
no parsed content at all.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitkube import __version__
from gitkube.diagnostics import Diagnostic
from gitkube.errors import ValidationFailed
from gitkube.source.cache import code_digest
from gitkube.source.loader import LoadResult, Snapshot, SourceOptions, snapshot

_MEMO = "validate-report"
_PKG = Path(__file__).parent
# A remembered report is only as fresh as the code that made it: the cross-document checks
# and this module are not covered by SCHEMA_VERSION, and the Diagnostic shape is stored.
_REPORT_CODE = code_digest(_PKG / "validate.py", _PKG / "schema" / "documents.py",
                           _PKG / "model" / "kinds.py", _PKG / "model" / "objects.py",
                           _PKG / "diagnostics.py")


@dataclass(frozen=True)
class Report:
    """Everything ``gitkube validate`` prints. ``result`` holds the documents; it is None
    when the report was reused for an unchanged tree (``documents`` still counts them)."""

    diagnostics: list[Diagnostic]
    documents: int
    files: int
    commit: str | None = None
    result: LoadResult | None = None

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form documented in docs/VALIDATE.md."""
        errors = sum(1 for d in self.diagnostics if d.severity == "error")
        return {
            "valid": self.valid,
            "documents": self.documents,
            "files": self.files,
            "errors": errors,
            "warnings": len(self.diagnostics) - errors,
            "revision": self.commit,
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def _check_object(obj: dict[str, Any]) -> list[Any]:
    """The schema's per-object check in JSON form (cacheable, and picklable for workers)."""
    from gitkube.schema import check_object

    return [issue.to_json() for issue in check_object(obj)]


def _check(snap: Snapshot) -> Report:
    from gitkube.schema import Issue, check_documents

    result = snap.load(_check_object)
    issues = [[Issue.from_json(item) for item in items] for items in result.checked]
    diagnostics = [*result.diagnostics, *check_documents(result.documents, issues)]
    diagnostics.sort(key=Diagnostic.sort_key)
    return Report(diagnostics, len(result.documents), result.files, result.commit, result)


def validate(path: str | os.PathLike[str], revision: str | None = None, *,
             options: SourceOptions | None = None, need_documents: bool = False) -> Report:
    """Read and check every manifest below ``path`` (at ``revision`` if given): every
    problem, sorted by file and position. With ``need_documents`` the report always carries
    the loaded documents (``result``). ``options``: the content cache and limits (default:
    no cache). Raises UsageError/SourceError only when the directory or revision itself
    cannot be read."""
    from gitkube.schema import SCHEMA_VERSION

    snap = snapshot(path, revision, check_version=SCHEMA_VERSION, options=options)
    fingerprint = snap.fingerprint(__version__, _REPORT_CODE)
    memo = snap.memo.get(_MEMO)
    if not need_documents and isinstance(memo, tuple) and len(memo) == 4 \
            and memo[0] == fingerprint:
        try:
            diagnostics = [Diagnostic(*fields) for fields in memo[3]]
            return Report(diagnostics, memo[1], memo[2], snap.commit)
        except TypeError:
            pass  # a memo of another shape: compute it again
    report = _check(snap)
    snap.cache.remember(_MEMO, (fingerprint, report.documents, report.files,
                                [dataclasses.astuple(d) for d in report.diagnostics]))
    snap.save()
    return report


def load_valid(path: str | os.PathLike[str], revision: str | None = None, *,
               options: SourceOptions | None = None) -> LoadResult:
    """The documents below ``path`` (at ``revision``), or ValidationFailed carrying every
    diagnostic when any is an error."""
    report = validate(path, revision, options=options, need_documents=True)
    if not report.valid:
        raise ValidationFailed(report.diagnostics)
    assert report.result is not None
    return report.result
