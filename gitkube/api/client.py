"""The Client interface: how agents, apply and the CLI read and write objects.

Two implementations share it: ``LocalClient`` (gitkube/api/local.py, in-process over a Store)
and ``HTTPClient`` (gitkube/api/http_client.py) speaking the Kubernetes REST API that
``gitkube.api.server.APIServer`` serves (docs/HTTP_API.md). Everything here is plain data so
it maps one-to-one onto that API:

=====================  ==================================================================
Client                 Kubernetes REST
=====================  ==================================================================
get                    GET    .../namespaces/NS/PLURAL/NAME
list                   GET    .../[namespaces/NS/]PLURAL?labelSelector=&fieldSelector=
watch                  GET    ...?watch=true&resourceVersion=RV
create                 POST   .../namespaces/NS/PLURAL
update                 PUT    .../PLURAL/NAME          (status ignored)
update_status          PUT    .../PLURAL/NAME/status   (only status)
patch                  PATCH  .../PLURAL/NAME[/status] (merge, json, strategic)
delete                 DELETE .../PLURAL/NAME  body DeleteOptions{propagationPolicy, ...}
get_scale/update_scale GET/PUT .../PLURAL/NAME/scale   (autoscaling/v1 Scale)
bind                   POST   .../pods/NAME/binding   (Binding{target: {kind: Node, name}})
delete_collection      DELETE .../[namespaces/NS/]PLURAL?labelSelector=&fieldSelector=
transaction            (gitkube extension: POST /apis/gitkube.io/v1/transactions)
get_record/list_rec..  (gitkube extension: raw records under /gitkube/)
=====================  ==================================================================

Objects are JSON-compatible dicts in wire form; every object a Client returns is the
caller's own copy (mutating it changes nothing else). ``namespace`` is ignored for
cluster-scoped kinds; pass None or "". Every failure is a ``gitkube.errors.APIError``
subclass (NotFound, AlreadyExists, Conflict, Invalid, BadRequest, Gone) whose ``status()`` is
the Kubernetes Status object.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gitkube.model.labels import FieldSelector, Selector

if TYPE_CHECKING:
    from gitkube.api.shared import SharedObject

Obj = dict[str, Any]
WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
PatchType = Literal["merge", "json", "strategic"]
PropagationPolicy = Literal["Orphan", "Background", "Foreground"]
# What a patch may address besides the object itself: its status, or a pod's ephemeral
# containers (``kubectl debug``: only spec.ephemeralContainers changes, gitkube/api/ephemeral.py)
PatchSubresource = Literal["status", "ephemeralcontainers"]
LabelSelectorArg = str | Mapping[str, Any] | Selector | None
FieldSelectorArg = str | FieldSelector | None


@dataclass(frozen=True)
class ObjectList:
    """The answer of ``list``: the items (sorted by namespace, then name) and the store
    revision the read saw, as a string (pass it to ``watch`` to miss nothing)."""

    items: list[Obj]
    resource_version: str
    api_version: str = ""
    kind: str = ""

    def to_dict(self) -> Obj:
        """The wire form: ``{kind: PodList, apiVersion, metadata: {resourceVersion}, items}``."""
        return {
            "kind": f"{self.kind}List",
            "apiVersion": self.api_version,
            "metadata": {"resourceVersion": self.resource_version},
            "items": self.items,
        }


class WatchEvent:
    """One change to an object seen by a watch (the store's own are StoreEvents of keys).
    For DELETED, ``object`` is the last state with the resourceVersion of the deletion.

    ``object`` is the caller's own, like every object a Client returns. An event from a store
    watch also carries ``shared``: the object as every watcher of that store event sees it,
    decoded and encoded once (read-only); its ``object`` is decoded only when first used."""

    __slots__ = ("_object", "shared", "type")

    def __init__(self, type: WatchEventType, object: Obj | None = None, *,
                 shared: SharedObject | None = None):
        if object is None and shared is None:
            raise ValueError("a WatchEvent needs its object or a shared one")
        self.type = type
        self._object = object
        self.shared = shared

    @property
    def object(self) -> Obj:
        if self._object is None:
            assert self.shared is not None
            self._object = self.shared.fresh()
        return self._object

    def to_dict(self) -> Obj:
        return {"type": self.type, "object": self.object}

    def __eq__(self, other: builtins.object) -> bool:
        if not isinstance(other, WatchEvent):
            return NotImplemented
        return self.type == other.type and self.object == other.object

    __hash__ = None  # type: ignore[assignment]  # objects are dicts: not hashable

    def __repr__(self) -> str:
        return f"WatchEvent(type={self.type!r}, object={self.object!r})"


class Watcher(Protocol):
    """A live, ordered stream of WatchEvents. Iterating blocks for the next event;
    ``next_event(timeout)`` returns None when nothing arrived in time. Both raise
    ``gitkube.errors.Gone`` when the requested history was compacted (relist, then watch from
    the list's resourceVersion). Close it when done; it is also a context manager."""

    def __iter__(self) -> Iterator[WatchEvent]: ...

    def next_event(self, timeout: float | None = None) -> WatchEvent | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Watcher: ...

    def __exit__(self, *exc: object) -> None: ...


# --- transactions --------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateOp:
    """Create ``object`` (validated and defaulted like ``Client.create``); ``field_manager``
    records the fields it sets in ``metadata.managedFields`` (an Update)."""

    object: Obj
    field_manager: str | None = None


@dataclass(frozen=True)
class UpdateOp:
    """Update ``object`` like ``Client.update`` (its metadata.resourceVersion, when set, is a
    precondition). ``field_manager`` records what it changes (an Update)."""

    object: Obj
    field_manager: str | None = None


@dataclass(frozen=True)
class ApplyOp:
    """Server-side apply of ``object`` (a configuration) by ``field_manager``, like
    ``Client.apply``: created when missing; a Conflict listing every field another manager
    owns unless ``force``. docs/SSA.md."""

    object: Obj
    field_manager: str
    force: bool = False


@dataclass(frozen=True)
class DeleteOp:
    """Delete like ``Client.delete``; ``resource_version``/``uid`` are preconditions."""

    api_version: str
    kind: str
    namespace: str | None
    name: str
    propagation_policy: PropagationPolicy | None = None
    resource_version: str | None = None
    uid: str | None = None


@dataclass(frozen=True)
class PutRecord:
    """Write a raw gitkube record: ``key`` must start with ``/gitkube/``; ``value`` is any
    JSON-compatible dict. Not validated, not defaulted, no metadata. ``expected_revision``:
    None = create or overwrite; 0 = must not exist; N = must be at revision N."""

    key: str
    value: Obj
    expected_revision: int | None = None


@dataclass(frozen=True)
class DeleteRecord:
    """Delete a raw gitkube record (NotFound if missing unless ``missing_ok``)."""

    key: str
    missing_ok: bool = False


@dataclass(frozen=True)
class BindOp:
    """Bind a pod to a node like ``Client.bind`` (the scheduler batches its bindings)."""

    namespace: str | None
    name: str
    node_name: str
    uid: str | None = None


TxnOp = CreateOp | UpdateOp | ApplyOp | DeleteOp | PutRecord | DeleteRecord | BindOp


@dataclass(frozen=True)
class Record:
    """A raw gitkube record as stored: its key, JSON value and store revision."""

    key: str
    value: Obj
    revision: int


@dataclass(frozen=True)
class TxnResult:
    """What a transaction wrote: the store revision after it, and for each op (in order) the
    resulting object — the created/updated object, the deleted object (or the object now
    carrying deletionTimestamp when finalizers keep it) — or None for record ops."""

    revision: int
    results: list[Obj | None] = field(default_factory=list)


# --- the interface -------------------------------------------------------------------------


class Client(Protocol):
    """The api. See the module docstring and docs/API.md for the full contract."""

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        """The object; NotFound if it does not exist."""
        ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: LabelSelectorArg = None,
        field_selector: FieldSelectorArg = None,
    ) -> ObjectList:
        """Objects of a kind in one namespace (None = all), filtered by the selectors."""
        ...

    def create(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        """Validate, default and store a new object; returns it with uid, resourceVersion,
        generation 1 and creationTimestamp. AlreadyExists, Invalid, BadRequest.
        ``field_manager`` (here and in every write): the manager that owns what the write
        sets, in ``metadata.managedFields`` (None: ownership is left as it is)."""
        ...

    def update(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        """Replace an object's spec and metadata; its status is kept (kinds with a status
        subresource). Conflict when metadata.resourceVersion is set and stale; NotFound."""
        ...

    def update_status(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        """Replace only the status of an object; everything else is kept."""
        ...

    def apply(self, obj: Obj, *, field_manager: str, force: bool = False,
              subresource: Literal["status", "scale"] | None = None) -> Obj:
        """Server-side apply of the configuration ``obj`` by ``field_manager``
        (docs/SSA.md): created when missing; fields it sets are merged in and owned by the
        manager; fields it applied before and leaves out now are removed unless another
        manager owns them. Conflict (reason Conflict, a FieldManagerConflict cause per
        field) when it would change fields another manager owns, unless ``force``."""
        ...

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: PatchType = "merge",
        *,
        subresource: PatchSubresource | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        """Apply a merge (RFC 7386), json (RFC 6902) or strategic-merge patch to the current
        object, then write it like update (or update_status for ``subresource="status"``;
        for ``"ephemeralcontainers"`` only the pod's ephemeral containers change)."""
        ...

    def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        resource_version: str | None = None,
        uid: str | None = None,
    ) -> Obj:
        """Delete; returns the object as removed, or — when finalizers keep it — as it is now,
        with metadata.deletionTimestamp set. NotFound; Conflict on a failed precondition."""
        ...

    def bind(self, namespace: str | None, name: str, node_name: str, *,
             uid: str | None = None) -> Obj:
        """Bind a pod to a node (the scheduler's write): sets spec.nodeName and the
        PodScheduled=True condition. Conflict when the pod is already bound (to another node)
        or its uid differs from ``uid``; NotFound when it is gone."""
        ...

    def get_scale(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        """The ``autoscaling/v1`` Scale of a Deployment, ReplicaSet or StatefulSet:
        ``spec.replicas``, ``status.replicas`` and ``status.selector`` (string form)."""
        ...

    def update_scale(self, api_version: str, kind: str, namespace: str | None, name: str,
                     replicas: int, *, resource_version: str | None = None,
                     field_manager: str | None = None) -> Obj:
        """Set ``spec.replicas`` (like ``kubectl scale``); returns the new Scale. Conflict when
        ``resource_version`` is given and stale."""
        ...

    def delete_collection(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: LabelSelectorArg = None,
        field_selector: FieldSelectorArg = None,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
    ) -> ObjectList:
        """Delete every matching object, one by one (not atomic, like upstream's
        deletecollection), each as ``delete`` with the same options; objects that vanish
        meanwhile are skipped. Returns what each delete returned."""
        ...

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: LabelSelectorArg = None,
        field_selector: FieldSelectorArg = None,
    ) -> Watcher:
        """Changes after ``resource_version``; with None or "0" first a synthetic ADDED per
        existing object. Gone (410) when that version was compacted."""
        ...

    def transaction(self, ops: Sequence[TxnOp]) -> TxnResult:
        """Every op validated and prepared exactly like its single-object call, then all
        written in one store transaction: all or nothing. The first failing op's error is
        raised (its message names the op index) and nothing is written."""
        ...

    def get_record(self, key: str) -> Record | None:
        """A raw gitkube record (key under ``/gitkube/``), or None."""
        ...

    def list_records(self, prefix: str) -> builtins.list[Record]:
        """Raw gitkube records under ``prefix`` (which starts with ``/gitkube/``), by key."""
        ...
