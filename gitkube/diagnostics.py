"""Diagnostic: one problem found in the manifests, with where it is and what to do.

Validation collects every Diagnostic instead of stopping at the first. The text form is
``file:line:col: Kind/name: message`` followed by an indented hint; the JSON form is the
stable structure documented in docs/VALIDATE.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem. ``line`` and ``column`` are 1-based; 0 means unknown."""

    message: str
    code: str  # stable machine-readable kind: "yaml-syntax", "unknown-field", ...
    file: str | None = None
    line: int = 0
    column: int = 0
    object: str | None = None  # "Deployment/web" (namespace omitted)
    path: str | None = None  # field path: "spec.template.spec.containers[0].image"
    hint: str | None = None
    severity: Severity = "error"

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file

    def render(self) -> str:
        """``file:line:col: Kind/name: message`` and, indented below, ``hint: ...``."""
        parts = [p for p in (self.location, self.object) if p]
        head = ": ".join([*parts, self.message])
        return f"{head}\n  hint: {self.hint}" if self.hint else head

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line or None,
            "column": self.column or None,
            "object": self.object,
            "path": self.path,
            "hint": self.hint,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file or "", self.line, self.column, self.message)
