"""Compute a Plan from desired objects and the live objects: a pure function.

The effectful shell (build.py) reads git and the store and calls ``make_plan``; tests call it
directly with objects from YAML files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from gitkube.api.codec import copy_json
from gitkube.model import kinds
from gitkube.model.objects import ObjectRef
from gitkube.plan import annotations as ann
from gitkube.plan import owners
from gitkube.plan.diff import merge, three_way
from gitkube.plan.model import Action, Change, FieldChange, Plan, Skipped, SourceInfo, display
from gitkube.plan.normalize import (
    hash_secret_values,
    last_applied,
    normalize_desired,
    normalize_live,
)
from gitkube.plan.order import order_changes

NamespaceMembers = Callable[[str], Iterable[dict[str, Any]]]
# (object, digest on the live object) -> the recorded last-applied object, or None when there
# is no record or its digest differs (the object was replaced outside gitkube)
LastAppliedLookup = Callable[[ObjectRef, str], dict[str, Any] | None]


@dataclass(frozen=True)
class Desired:
    """One object from git, as written (normalization happens here), and its file."""

    obj: dict[str, Any]
    file: str | None = None
    # identifies the document's exact content (git blob id, document index, list item), so
    # a no-op decision can be reused while neither it nor the live object changed
    content_key: str | None = None

    @cached_property
    def ref(self) -> ObjectRef:
        """The identity the object will have once defaulted."""
        return desired_ref(self.obj)


# ref_key -> (content_key, live resourceVersion, live uid, source id): a verified no-op
NoopCache = dict[str, tuple[str, str, str, str]]


@dataclass(frozen=True)
class NoopCaches:
    """``read`` holds no-op decisions of earlier plans: an object whose document content,
    live resourceVersion and uid are all unchanged is a no-op without being normalized
    again. Every no-op verified by a full comparison is added to ``write``."""

    read: NoopCache | None = None
    write: NoopCache | None = None


@dataclass(frozen=True)
class LiveLookups:
    """Reads of the live store beyond the objects a plan is given.

    ``namespace_members(ns)`` lists every live object in a namespace (to refuse deleting a
    Namespace that holds objects of other sources); without it, the given objects are used.
    ``last_applied`` finds an object's recorded last-applied object; without it, an object
    has none."""

    namespace_members: NamespaceMembers | None = None
    last_applied: LastAppliedLookup | None = None


@dataclass(frozen=True)
class LiveMeta:
    """What the planner needs to know about a live object without decoding it."""

    resource_version: str
    uid: str
    source_id: str  # "" when not labelled with any source
    controller_made: bool


class LiveView(Protocol):
    """The live objects a plan needs: those at desired identities and those labelled with
    the source. ``get`` may decode lazily; ``meta`` and ``refs`` should not need to."""

    def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def meta(self, ref: ObjectRef) -> LiveMeta | None: ...

    def refs(self) -> Iterable[ObjectRef]: ...


def meta_of(obj: dict[str, Any]) -> LiveMeta:
    m = _meta(obj)
    return LiveMeta(
        str(m.get("resourceVersion") or ""),
        str(m.get("uid") or ""),
        source_id_of(obj) or "",
        controller_made(obj),
    )


class DictView:
    """A LiveView over decoded objects."""

    def __init__(self, objects: Mapping[ObjectRef, dict[str, Any]]):
        self._objects = objects

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self._objects.get(ref)

    def meta(self, ref: ObjectRef) -> LiveMeta | None:
        obj = self._objects.get(ref)
        return meta_of(obj) if obj is not None else None

    def refs(self) -> Iterable[ObjectRef]:
        return self._objects.keys()


def ref_key(ref: ObjectRef) -> str:
    """A stable string key of an object, used in saved plans."""
    return f"{ref.api_version}/{ref.kind}/{ref.namespace}/{ref.name}"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def source_id_of(obj: dict[str, Any]) -> str | None:
    labels = _meta(obj).get("labels") or {}
    value = labels.get(ann.SOURCE_ID)
    return str(value) if value else None


# The endpoints controller's label: Endpoints have no ownerReferences (upstream's neither) but
# carry their Service's labels, the source label included.
ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"


def controller_made(obj: dict[str, Any]) -> bool:
    """Objects with ownerReferences belong to their owner (a controller made them), and so do
    the Endpoints the endpoints controller made for a Service."""
    meta = _meta(obj)
    return bool(meta.get("ownerReferences")) or \
        ENDPOINTS_MANAGED_BY in (meta.get("labels") or {})


def with_ownership(
    obj: dict[str, Any], source: SourceInfo, file: str | None, last_applied: str
) -> dict[str, Any]:
    """In place: gitkube's label and annotations on an object about to be written."""
    meta = obj.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    labels[ann.SOURCE_ID] = source.id
    annotations = meta.setdefault("annotations", {})
    annotations[ann.SOURCE] = source.name
    annotations[ann.COMMIT] = source.commit or ""
    if file is not None:
        annotations[ann.FILE] = file
    annotations[ann.LAST_APPLIED] = last_applied
    return obj


