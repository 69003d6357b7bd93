"""Issue: one problem inside one object, positioned by field path (not by line).

Issues are plain, JSON-serialisable values so a cache keyed by (blob id, SCHEMA_VERSION) can
store them; ``check_documents`` turns them into Diagnostics with file:line:col.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True)
class Issue:
    """A problem at ``path`` in an object. ``code`` is stable (docs/SCHEMA.md lists them)."""

    path: Path
    message: str
    code: str
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": list(self.path), "message": self.message, "code": self.code}
        if self.hint is not None:
            out["hint"] = self.hint
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Issue:
        return cls(tuple(data["path"]), data["message"], data["code"], data.get("hint"))

    @property
    def dotted(self) -> str:
        """The path as users read it: ``spec.template.spec.containers[0].image``;
        keys with dots or slashes are quoted: ``metadata.labels["app.kubernetes.io/name"]``."""
        return format_path(self.path)


def format_path(path: Sequence[PathPart]) -> str:
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part and all(c.isalnum() or c in "-_" for c in part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f'["{part}"]')
    return "".join(out)
