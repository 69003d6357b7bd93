"""Field managers: ``metadata.managedFields`` read and written, and the two operations that
change them — an Apply (server-side apply) and an Update (create, PUT, PATCH).

- **Apply** by manager M of configuration C to live object L: the result is L merged with C
  (gitkube/api/ssa/merge.py). Every field the merge changes that another manager owns is a
  conflict: without ``force`` nothing is written and ``ApplyConflicts`` lists them; with it,
  the others lose those fields. M then owns exactly the fields C sets; a field M applied
  last time and not now is removed from the object unless another manager owns it too.
- **Update** by manager M from O to N: M gains every field N adds or changes; every other
  manager loses those; everyone loses the fields N no longer has. Never a conflict.

Managers are keyed by (manager, operation, subresource), so one name may own fields both as
an applier and as an updater. An object that never had managed fields, applied to for the
first time, first gives what it has to ``before-first-apply`` (as upstream does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitkube.api.ssa import fieldset
from gitkube.api.ssa.fieldset import Trie
from gitkube.api.ssa.merge import merge, remove
from gitkube.api.ssa.shape import Shape
from gitkube.errors import GitkubeError

Obj = dict[str, Any]
BEFORE_FIRST_APPLY = "before-first-apply"


@dataclass
class Entry:
    """One ``managedFields`` entry."""

    manager: str
    operation: str  # "Apply" | "Update"
    api_version: str
    time: str
    fields: Trie
    subresource: str = ""

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def to_json(self) -> Obj:
        out: Obj = {"manager": self.manager, "operation": self.operation,
                    "apiVersion": self.api_version, "time": self.time,
                    "fieldsType": "FieldsV1", "fieldsV1": self.fields}
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def describe(self) -> str:
        """How upstream names the manager in a conflict: ``"kubectl-edit" using apps/v1``
        for an updater, ``"web-deployer"`` for an applier."""
        name = f'"{self.manager}"'
        return f"{name} using {self.api_version}" if self.operation == "Update" else name


@dataclass(frozen=True)
class Conflict:
    """A field another manager owns that an apply would change."""

    owner: Entry
    path: tuple[str, ...]

    @property
    def field(self) -> str:
        return fieldset.path_text(self.path)


class ApplyConflicts(GitkubeError):
    """An apply that would change fields other managers own (and did not force); the API
    turns it into upstream's 409 Conflict Status."""

    def __init__(self, conflicts: list[Conflict]):
        self.conflicts = conflicts
        super().__init__(_conflicts_text(conflicts),
                         hint="apply with force (kubectl --force-conflicts) to take the "
                              "fields, or leave them out of the configuration")

    def causes(self) -> list[dict[str, str]]:
        """``details.causes``: one FieldManagerConflict per field."""
        return [{"reason": "FieldManagerConflict",
                 "message": f"conflict with {c.owner.describe()}", "field": c.field}
                for c in self.conflicts]



def _conflicts_text(conflicts: list[Conflict]) -> str:
    """Upstream's text: ``Apply failed with 1 conflict: conflict with "m" using apps/v1:
    .spec.replicas``; several conflicts are listed per manager, a line each."""
    n = len(conflicts)
    if n == 1:
        c = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {c.owner.describe()}: {c.field}"
    by_owner: dict[str, list[str]] = {}
    for c in conflicts:
        by_owner.setdefault(c.owner.describe(), []).append(c.field)
    lines = []
    for owner in sorted(by_owner):
        lines.append(f"conflicts with {owner}:")
        lines.extend(f"- {f}" for f in by_owner[owner])
    return f"Apply failed with {n} conflicts: " + "\n".join(lines)


def read(obj: Obj | None) -> list[Entry]:
    """The entries of an object's ``metadata.managedFields`` (unreadable ones skipped)."""
    raw = ((obj or {}).get("metadata") or {}).get("managedFields")
    out: list[Entry] = []
    for e in raw if isinstance(raw, list) else []:
        if not isinstance(e, dict) or not isinstance(e.get("fieldsV1"), dict):
            continue
        out.append(Entry(str(e.get("manager") or ""), str(e.get("operation") or "Update"),
                         str(e.get("apiVersion") or ""), str(e.get("time") or ""),
                         e["fieldsV1"], str(e.get("subresource") or "")))
    return out


def write(entries: list[Entry]) -> list[Obj]:
    """Entries as ``managedFields``: empty ones dropped, in upstream's order (Apply before
    Update, then by time, manager and subresource). A field set's keys keep the object's
    order (clients such as kubectl print them sorted; sorting each write costs ~20%)."""
    kept = [e for e in entries if e.fields]
    kept.sort(key=lambda e: (e.operation, e.time, e.manager, e.subresource))
    return [e.to_json() for e in kept]


