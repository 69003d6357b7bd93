"""Apply history: one record per apply, kept in the store next to the objects it changed.

Records live under ``/gitkube/history/<number>`` (raw api records, not Kubernetes objects).
A successful apply writes its record in the same transaction as its changes, so a record
exists exactly when the changes do; a failed apply writes a record with result ``failed``
afterwards. Numbers grow by one; the record's create-only precondition makes two concurrent
applies conflict instead of interleaving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitkube.plan.model import Plan, display

PREFIX = "/gitkube/history/"


def record_key(number: int) -> str:
    return f"{PREFIX}{number:010d}"


@dataclass(frozen=True)
class Entry:
    """One apply: what was applied (source, commit), when, by whom, what changed, result."""

    number: int
    time: str
    author: str
    source: dict[str, Any]
    summary: dict[str, int]
    result: str  # "applied" | "failed"
    error: str | None = None
    kind: str = "apply"  # "apply" | "rollback"
    store_revision: int | None = None
    changes: tuple[str, ...] = ()

    @property
    def commit(self) -> str | None:
        value = self.source.get("commit")
        return str(value) if value else None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "time": self.time,
            "author": self.author,
            "kind": self.kind,
            "source": self.source,
            "summary": self.summary,
            "result": self.result,
            "error": self.error,
            "storeRevision": self.store_revision,
            "changes": list(self.changes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            number=int(data["number"]),
            time=str(data["time"]),
            author=str(data.get("author", "")),
            source=dict(data.get("source") or {}),
            summary=dict(data.get("summary") or {}),
            result=str(data.get("result", "")),
            error=data.get("error"),
            kind=str(data.get("kind", "apply")),
            store_revision=data.get("storeRevision"),
            changes=tuple(data.get("changes") or ()),
        )


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


_MAX_LISTED = 200


def make_entry(
    plan: Plan, number: int, *, author: str, result: str, kind: str = "apply",
    error: str | None = None, time: str | None = None,
) -> Entry:
    changes = tuple(
        f"{c.action.value} {display(c.ref)}" for c in plan.actionable[:_MAX_LISTED]
    )
    return Entry(
        number=number,
        time=time or now_iso(),
        author=author,
        source=plan.source.to_json(),
        summary=plan.summary.to_json(),
        result=result,
        error=error,
        kind=kind,
        changes=changes,
    )


def render_history(entries: list[Entry]) -> str:
    """A table, newest last: number, time, result, commit, author, summary, kind."""
    if not entries:
        return "No applies recorded yet.\n"
    lines = [f"{'#':>4}  {'TIME':20}  {'RESULT':8}  {'COMMIT':12}  {'AUTHOR':12}  SUMMARY"]
    for e in entries:
        s = e.summary
        summary = f"+{s.get('add', 0)} ~{s.get('change', 0)} -{s.get('destroy', 0)}"
        if s.get("drifted"):
            summary += f" ({s['drifted']} drifted)"
        if e.kind != "apply":
            summary += f"  [{e.kind}]"
        commit = (e.commit or "-")[:12]
        if e.source.get("dirty"):
            commit = commit[:11] + "*"
        lines.append(
            f"{e.number:>4}  {e.time:20}  {e.result:8}  {commit:12}  {e.author[:12]:12}  {summary}"
        )
    return "\n".join(lines) + "\n"