def _compare(
    desired: dict[str, Any], live: dict[str, Any], last: dict[str, Any] | None
) -> list[FieldChange]:
    if desired.get("kind") == "Secret":
        # Secrets are compared by value digests: values never enter a FieldChange.
        return three_way(hash_secret_values(desired), hash_secret_values(live), last)
    return three_way(desired, live, last)


def _plan_one(
    item: Desired, live_full: dict[str, Any] | None, source: SourceInfo,
    lookup: LastAppliedLookup | None,
) -> tuple[Change, dict[str, Any] | None]:
    """The Change for one desired object, and the normalized live object it compared."""
    norm = normalize_desired(item.obj)
    ref = ObjectRef.of(norm)
    record, digest = last_applied(norm)
    if live_full is None:
        write = with_ownership(copy_json(norm), source, item.file, digest)
        change = Change(ref, Action.CREATE, desired=write, file=item.file, last_applied=record)
        return change, None
    live = normalize_live(live_full)
    live_digest = (_meta(live_full).get("annotations") or {}).get(ann.LAST_APPLIED)
    last: dict[str, Any] | None
    if live_digest == digest:
        last = record  # git did not change since the last apply: no record to read
    elif live_digest and lookup is not None:
        last = lookup(ref, str(live_digest))
    else:
        last = None
    others = owners.foreign(live_full)
    if others:  # fields other managers own and git does not set are theirs
        norm, last = owners.yield_to_others(others, item.obj, norm, live, last)
    fields = _compare(norm, live, last)
    if others:
        fields = owners.with_owners(others, fields)
    version = str(_meta(live_full).get("resourceVersion") or "") or None
    owner = source_id_of(live_full)
    reason = None
    if owner != source.id:
        reason = (
            f"owned by another source ({owner}); apply takes it over" if owner
            else "not applied by gitkube yet; apply takes it over"
        )
    elif not fields and live_digest != digest:
        reason = "refresh gitkube's last-applied record (live already matches git)"
    if not fields and reason is None:
        return Change(ref, Action.NOOP, live_version=version, file=item.file), live
    write = with_ownership(copy_json(merge(norm, live, last)), source, item.file, digest)
    if version is not None:
        write["metadata"]["resourceVersion"] = version
    change = Change(
        ref, Action.UPDATE, tuple(fields), desired=write, live_version=version,
        file=item.file, reason=reason, last_applied=record,
    )
    return change, live


def make_plan(
    desired: Sequence[Desired],
    live: Mapping[ObjectRef, dict[str, Any]] | LiveView,
    *,
    source: SourceInfo,
    store_url: str = "",
    store_revision: int = 0,
    prune: bool = True,
    lookups: LiveLookups = LiveLookups(),
    caches: NoopCaches = NoopCaches(),
) -> Plan:
    """The plan that makes ``live`` match ``desired``.

    ``live`` holds every live object at a desired object's identity and every live object
    labelled with ``source.id`` (a mapping, or a LiveView that decodes lazily). Pruning
    deletes only objects labelled with this source, without ownerReferences, gone from git,
    and not annotated ``gitkube.io/prune: "false"``. ``lookups`` reads more of the store
    (LiveLookups says what for); ``caches`` skips re-comparing known no-ops (NoopCaches).
    """
    cache, cache_out = caches.read, caches.write
    view: LiveView = DictView(live) if isinstance(live, Mapping) else live
    changes: list[Change] = []
    seen: dict[str, str] = {}
    compared: dict[str, dict[str, Any]] = {}
    wanted: set[ObjectRef] = set()
    warnings: list[str] = []
    for item in desired:
        ref0 = item.ref
        identity = _cache_identity(item, view.meta(ref0), source)
        key0 = ref_key(ref0)
        if identity is not None and cache is not None and cache.get(key0) == identity:
            wanted.add(ref0)
            changes.append(Change(ref0, Action.NOOP, live_version=identity[1], file=item.file))
            seen[key0] = identity[1]
            if cache_out is not None:
                cache_out[key0] = identity
            continue
        live_full = view.get(ref0)
        change, live_norm = _plan_one(item, live_full, source, lookups.last_applied)
        if change.action is Action.NOOP and identity is not None and cache_out is not None:
            cache_out[key0] = identity
        wanted.add(change.ref)
        changes.append(change)
        if live_full is not None:
            key = ref_key(change.ref)
            seen[key] = change.live_version or ""
            if live_norm is not None:
                compared[key] = live_norm
        if change.reason and change.reason.startswith("owned by another source"):
            warnings.append(f"{display(change.ref)} is {change.reason}")
    for ref in sorted(r for r in wanted if r.kind == "Namespace" and not r.namespace):
        terminating = view.get(ref)
        if terminating is not None and _meta(terminating).get("deletionTimestamp"):
            warnings.append(f"{display(ref)} is being deleted (Terminating): nothing can be "
                            "created in it until it is gone; apply again then")

    owned = [
        ref for ref in view.refs()
        if (m := view.meta(ref)) is not None and m.source_id == source.id
        and not m.controller_made
    ]
    gone = {ref: obj for ref in owned if ref not in wanted and (obj := view.get(ref)) is not None}
    # already being deleted (a Terminating Namespace): nothing to do, and nothing to guard
    deleting = {ref for ref, obj in gone.items() if _meta(obj).get("deletionTimestamp")}
    gone = {ref: obj for ref, obj in gone.items() if ref not in deleting}
    deletes, skipped = _prune(list(gone.items()), wanted, prune)
    for ref in [c.ref for c in deletes] + [s.ref for s in skipped]:
        # a saved plan depends on what it prunes and on what it chose to keep
        seen[ref_key(ref)] = str(_meta(gone[ref]).get("resourceVersion") or "")
        compared[ref_key(ref)] = normalize_live(gone[ref])
    deletes, more_skipped = _cascade(deletes, view, source, lookups.namespace_members, wanted)
    plan = Plan(
        source=source,
        store_url=store_url,
        store_revision=store_revision,
        changes=order_changes([*changes, *deletes]),
        skipped=tuple(sorted([*skipped, *more_skipped], key=lambda s: str(s.ref))),
        warnings=tuple(warnings),
        prune=prune,
        desired_count=len(desired),
        owned_count=len(owned) - len(deleting),
        seen=seen,
        compared=compared,
    )
    return plan


