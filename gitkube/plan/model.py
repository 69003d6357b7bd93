"""A plan is plain data: what to create, change and delete, and what the planner saw.

Nothing here renders, reads or writes; render.py turns a Plan into text or JSON, planfile.py
saves and loads it, apply.py carries it out. Every value is frozen and JSON-compatible
(``Plan.to_json`` is the documented, stable structure in docs/PLAN.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from gitkube.model.objects import ObjectRef

FORMAT_VERSION = 1

FieldOp = Literal["add", "replace", "remove"]


@dataclass(frozen=True)
class ItemKey:
    """A path part naming the item of a keyed list by its merge key (gitkube/model/mergekeys.py):
    ``ItemKey("name", "httpd")`` is shown ``[name=httpd]``."""

    key: str
    value: str | int

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, str) and not _BARE.fullmatch(value):
            return f"[{self.key}={json.dumps(value, ensure_ascii=False)}]"
        return f"[{self.key}={value}]"


# a key value shown without quotes: no brackets, quotes, spaces or "=", and not a number
_BARE = re.compile(r"(?![-+]?[0-9]+(\.[0-9]*)?$)[A-Za-z0-9_./:@-]+")
PathPart = str | int | ItemKey


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


@dataclass(frozen=True)
class FieldChange:
    """One changed field. ``before`` is the live value (None for ``add``), ``after`` git's value
    (None for ``remove``). ``drift`` is True when git's value did not change since the last
    apply: the live value was changed outside git, and apply restores git's value. ``owner``
    names the other field manager that owns the live field (a conflict: apply takes it
    back; gitkube/plan/owners.py)."""

    path: tuple[PathPart, ...]
    op: FieldOp
    before: Any = None
    after: Any = None
    drift: bool = False
    owner: str | None = None

    @property
    def dotted(self) -> str:
        return dotted_path(self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.dotted,
            "op": self.op,
            "before": self.before,
            "after": self.after,
            "drift": self.drift,
            **({"owner": self.owner} if self.owner is not None else {}),
        }


@dataclass(frozen=True)
class Change:
    """What happens to one object.

    ``desired`` is the full object apply writes (for create/update; it carries gitkube's
    annotations); ``live_version`` is the resourceVersion of the live object the plan saw (an
    update's precondition). ``via_namespace`` marks a deletion that happens because its
    Namespace is deleted (shown with it; see ``apply.NAMESPACE_CASCADE`` for how it is
    written today).
    """

    ref: ObjectRef
    action: Action
    fields: tuple[FieldChange, ...] = ()
    desired: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    live_version: str | None = None
    file: str | None = None
    reason: str | None = None
    via_namespace: str | None = None
    # what apply records as last applied (normalized desired, Secret values hashed)
    last_applied: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def drifted(self) -> bool:
        return any(f.drift for f in self.fields)

    @property
    def sensitive(self) -> bool:
        return self.ref.kind == "Secret"


@dataclass(frozen=True)
class Skipped:
    """A live object the plan would have pruned but did not, and why."""

    ref: ObjectRef
    reason: str


@dataclass(frozen=True)
class SourceInfo:
    """Where the desired state came from. ``id`` is short and label-safe (it is the value of
    the ``gitkube.io/source-id`` label); ``name`` is the repository identity and path."""

    id: str
    name: str
    path: str
    commit: str | None = None
    dirty: bool = False
    revision: str | None = None  # what the user asked for with --revision, if anything

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "commit": self.commit,
            "dirty": self.dirty,
            "revision": self.revision,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceInfo:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            path=str(data["path"]),
            commit=data.get("commit"),
            dirty=bool(data.get("dirty", False)),
            revision=data.get("revision"),
        )


@dataclass(frozen=True)
class Summary:
    add: int = 0
    change: int = 0
    destroy: int = 0
    drifted: int = 0
    unchanged: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    def line(self) -> str:
        return (
            f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy, "
            f"{self.drifted} drifted."
        )

    def to_json(self) -> dict[str, int]:
        return {
            "add": self.add,
            "change": self.change,
            "destroy": self.destroy,
            "drifted": self.drifted,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class Plan:
    """Every change, in apply order (creates and updates first, by kind rank; then deletions in
    reverse rank). ``seen`` maps each live object the plan depends on (``ref_key``) to the
    resourceVersion it had; ``store_revision`` is the store revision of the read."""

    source: SourceInfo
    store_url: str
    store_revision: int
    changes: tuple[Change, ...]
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    prune: bool = True
    desired_count: int = 0
    owned_count: int = 0
    seen: dict[str, str] = field(default_factory=dict, compare=False)
    # the normalized live objects the plan compared, by the same keys (not serialized)
    compared: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def summary(self) -> Summary:
        add = change = destroy = drifted = unchanged = 0
        for c in self.changes:
            if c.action is Action.CREATE:
                add += 1
            elif c.action is Action.UPDATE:
                change += 1
                drifted += c.drifted
            elif c.action is Action.DELETE:
                destroy += 1
            else:
                unchanged += 1
        return Summary(add, change, destroy, drifted, unchanged)

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def empty_desired_guard(self) -> bool:
        """True when git holds no objects at all while this source owns live ones: a broken
        checkout must not wipe the cluster, so apply refuses unless told ``--allow-empty``."""
        return self.desired_count == 0 and self.owned_count > 0


def dotted_path(path: tuple[PathPart, ...]) -> str:
    """``("spec", "containers", 0, "image")`` -> ``spec.containers[0].image``; an item of a
    keyed list by its key: ``spec.containers[name=httpd].image``; keys holding dots or slashes
    are bracketed: ``metadata.labels["app.kubernetes.io/name"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, ItemKey):
            out += str(part)
        elif any(ch in part for ch in "./[] "):
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else part
    return out


def ref_json(ref: ObjectRef) -> dict[str, Any]:
    return {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "namespace": ref.namespace or None,
        "name": ref.name,
    }


def ref_from_json(data: dict[str, Any]) -> ObjectRef:
    return ObjectRef(
        str(data["apiVersion"]), str(data["kind"]), str(data.get("namespace") or ""),
        str(data["name"]),
    )


def display(ref: ObjectRef) -> str:
    """``Deployment demo/web`` or ``Namespace demo``: how plans name objects."""
    ns = f"{ref.namespace}/" if ref.namespace else ""
    return f"{ref.kind} {ns}{ref.name}"
