"""LocalClient: the api layer in-process, over a Store. The only code that writes objects.

Every write — single or in a transaction — goes through the same three steps:

1. **plan** the write against the object read from the store (``strategy.prepare_*``):
   defaults, server metadata, status separation, generation, finalizers;
2. **validate** the result (schema + metadata rules; every problem in one Invalid);
3. **commit** the store op with ``expected_revision`` = the revision that was read, so a
   concurrent writer makes the write fail with Conflict instead of being overwritten.

Objects are stored as compact JSON without resourceVersion (codec.py); reads decode a fresh
copy and inject resourceVersion from the key's mod_revision.

Transactions and apply history: ``transaction(ops)`` takes CreateOp/UpdateOp/DeleteOp (each
planned and validated exactly like create/update/delete) and PutRecord/DeleteRecord, raw JSON
records under keys starting with ``/gitkube/`` (outside the ``/registry/`` object space, so no
object list or watch sees them). All of them are committed in ONE store transaction: plan's
apply writes its objects and its history entry (e.g. ``/gitkube/history/<seq>``) together, all
or nothing. Read records back with ``get_record``/``list_records``.
"""

from __future__ import annotations

import builtins
import ipaddress
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from gitkube.api import admission, ephemeral, strategy
from gitkube.api.allocator import ALLOCATIONS_PREFIX, Ranges, ServiceAllocator
from gitkube.api.client import (
    ApplyOp,
    BindOp,
    Client,
    CreateOp,
    DeleteOp,
    DeleteRecord,
    FieldSelectorArg,
    LabelSelectorArg,
    ObjectList,
    PatchSubresource,
    PatchType,
    PropagationPolicy,
    PutRecord,
    Record,
    TxnOp,
    TxnResult,
    UpdateOp,
)
from gitkube.api.codec import copy_json, decode, encode, now_rfc3339, parse_revision
from gitkube.api.refusals import (
    conflict,
    describe,
    not_found,
    qualified,
    ref,
    store_error,
    with_prefix,
)
from gitkube.api.ssa import managed
from gitkube.api.ssa.shape import shape_of
from gitkube.api.subresources import apply_patch, bind_pod, scale_of
from gitkube.api.watch import LocalWatcher, gone
from gitkube.errors import (
    AlreadyExists,
    APIError,
    BadRequest,
    Compacted,
    Conflict,
    Forbidden,
    Invalid,
    KeyExists,
    KeyNotFound,
    NotFound,
    RevisionConflict,
)
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType
from gitkube.model.labels import (
    FieldSelector,
    Selector,
    SelectorError,
    as_field_selector,
    as_selector,
)
from gitkube.model.network import DEFAULT_SERVICE_CIDR
from gitkube.model.objects import SYSTEM_NAMESPACES
from gitkube.store.base import Create, Delete, KeyValue, Store, Update
from gitkube.store.base import Op as StoreOp

Obj = dict[str, Any]
RECORD_PREFIX = "/gitkube/"
_NAMESPACES = kinds.RESOURCES[0]
assert _NAMESPACES.kind == "Namespace"

PATCH_RETRIES = 5


@dataclass(frozen=True)
class _Step:
    """One planned write: the store op (None: nothing to write) and what to return."""

    key: str
    op: StoreOp | None
    result: Obj | None  # the object as written (no resourceVersion yet) or as removed
    removed: bool = False
    ref: str = ""  # "Deployment default/web", for error messages
    extra: tuple[StoreOp, ...] = ()  # allocation claims committed with the op