def _cache_identity(
    item: Desired, meta: LiveMeta | None, source: SourceInfo
) -> tuple[str, str, str, str] | None:
    if item.content_key is None or meta is None:
        return None
    return (item.content_key, meta.resource_version, meta.uid, source.id)


def desired_ref(obj: dict[str, Any]) -> ObjectRef:
    """The identity a desired object will have once defaulted (namespace ``default``)."""
    meta = _meta(obj)
    api_version = str(obj.get("apiVersion", ""))
    kind = str(obj.get("kind", ""))
    ns = meta.get("namespace")
    if not ns:
        rt = kinds.lookup(api_version, kind)
        ns = "default" if rt is not None and rt.namespaced else ""
    return ObjectRef(api_version, kind, str(ns), str(meta.get("name") or ""))


def _prune(
    owned: list[tuple[ObjectRef, dict[str, Any]]], wanted: set[ObjectRef], prune: bool
) -> tuple[list[Change], list[Skipped]]:
    deletes: list[Change] = []
    skipped: list[Skipped] = []
    for ref, obj in owned:
        if ref in wanted:
            continue
        if not prune:
            skipped.append(Skipped(ref, "gone from git; pruning is disabled (--no-prune)"))
        elif ann.prune_protected(_meta(obj).get("annotations")):
            skipped.append(Skipped(ref, f'gone from git; protected by {ann.PRUNE}: "false"'))
        else:
            version = str(_meta(obj).get("resourceVersion") or "") or None
            deletes.append(
                Change(ref, Action.DELETE, live_version=version,
                       file=(_meta(obj).get("annotations") or {}).get(ann.FILE),
                       reason="gone from git")
            )
    return deletes, skipped


def _cascade(
    deletes: list[Change],
    live: LiveView,
    source: SourceInfo,
    namespace_members: NamespaceMembers | None,
    wanted: set[ObjectRef],
) -> tuple[list[Change], list[Skipped]]:
    """Objects in a Namespace being deleted go with it (not one by one); a Namespace holding
    objects that are not this source's (or are protected) is kept instead."""
    doomed = {c.ref.name for c in deletes if c.ref.kind == "Namespace" and not c.ref.namespace}
    if not doomed:
        return deletes, []
    kept: dict[str, str] = {}
    for ns in sorted(doomed):
        members = (
            list(namespace_members(ns)) if namespace_members is not None
            else [o for r in live.refs() if r.namespace == ns and (o := live.get(r)) is not None]
        )
        blockers = [display(r) for r in sorted(wanted) if r.namespace == ns]
        for obj in members:
            if ObjectRef.of(obj) in wanted:
                continue
            ours = source_id_of(obj) == source.id
            protected = ann.prune_protected(_meta(obj).get("annotations"))
            if (not ours and not controller_made(obj)) or (ours and protected):
                blockers.append(display(ObjectRef.of(obj)))
        if blockers:
            shown = ", ".join(blockers[:3]) + (f" and {len(blockers) - 3} more"
                                               if len(blockers) > 3 else "")
            kept[ns] = f"gone from git; kept because it holds objects not pruned: {shown}"
    out: list[Change] = []
    skipped: list[Skipped] = []
    for change in deletes:
        ref = change.ref
        if ref.kind == "Namespace" and ref.name in kept:
            skipped.append(Skipped(ref, kept[ref.name]))
        elif ref.namespace in doomed and ref.namespace not in kept:
            out.append(Change(ref, Action.DELETE, live_version=change.live_version,
                              file=change.file, reason=f"deleted with Namespace {ref.namespace}",
                              via_namespace=ref.namespace))
        else:
            out.append(change)
    return out, skipped