@dataclass(frozen=True)
class Scope:
    """What part of an object a write manages: everything but status (a kind whose status
    is written apart), only status (its status subresource), or everything."""

    subresource: str = ""
    status_apart: bool = False

    def trim(self, trie: Trie) -> Trie:
        if self.subresource == "status":
            return fieldset.strip(trie, status_only=True)
        return fieldset.strip(trie, keep_status=not self.status_apart)


def applied_part(config: Obj, subresource: str, status_apart: bool) -> Obj:
    """What of an applied configuration a write may change: only status through the status
    subresource; everything but status through the main resource of a kind whose status is
    written apart."""
    out = {k: v for k, v in config.items() if k not in ("status",)}
    if subresource in ("status", "scale"):
        kept = "status" if subresource == "status" else "spec"
        out = {k: v for k, v in config.items() if k in ("apiVersion", "kind", "metadata",
                                                          kept)}
        out["metadata"] = {k: v for k, v in (config.get("metadata") or {}).items()
                           if k in ("name", "namespace", "resourceVersion")}
    elif not status_apart and "status" in config:
        out["status"] = config["status"]
    return out


def apply(live: Obj | None, config: Obj, shape: Shape, *, manager: str, api_version: str,
          now: str, force: bool = False, scope: Scope = Scope()) -> tuple[Obj, list[Obj]]:
    """The object after ``manager`` applies ``config`` to ``live`` (None: it does not
    exist yet), and its new ``managedFields``. ApplyConflicts unless ``force``."""
    base: Obj = live if live is not None else {}
    entries = read(live)
    if live is not None and not entries:
        entries = [Entry(BEFORE_FIRST_APPLY, "Update", api_version, now,
                         scope.trim(fieldset.fields_of(live, shape)), scope.subresource)]
    ident = (manager, "Apply", scope.subresource)
    mine = next((e for e in entries if e.ident == ident), None)
    applied = scope.trim(fieldset.fields_of(config, shape))
    merged: Obj = merge(base, config, shape)
    if mine is not None and mine.fields == applied and merged == base:
        # the same configuration again: nothing moves, nothing is removed, same time
        return merged, list(base["metadata"]["managedFields"])
    if mine is None:
        mine = Entry(manager, "Apply", api_version, now, {}, scope.subresource)
        entries.append(mine)
    moved = scope.trim(fieldset.changed(base, merged, shape))
    taken = _take(entries, mine, moved, force)
    others: Trie = {}
    for other in entries:
        if other is not mine:
            others = fieldset.union(others, other.fields)
    dropped = fieldset.difference(fieldset.difference(mine.fields, applied), others)
    if dropped:
        merged = remove(merged, dropped, others, shape)
    if taken or mine.fields != applied or merged != base:
        # an apply that changes nothing keeps its time, so it writes nothing either
        mine.fields, mine.time, mine.api_version = applied, now, api_version
    return merged, write(entries)


def _take(entries: list[Entry], mine: Entry, moved: Trie, force: bool) -> bool:
    """Take the ``moved`` fields from the other managers (ApplyConflicts unless ``force``);
    whether any were theirs."""
    conflicts: list[Conflict] = []
    taken: dict[int, Trie] = {}
    for i, other in enumerate(entries):
        if other is mine:
            continue
        lost = fieldset.intersection(other.fields, moved)
        if lost:
            taken[i] = lost
            conflicts.extend(Conflict(other, p) for p in fieldset.members(lost))
    if conflicts and not force:
        raise ApplyConflicts(conflicts)
    for i, lost in taken.items():
        entries[i].fields = fieldset.difference(entries[i].fields, lost)
    return bool(taken)


def update(old: Obj | None, new: Obj, shape: Shape, *, manager: str, api_version: str,
           now: str, scope: Scope = Scope()) -> list[Obj]:
    """The ``managedFields`` of ``new`` after ``manager`` wrote it over ``old`` (None: a
    create)."""
    base: Obj = old if old is not None else {}
    entries = read(old)
    gained = scope.trim(fieldset.changed(base, new, shape, mark_added=True))
    gone = scope.trim(fieldset.difference(fieldset.fields_of(base, shape),
                                          fieldset.fields_of(new, shape))) if old else {}
    ident = (manager, "Update", scope.subresource)
    mine = next((e for e in entries if e.ident == ident), None)
    for e in entries:
        if e is not mine:
            e.fields = fieldset.difference(fieldset.difference(e.fields, gained), gone)
    if mine is None:
        if not gained:
            return write(entries)
        mine = Entry(manager, "Update", api_version, now, {}, scope.subresource)
        entries.append(mine)
    fields = fieldset.difference(fieldset.union(mine.fields, gained), gone)
    if fields != mine.fields:
        mine.fields, mine.time, mine.api_version = fields, now, api_version
    return write(entries)