class LocalClient:
    """The Client protocol (gitkube.api.client) over a Store, in this process.

    Thread-safe as far as the store is: all coordination is by store revisions."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None,
                 service_cidr: str = DEFAULT_SERVICE_CIDR):
        self.store = store
        self._clock = clock or (lambda: datetime.now(UTC))
        # ClusterIPs (from ``service_cidr``, the settings' service range) and NodePorts
        self.allocator = ServiceAllocator(
            store, Ranges(ipaddress.IPv4Network(service_cidr, strict=False)))
        # per thread, while a transaction is planned: what admission listed, by kind and
        # namespace (a plan of 10,000 creates asks for a namespace's quotas 10,000 times)
        self._planning = threading.local()

    # --- resolution ------------------------------------------------------------------------

    @staticmethod
    def resource(api_version: str, kind: str) -> ResourceType:
        """The ResourceType for a read; NotFound for a kind gitkube does not serve."""
        rt = kinds.lookup(api_version, kind)
        if rt is None:
            raise NotFound(
                f'the server could not find the requested resource (kind "{kind}" in '
                f'version "{api_version}")',
                hint="`gitkube api-resources` lists the kinds gitkube serves",
            )
        return rt

    @staticmethod
    def _resource_of(obj: Any) -> ResourceType:
        if not isinstance(obj, dict):
            raise BadRequest(f"an object must be a JSON object, got {type(obj).__name__}")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not api_version or not kind:
            raise BadRequest("Object 'Kind' is missing" if not kind
                             else "Object 'apiVersion' is missing")
        rt = kinds.lookup(str(api_version), str(kind))
        if rt is None:
            known = ", ".join(f"{r.api_version}/{r.kind}" for r in kinds.RESOURCES)
            raise BadRequest(f'no kind "{kind}" is registered for version "{api_version}"',
                             hint=f"gitkube serves: {known}")
        return rt

    @staticmethod
    def _key(rt: ResourceType, namespace: str | None, name: str) -> str:
        if not name:
            raise BadRequest(f"a name is required to address a {rt.kind}")
        return rt.key((namespace or "default") if rt.namespaced else None, name)

    def _key_of(self, rt: ResourceType, obj: Obj) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        return self._key(rt, meta.get("namespace"), name), name

    def _now(self) -> str:
        return now_rfc3339(self._clock())

    def _read(self, rt: ResourceType, key: str, name: str) -> KeyValue:
        kv = self.store.get(key)
        if kv is None:
            raise not_found(rt, name)
        return kv

    # --- reads -----------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        rt = self.resource(api_version, kind)
        return decode(self._read(rt, self._key(rt, namespace, name), name))

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: LabelSelectorArg = None,
        field_selector: FieldSelectorArg = None,
    ) -> ObjectList:
        rt = self.resource(api_version, kind)
        labels, fields = self._selectors(label_selector, field_selector)
        kvs, revision = self.store.list(rt.prefix(namespace or None))
        items = [decode(kv) for kv in kvs]
        if not labels.empty or not fields.empty:
            items = [o for o in items if labels.matches_object(o) and fields.matches(o)]
        return ObjectList(items, str(revision), rt.api_version, rt.kind)

    def iter_list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: LabelSelectorArg = None,
        field_selector: FieldSelectorArg = None,
    ) -> tuple[str, Iterator[Obj]]:
        """``list`` one object at a time (not part of the Client protocol): the revision of
        the read (the list's resourceVersion) and an iterator over the matching objects in
        ``list``'s order. An unknown kind, a bad selector or a store failure is raised here,
        before the first item; the store is read once, here, so the items are exactly those
        ``list`` would return at that revision. Each object is decoded only when the
        iterator reaches it and its raw value is dropped then, so at most one decoded object
        is held at a time: the API server streams large lists with it. With a selector, the
        raw JSON is first checked for the values the selector requires (see
        ``_raw_prefilter``), so most non-matching objects are never decoded."""
        rt = self.resource(api_version, kind)
        labels, fields = self._selectors(label_selector, field_selector)
        kvs, revision = self.store.list(rt.prefix(namespace or None))
        return str(revision), _iter_decoded(kvs, labels, fields)

    @staticmethod
    def _selectors(label_selector: LabelSelectorArg, field_selector: FieldSelectorArg) -> Any:
        try:
            return as_selector(label_selector), as_field_selector(field_selector)
        except SelectorError as e:
            raise BadRequest(str(e)) from e

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: LabelSelectorArg = None,
        field_selector: FieldSelectorArg = None,
    ) -> LocalWatcher:
        rt = self.resource(api_version, kind)
        labels, fields = self._selectors(label_selector, field_selector)
        prefix = rt.prefix(namespace or None)
        initial: list[Obj] | None = None
        keys: list[str] | None = None
        if resource_version in (None, "", "0"):
            kvs, since = self.store.list(prefix)
            initial, keys = [], []
            for kv in kvs:
                obj = decode(kv)
                if labels.matches_object(obj) and fields.matches(obj):
                    initial.append(obj)
                    keys.append(kv.key)
        else:
            since = parse_revision(resource_version) or 0
        try:
            raw = self.store.watch(prefix, since)
        except Compacted as e:
            raise gone(e) from e
        return LocalWatcher(raw, initial=initial, initial_keys=keys, labels=labels,
                            fields=fields)

    def get_record(self, key: str) -> Record | None:
        kv = self.store.get(self._record_key(key))
        return None if kv is None else Record(kv.key, json.loads(kv.value), kv.mod_revision)

    def list_records(self, prefix: str) -> builtins.list[Record]:
        kvs, _ = self.store.list(self._record_key(prefix))
        return [Record(kv.key, json.loads(kv.value), kv.mod_revision) for kv in kvs]

    # --- single writes ---------------------------------------------------------------------

    def create(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        return self._one(CreateOp(obj, field_manager))

    def update(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        return self._one(UpdateOp(obj, field_manager))

    def update_status(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        rt = self._resource_of(obj)
        key, name = self._key_of(rt, obj)
        step = self._plan_status(rt, key, name, obj, field_manager)
        result = self._commit([step], single=True).results[0]
        assert result is not None
        return result

    def apply(self, obj: Obj, *, field_manager: str, force: bool = False,
              subresource: Literal["status", "scale"] | None = None) -> Obj:
        op = ApplyOp(obj, field_manager, force)
        for attempt in range(PATCH_RETRIES):
            try:
                step = self._plan_apply(op, subresource or "")
                # the same configuration again: the object as read, nothing to commit
                result = step.result if step.op is None else self._commit(
                    [step], single=True).results[0]
            except (Conflict, AlreadyExists) as e:
                # a write between our read and ours (not a field conflict): read, apply again
                if _field_conflict(e) or attempt == PATCH_RETRIES - 1 or _caller_rv(obj):
                    raise
                continue
            assert result is not None
            return scale_of(result) if subresource == "scale" else result
        raise AssertionError("unreachable")

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
        op = DeleteOp(api_version, kind, namespace, name, propagation_policy,
                      resource_version, uid)
        for attempt in range(PATCH_RETRIES):
            step = self._plan(op, grace=grace_period_seconds)  # preconditions checked here
            try:
                result = self._commit([step], single=True).results[0]
            except Conflict:
                # Someone wrote the object between our read and our write (a status update,
                # say). Without a resourceVersion precondition the caller did not ask for
                # that exact version: read again and retry, as the API server does.
                if resource_version is not None or attempt == PATCH_RETRIES - 1:
                    raise
                continue
            assert result is not None
            return result
        raise AssertionError("unreachable")

    def bind(self, namespace: str | None, name: str, node_name: str, *,
             uid: str | None = None) -> Obj:
        return self._one(BindOp(namespace, name, node_name, uid))

    def _plan_bind(self, op: BindOp) -> _Step:
        """A binding as a transaction step (``bind`` and BindOp in ``transaction``)."""
        rt = self.resource("v1", "Pod")
        name, node_name, uid = op.name, op.node_name, op.uid
        key = self._key(rt, op.namespace, name)
        if not node_name:
            raise BadRequest("a binding needs a target node name")
        kv = self._read(rt, key, name)
        pod = decode(kv)
        meta, spec = pod["metadata"], pod.setdefault("spec", {})
        if uid is not None and meta.get("uid") != uid:
            raise conflict(rt, name, f"Precondition failed: UID in precondition: {uid}, UID in "
                           f"object meta: {meta.get('uid')}")
        bound = spec.get("nodeName")
        if bound:
            if bound == node_name:
                return _Step(key, None, pod, ref=ref(rt, name))
            raise conflict(rt, name, f"pod {name} is already assigned to node {bound!r}")
        if meta.get("deletionTimestamp"):
            raise conflict(rt, name, f"pod {name} is being deleted, cannot be assigned to a "
                           "host")
        bind_pod(pod, node_name, self._now())
        strategy.validate(rt, pod)
        pod["metadata"].pop("resourceVersion", None)
        return _Step(key, Update(key, encode(pod), kv.mod_revision), pod, ref=ref(rt, name))

    def _scalable(self, api_version: str, kind: str) -> ResourceType:
        rt = self.resource(api_version, kind)
        if "scale" not in rt.subresources:
            raise NotFound(f"the server could not find the requested resource "
                           f"({qualified(rt)}/scale): {rt.kind} has no scale subresource")
        return rt

    def get_scale(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        self._scalable(api_version, kind)
        return scale_of(self.get(api_version, kind, namespace, name))

    def update_scale(self, api_version: str, kind: str, namespace: str | None, name: str,
                     replicas: int, *, resource_version: str | None = None,
                     field_manager: str | None = None) -> Obj:
        self._scalable(api_version, kind)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise Invalid(f"Scale.autoscaling {name!r} is invalid: spec.replicas: must be a "
                          "non-negative integer", kind="Scale", name=name, group="autoscaling",
                          causes=[{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                   "message": f"Invalid value: {replicas!r}: must be >= 0"}])
        patch: Obj = {"spec": {"replicas": replicas}}
        if resource_version is not None:
            patch["metadata"] = {"resourceVersion": resource_version}
        return scale_of(self.patch(api_version, kind, namespace, name, patch,
                                   field_manager=field_manager, _subresource_of=("scale")))

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
        listed = self.list(api_version, kind, namespace, label_selector=label_selector,
                           field_selector=field_selector)
        results: builtins.list[Obj] = []
        for obj in listed.items:
            meta = obj["metadata"]
            try:
                results.append(self.delete(api_version, kind, meta.get("namespace"),
                                           meta["name"], propagation_policy=propagation_policy,
                                           grace_period_seconds=grace_period_seconds,
                                           uid=meta.get("uid")))
            except (NotFound, Conflict):
                continue  # gone or replaced meanwhile: not the object that was listed
        return ObjectList(results, str(self.store.revision()), listed.api_version, listed.kind)

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
        _subresource_of: str = "",
    ) -> Obj:
        rt = self.resource(api_version, kind)
        key = self._key(rt, namespace, name)
        for attempt in range(PATCH_RETRIES):
            current = decode(self._read(rt, key, name))
            patched = apply_patch(rt, current, patch, patch_type)
            for field in ("apiVersion", "kind"):
                if patched.get(field) != current.get(field):
                    raise BadRequest(f"a patch cannot change {field}")
            meta = strategy.meta_of(patched)
            if meta.get("name") != name or (
                rt.namespaced and meta.get("namespace") != current["metadata"].get("namespace")
            ):
                raise BadRequest("a patch cannot change metadata.name or metadata.namespace")
            caller_rv = meta.get("resourceVersion") != current["metadata"]["resourceVersion"]
            try:
                if subresource is not None:
                    step = self._plan_subresource(rt, key, name, patched, subresource,
                                                  field_manager)
                    result = self._commit([step], single=True).results[0]
                    assert result is not None
                    return result
                step = self._plan_update(patched, None, field_manager, _subresource_of)
                result = self._commit([step], single=True).results[0]
                assert result is not None
                return result
            except Conflict:
                if caller_rv or attempt == PATCH_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # --- transactions ----------------------------------------------------------------------

    def transaction(self, ops: Sequence[TxnOp]) -> TxnResult:
        """All ops planned and validated first (the first failure is raised, prefixed with
        ``op N (...)``, and nothing is written), then committed in one store transaction.
        A key may appear only once per transaction (BadRequest otherwise)."""
        steps: list[_Step] = []
        terminating: dict[str, bool] = {}
        claims: set[str] = set()  # addresses claimed earlier in this transaction
        # admission's reads of one kind and namespace are made once per transaction: the
        # store does not move while the ops are planned against it
        self._planning.lists = {}
        try:
            for i, op in enumerate(ops):
                try:
                    steps.append(self._plan(op, terminating=terminating, claims=claims))
                except APIError as e:
                    raise with_prefix(e, f"op {i} ({describe(op)})") from e
        finally:
            self._planning.lists = None
        return self._commit(steps, single=False)

    def _one(self, op: TxnOp, *, grace: int | None = None) -> Obj:
        result = self._commit([self._plan(op, grace=grace)], single=True).results[0]
        assert result is not None
        return result

    def _plan(self, op: TxnOp, *, grace: int | None = None,
              terminating: dict[str, bool] | None = None,
              claims: set[str] | None = None) -> _Step:
        claims = set() if claims is None else claims
        if isinstance(op, CreateOp):
            return self._plan_create(op.object, {} if terminating is None else terminating,
                                     claims, op.field_manager)
        if isinstance(op, UpdateOp):
            return self._plan_update(op.object, claims, op.field_manager)
        if isinstance(op, ApplyOp):
            return self._plan_apply(op, "", terminating, claims)
        if isinstance(op, DeleteOp):
            return self._plan_delete(op, grace)
        if isinstance(op, PutRecord):
            return self._plan_put_record(op)
        if isinstance(op, DeleteRecord):
            return self._plan_delete_record(op)
        if isinstance(op, BindOp):
            return self._plan_bind(op)
        raise BadRequest(f"not a transaction op: {op!r}")

    def _plan_create(self, obj: Obj, terminating: dict[str, bool],
                     claims: set[str] | None = None, field_manager: str | None = None,
                     fields: builtins.list[Obj] | None = None) -> _Step:
        rt = self._resource_of(obj)
        now = self._now()
        new = strategy.prepare_create(rt, obj, now=now)
        admission.admit_create(rt, new, self._list_kind)
        strategy.validate(rt, new)
        # managedFields the server computes need no validation (and cost it on every create)
        if fields is not None:
            new["metadata"]["managedFields"] = fields
        elif field_manager:
            self._record(rt, None, new, field_manager, now, "")
        key, name = self._key_of(rt, new)
        if rt.namespaced:
            self._check_namespace(rt, name, new["metadata"]["namespace"], terminating)
        elif rt.kind == "Namespace":  # later ops of this transaction may create inside it
            terminating[name] = False
        extra: tuple[StoreOp, ...] = ()
        if rt.kind == "Service":  # allocate, then validate what is stored
            extra = tuple(self.allocator.on_write(new, None, set() if claims is None
                                                  else claims))
            strategy.validate(rt, new)
        return _Step(key, Create(key, _sized(rt, name, encode(new))), new, ref=ref(rt, name),
                     extra=extra)

    def _list_kind(self, rt: ResourceType, namespace: str | None) -> builtins.list[Obj]:
        """Every stored object of ``rt`` (in ``namespace``): what admission reads (read once
        per transaction, see ``transaction``)."""
        cache: dict[tuple[str, str | None], builtins.list[Obj]] | None = getattr(
            self._planning, "lists", None)
        if cache is not None and (rt.plural, namespace) in cache:
            return cache[rt.plural, namespace]
        kvs, _revision = self.store.list(rt.prefix(namespace))
        found = [decode(kv) for kv in kvs]
        if cache is not None:
            cache[rt.plural, namespace] = found
        return found

    def _check_namespace(self, rt: ResourceType, name: str, namespace: str,
                         terminating: dict[str, bool]) -> None:
        """NotFound to create inside a Namespace that does not exist, Forbidden inside one
        that is being deleted (as upstream's NamespaceLifecycle admission). The system
        namespaces (``default``, ``kube-system``, ...) always exist. ``terminating`` caches
        answers for one call (and knows the Namespaces it created before)."""
        if namespace not in terminating:
            kv = self.store.get(_NAMESPACES.key(None, namespace))
            if kv is None and namespace not in SYSTEM_NAMESPACES:
                raise NotFound(f'namespaces "{namespace}" not found', kind="namespaces",
                               name=namespace,
                               hint=f"create the Namespace first (gitkube applies a Namespace "
                                    f"before what it holds): kind: Namespace, name: "
                                    f"{namespace}")
            meta = json.loads(kv.value).get("metadata") or {} if kv is not None else {}
            terminating[namespace] = bool(meta.get("deletionTimestamp"))
        if terminating[namespace]:
            raise Forbidden(
                f'{qualified(rt)} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated",
                kind=rt.plural, name=name, group=rt.group,
            )

    def _plan_update(self, obj: Obj, claims: set[str] | None = None,
                     field_manager: str | None = None, subresource: str = "",
                     fields: builtins.list[Obj] | None = None) -> _Step:
        rt = self._resource_of(obj)
        key, name = self._key_of(rt, obj)
        kv, old = self._read_expected(rt, key, name, obj)
        new = strategy.prepare_update(rt, admission.carry_over(rt, obj, old), old)
        admission.admit_update(rt, new, old, self._list_kind)
        self._own(rt, old, new, field_manager, subresource,
                  fields if fields is not None else _sent_fields(obj, old, field_manager))
        if rt.kind != "Service":
            return self._finish_update(rt, key, name, kv, old, new)
        # keep/claim/release allocated addresses with the write
        if strategy.is_finalized(new):
            step = self._finish_update(rt, key, name, kv, old, new)
            return replace(step, extra=tuple(self.allocator.on_remove(old)))
        extra = self.allocator.on_write(new, old, set() if claims is None else claims)
        if strategy.spec_of(new) == strategy.spec_of(old):  # allocated values kept: no bump
            new["metadata"]["generation"] = old["metadata"].get("generation")
        return replace(self._finish_update(rt, key, name, kv, old, new), extra=tuple(extra))

    def _plan_status(self, rt: ResourceType, key: str, name: str, obj: Obj,
                     field_manager: str | None = None,
                     fields: builtins.list[Obj] | None = None) -> _Step:
        if not strategy.has_status_subresource(rt):
            raise NotFound(f"the server could not find the requested resource "
                           f"({qualified(rt)}/status): {rt.kind} has no status subresource")
        kv, old = self._read_expected(rt, key, name, obj)
        new = strategy.prepare_status_update(rt, obj, old)
        self._own(rt, old, new, field_manager, "status",
                  fields if fields is not None else _sent_fields(obj, old, field_manager))
        return self._finish_update(rt, key, name, kv, old, new)

    # --- field ownership (gitkube/api/ssa, docs/SSA.md) ------------------------------------

    def _own(self, rt: ResourceType, old: Obj, new: Obj, field_manager: str | None,
             subresource: str, fields: builtins.list[Obj] | None) -> None:
        """Set ``new``'s managedFields: the ones an apply computed or a client wrote
        (``fields``), then an Update's by ``field_manager``; a write with neither keeps
        them as they were. ``[{}]`` from a client clears them (upstream's reset)."""
        if fields == [{}]:
            new["metadata"].pop("managedFields", None)
            return
        if fields is not None:
            new["metadata"]["managedFields"] = fields
            old = {**old, "metadata": {**old["metadata"], "managedFields": fields}}
        if field_manager:
            self._record(rt, old, new, field_manager, self._now(), subresource)
        if not new["metadata"].get("managedFields"):
            new["metadata"].pop("managedFields", None)

    @staticmethod
    def _record(rt: ResourceType, old: Obj | None, new: Obj, manager: str, now: str,
                subresource: str) -> None:
        scope = managed.Scope(subresource, strategy.has_status_subresource(rt))
        fields = managed.update(old, new, shape_of(rt.api_version, rt.kind), manager=manager,
                                api_version=rt.api_version, now=now, scope=scope)
        if fields:
            new["metadata"]["managedFields"] = fields
        else:
            new["metadata"].pop("managedFields", None)

    def _plan_apply(self, op: ApplyOp, subresource: str,
                    terminating: dict[str, bool] | None = None,
                    claims: set[str] | None = None) -> _Step:
        """An apply as a step: the merge and the new managedFields computed against the
        object read now, written with that read's revision as the precondition."""
        config = op.object
        rt = self._resource_of(config)
        key, name = self._key_of(rt, config)
        meta = config.get("metadata")
        if isinstance(meta, dict) and "managedFields" in meta:
            # an applied configuration owns fields; it does not say who owns them
            config = {**config, "metadata": {k: v for k, v in meta.items()
                                             if k != "managedFields"}}
        kv = self.store.get(key)
        expected = parse_revision((config.get("metadata") or {}).get("resourceVersion"))
        if expected is not None and (kv is None or expected != kv.mod_revision):
            raise conflict(rt, name)
        live = decode(kv) if kv is not None else None
        if live is not None:
            live["metadata"].pop("resourceVersion", None)
        body = managed.applied_part(config, subresource, strategy.has_status_subresource(rt))
        scope = managed.Scope(subresource, strategy.has_status_subresource(rt))
        try:
            merged, fields = managed.apply(
                live, body, shape_of(rt.api_version, rt.kind), manager=op.field_manager,
                api_version=rt.api_version, now=self._now(), force=op.force, scope=scope)
        except managed.ApplyConflicts as e:
            # upstream's Status names no object, only the conflicting fields
            raise Conflict(e.message, causes=e.causes(), hint=e.hint) from e
        if kv is None:
            if subresource:
                raise not_found(rt, name)
            return self._plan_create(merged, {} if terminating is None else terminating,
                                     claims, fields=fields)
        if merged == live and fields == (live["metadata"].get("managedFields") or []):
            # the same configuration again: nothing to default, validate or write
            live["metadata"]["resourceVersion"] = str(kv.mod_revision)
            return _Step(key, None, live, ref=ref(rt, name))
        merged["metadata"]["resourceVersion"] = str(kv.mod_revision)
        if subresource == "status":
            return self._plan_status(rt, key, name, merged, fields=fields)
        return self._plan_update(merged, claims, fields=fields)

    def _plan_subresource(self, rt: ResourceType, key: str, name: str, obj: Obj,
                          subresource: PatchSubresource,
                          field_manager: str | None = None) -> _Step:
        if subresource == "status":
            return self._plan_status(rt, key, name, obj, field_manager)
        if rt.kind != "Pod":
            raise NotFound(f"the server could not find the requested resource "
                           f"({qualified(rt)}/{subresource})")
        kv, old = self._read_expected(rt, key, name, obj)
        return self._finish_update(rt, key, name, kv, old, ephemeral.prepare_update(obj, old))

    def _read_expected(self, rt: ResourceType, key: str, name: str,
                       obj: Obj) -> tuple[KeyValue, Obj]:
        kv = self._read(rt, key, name)
        expected = parse_revision((obj.get("metadata") or {}).get("resourceVersion"))
        if expected is not None and expected != kv.mod_revision:
            raise conflict(rt, name)
        return kv, decode(kv)

    def _finish_update(self, rt: ResourceType, key: str, name: str, kv: KeyValue, old: Obj,
                       new: Obj) -> _Step:
        label = ref(rt, name)
        if strategy.is_finalized(new):
            # The last finalizer is gone: the object goes, returned in its final state.
            new["metadata"]["resourceVersion"] = str(kv.mod_revision)
            return _Step(key, Delete(key, kv.mod_revision), new, removed=True, ref=label)
        strategy.validate(rt, new)
        new["metadata"].pop("resourceVersion", None)
        if json.loads(kv.value) == new:
            return _Step(key, None, old, ref=label)  # nothing changed: no write, no event
        return _Step(key, Update(key, _sized(rt, name, encode(new)), kv.mod_revision), new,
                     ref=label)

    def _plan_delete(self, op: DeleteOp, grace: int | None) -> _Step:
        rt = self.resource(op.api_version, op.kind)
        key = self._key(rt, op.namespace, op.name)
        kv = self._read(rt, key, op.name)
        old = decode(kv)
        expected = parse_revision(op.resource_version)
        if expected is not None and expected != kv.mod_revision:
            raise conflict(rt, op.name, "Precondition failed: resourceVersion "
                           f"{op.resource_version} does not match {kv.mod_revision}")
        uid = old["metadata"].get("uid")
        if op.uid is not None and op.uid != uid:
            raise conflict(rt, op.name, f"Precondition failed: UID in precondition: {op.uid}, "
                           f"UID in object meta: {uid}")
        plan = strategy.prepare_delete(rt, old, now=self._now(),
                                       propagation_policy=op.propagation_policy,
                                       grace_period_seconds=grace)
        label = ref(rt, op.name)
        if plan.action == "remove":
            extra = tuple(self.allocator.on_remove(old)) if rt.kind == "Service" else ()
            return _Step(key, Delete(key, kv.mod_revision), old, removed=True, ref=label,
                         extra=extra)  # a Service's addresses go with it
        if plan.action == "none":
            return _Step(key, None, old, ref=label)
        return _Step(key, Update(key, encode(plan.object), kv.mod_revision), plan.object,
                     ref=label)

    @staticmethod
    def _record_key(key: str) -> str:
        if not isinstance(key, str) or not key.startswith(RECORD_PREFIX):
            raise BadRequest(f"record keys must start with {RECORD_PREFIX}: {key!r}")
        return key

    def _plan_put_record(self, op: PutRecord) -> _Step:
        key = self._record_key(op.key)
        if not isinstance(op.value, dict):
            raise BadRequest(f"record {key}: the value must be a JSON object")
        data = json.dumps(op.value, separators=(",", ":"), ensure_ascii=False).encode()
        if op.expected_revision == 0:
            return _Step(key, Create(key, data), None, ref=f"record {key}")
        if op.expected_revision is None and self.store.get(key) is None:
            return _Step(key, Create(key, data), None, ref=f"record {key}")
        return _Step(key, Update(key, data, op.expected_revision), None, ref=f"record {key}")

    def _plan_delete_record(self, op: DeleteRecord) -> _Step:
        key = self._record_key(op.key)
        if self.store.get(key) is None:
            if op.missing_ok:
                return _Step(key, None, None, ref=f"record {key}")
            raise NotFound(f"record {key} not found")
        return _Step(key, Delete(key), None, removed=True, ref=f"record {key}")

    def _commit(self, steps: builtins.list[_Step], *, single: bool) -> TxnResult:
        seen: set[str] = set()
        for step in steps:
            if step.key in seen:
                raise BadRequest(f"a transaction may touch {step.ref} only once")
            seen.add(step.key)
        store_ops = [s.op for s in steps if s.op is not None]
        store_ops += [x for s in steps for x in s.extra]  # allocation claims
        if not store_ops:
            return TxnResult(self.store.revision(), [self._existing(s) for s in steps])
        try:
            revision = self.store.txn(store_ops)
        except (KeyExists, KeyNotFound, RevisionConflict) as e:
            if str(getattr(e, "key", "")).startswith(ALLOCATIONS_PREFIX):
                raise Conflict(f"{e}: an address or port was allocated concurrently",
                               hint="retry the write") from e
            raise store_error(e, [s.key for s in steps], [s.ref for s in steps], single) from e
        results: list[Obj | None] = []
        for step in steps:
            if step.result is None:
                results.append(None)
            elif step.op is None or step.removed:
                results.append(self._existing(step))
            else:
                # Every backend writes a transaction at one revision (etcd's rule), so that
                # revision is each written object's resourceVersion.
                out = copy_json(step.result)
                out["metadata"]["resourceVersion"] = str(revision)
                results.append(out)
        return TxnResult(revision, results)

    @staticmethod
    def _existing(step: _Step) -> Obj | None:
        """The result of a step that wrote nothing new (its object still carries the
        resourceVersion it was read with)."""
        return copy_json(step.result) if step.result is not None else None


MAX_OBJECT_BYTES = 1536 * 1024  # what one stored object may take (etcd's default request cap)


def _sized(rt: ResourceType, name: str, value: bytes) -> bytes:
    """``value``, or Invalid when the object is larger than a store keeps one object."""
    if len(value) > MAX_OBJECT_BYTES:
        raise Invalid(f'{qualified(rt)} "{name}" is invalid: the object is {len(value):,} bytes, '
                      f"more than the {MAX_OBJECT_BYTES:,} bytes one object may take",
                      kind=rt.kind, name=name, group=rt.group,
                      causes=[{"reason": "FieldValueTooLong", "message": (
                          f"the object is {len(value):,} bytes, more than "
                          f"{MAX_OBJECT_BYTES:,}")}])
    return value


def _iter_decoded(kvs: builtins.list[KeyValue], labels: Selector,
                  fields: FieldSelector) -> Iterator[Obj]:
    """The objects of ``kvs`` that match the selectors, decoded one at a time."""
    if labels.matches_nothing:
        return
    selective = not labels.empty or not fields.empty
    prefilter = _raw_prefilter(labels, fields) if selective else None
    pending = kvs[::-1]  # popped from the end: each raw value is released once handled
    del kvs
    while pending:
        kv = pending.pop()
        if prefilter is not None and not prefilter(kv.value):
            continue
        obj = decode(kv)
        if selective and not (labels.matches_object(obj) and fields.matches(obj)):
            continue
        yield obj


_NUMBERISH = frozenset("0123456789+-.eE")


def _raw_prefilter(labels: Selector, fields: FieldSelector) -> Callable[[bytes], bool] | None:
    """A cheap test on an object's stored JSON that is False only for objects the selectors
    cannot match, so they are skipped without being decoded; None when no requirement gives
    one. It is a necessary condition only: objects that pass are decoded and matched fully.

    Why it is sound: in JSON without any backslash (no escape sequences), every string value
    appears verbatim between quotes, and ``true``/``false``/integers verbatim. So an object
    with label ``app=web`` contains ``"web"``, and one whose ``status.phase`` is ``Running``
    contains ``Running``. A stored value with any backslash in it (whatever wrote it) always
    passes. Requirements used: label ``=``/``==``/``in`` (one of the quoted values),
    label ``exists``/``>``/``<`` (the quoted key), and non-negated field requirements with a
    non-empty, non-numeric value (an empty one matches an absent field; a float's text
    could differ from its ``str``)."""
    groups: builtins.list[tuple[bytes, ...]] = []
    for req in labels.requirements:
        if req.operator in ("=", "in"):
            needles = tuple(_quoted(v) for v in req.values)
        elif req.operator in ("exists", "gt", "lt"):
            needles = (_quoted(req.key),)
        else:
            continue
        if needles and all(needles):
            groups.append(tuple(n for n in needles if n))
    for freq in fields.requirements:
        value = freq.value
        if freq.negated or not value or set(value) <= _NUMBERISH or not _plain(value):
            continue
        groups.append((value.encode(),))
    if not groups:
        return None

    def passes(raw: bytes) -> bool:
        if b"\\" in raw:
            return True
        return all(any(n in raw for n in group) for group in groups)

    return passes


def _plain(text: str) -> bool:
    """True when JSON writes ``text`` verbatim (no character that needs escaping)."""
    return all(c not in '"\\' and c >= " " for c in text)


def _quoted(text: str) -> bytes:
    """``"text"`` as JSON writes it unescaped, or b"" when it would be escaped."""
    return b'"' + text.encode() + b'"' if _plain(text) else b""


def _caller_rv(obj: Obj) -> bool:
    """Whether an applied configuration names a resourceVersion (then a race is the
    caller's Conflict, not retried)."""
    meta = obj.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("resourceVersion"))


def _sent_fields(obj: Obj, old: Obj, manager: str | None) -> builtins.list[Obj] | None:
    """managedFields a client wrote itself (kubectl does, to hand client-side apply's
    fields to its server-side applier): a non-empty list that differs from the stored one.
    An empty list changes nothing, so clients unaware of the field never strip it. Only
    from a write that names a manager (every write through the HTTP API does): an agent
    in this process writing back a cached copy must not restore stale ownership."""
    if not manager:
        return None
    sent = (obj.get("metadata") or {}).get("managedFields")
    if not isinstance(sent, builtins.list) or not sent:
        return None
    return sent if sent != old["metadata"].get("managedFields") else None


def _field_conflict(error: APIError) -> bool:
    return any(c.get("reason") == "FieldManagerConflict" for c in error.causes)


def _conforms(client: LocalClient) -> Client:
    """Never called: mypy proves here that LocalClient implements the Client protocol."""
    return client


__all__ = ["RECORD_PREFIX", "LocalClient", "conflict", "not_found"]
