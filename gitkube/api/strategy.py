"""What the api does to an object on each kind of write: pure functions, no store access.

Named after the API server's per-kind "strategies" (PrepareForCreate, PrepareForUpdate,
Validate). ``LocalClient`` reads the current object, calls one of these, and writes the result.

- ``prepare_create``: defaults, namespace, generateName, uid, creationTimestamp, generation 1,
  initial status (workloads: ``{}`` plus the counters upstream always serializes; Pod: phase
  Pending; Namespace: phase Active; Service: ``loadBalancer: {}``; PVC: phase Pending; other
  kinds, Node included, keep what the caller sent); a Namespace gets ``kubernetes`` in its
  ``spec.finalizers`` (upstream's namespace strategy: the namespace controller's hold); a Job
  gets its generated selector and pod labels (``model.defaults.job_selector_defaults``; on
  update too, so an update that leaves them out keeps them).
- ``prepare_update``: defaults; server-owned metadata kept from the stored object; status kept
  (kinds with a status subresource); generation + 1 when anything outside metadata and status
  changed (the spec, or ``data`` of a ConfigMap); no new finalizers once deletion started; a
  Namespace update that does not mention ``spec.finalizers`` keeps the stored ones (upstream
  keeps them always; gitkube's namespace controller releases a Namespace with an update that
  sets them).
- ``prepare_status_update``: the stored object with only ``status`` replaced.
- ``prepare_delete``: finalizers (plus ``orphan``/``foregroundDeletion`` for those
  propagation policies, and a Namespace's ``spec.finalizers``) keep the object with
  deletionTimestamp set (a Namespace also gets status.phase Terminating), and so does a
  pod's graceful termination (deletionTimestamp = now + grace period, until its kubelet
  confirms with grace 0); otherwise it goes.
- ``validate``: the schema (``gitkube.schema.check_object``, its Issue codes mapped to
  Kubernetes cause reasons: required -> FieldValueRequired, enum -> FieldValueNotSupported,
  unsupported-field -> FieldValueForbidden, duplicate-* -> FieldValueDuplicate, ...) plus
  the api's own metadata rules (name present and well formed, ownerReferences complete, at
  most one controller); every problem becomes one ``cause`` of a single Invalid error.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from gitkube.api.codec import copy_json
from gitkube.errors import BadRequest, Conflict, Invalid
from gitkube.model.defaults import apply_defaults, job_selector_defaults
from gitkube.model.kinds import ResourceType
from gitkube.model.pods import deletion_grace_period
from gitkube.model.times import parse_time, rfc3339
from gitkube.schema import check_object

Obj = dict[str, Any]

SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
ORPHAN_FINALIZER = "orphan"
NAMESPACE_FINALIZER = "kubernetes"  # a Namespace's spec.finalizers: the namespace controller
FOREGROUND_FINALIZER = "foregroundDeletion"
_NOT_SPEC = frozenset({"apiVersion", "kind", "metadata", "status"})
# Kinds whose status a create resets: to {} plus the fields upstream always serializes.
_INITIAL_STATUS: dict[str, Obj] = {
    "Deployment": {},
    "Job": {},
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                  "desiredNumberScheduled": 0, "numberReady": 0},
    "Pod": {"phase": "Pending"},
    "Namespace": {"phase": "Active"},
    "Service": {"loadBalancer": {}},
    "PersistentVolumeClaim": {"phase": "Pending"},
    "ReplicationController": {"replicas": 0},
}
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's: no vowels, no look-alikes
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_KINDS = frozenset({"Namespace", "Service"})


def meta_of(obj: Obj) -> Obj:
    """``obj['metadata']`` as a dict (created if missing)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def spec_of(obj: Obj) -> Obj:
    """Everything a generation counts: the top-level fields other than metadata and status."""
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


def has_status_subresource(rt: ResourceType) -> bool:
    return "status" in rt.subresources


# --- create --------------------------------------------------------------------------------


def prepare_create(rt: ResourceType, obj: Obj, *, now: str) -> Obj:
    """The object to store for a create (validation not included)."""
    out = apply_defaults(obj)
    meta = meta_of(out)
    for field in (*SERVER_METADATA, "resourceVersion", "selfLink", "managedFields"):
        meta.pop(field, None)
    if rt.namespaced:
        meta["namespace"] = meta.get("namespace") or "default"
    else:
        meta.pop("namespace", None)
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(random.choice(_GENERATE_ALPHABET) for _ in range(5))
        meta["name"] = f"{meta['generateName']}{suffix}"
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now
    meta["generation"] = 1
    if rt.kind == "Job":
        job_selector_defaults(out)
    if rt.kind in _INITIAL_STATUS:
        out["status"] = copy_json(_INITIAL_STATUS[rt.kind])
    if rt.kind == "Namespace":
        # Not a default (plan's normalisation never adds it; the diff ignores fields only the
        # live object has): upstream sets it in the strategy so that it can later be removed.
        spec = out.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        out["spec"] = spec
        held = spec.get("finalizers")
        held = list(held) if isinstance(held, list) else []
        if NAMESPACE_FINALIZER not in held:
            held.append(NAMESPACE_FINALIZER)
        spec["finalizers"] = held
    return out


# --- update --------------------------------------------------------------------------------


def prepare_update(rt: ResourceType, obj: Obj, old: Obj) -> Obj:
    """The object to store for an update of ``old`` by ``obj``."""
    out = apply_defaults(obj)
    meta = meta_of(out)
    old_meta = meta_of(old)
    uid = meta.get("uid")
    if uid and uid != old_meta.get("uid"):
        raise Conflict(
            f"Precondition failed: UID in object meta: {uid}, stored: {old_meta.get('uid')}",
            kind=rt.kind,
            name=str(old_meta.get("name")),
            group=rt.group,
        )
    _keep_server_metadata(rt, meta, old_meta)
    if rt.kind == "Job":  # an update that leaves them out keeps them, as a patch would
        job_selector_defaults(out)
    if has_status_subresource(rt):
        out.pop("status", None)
        if "status" in old:
            out["status"] = copy_json(old["status"])
    if rt.kind == "Namespace" and spec_finalizers(old):
        spec = out.get("spec")
        if not isinstance(spec, dict) or spec.get("finalizers") is None:
            out["spec"] = {**(spec if isinstance(spec, dict) else {}),
                           "finalizers": spec_finalizers(old)}
    if spec_of(out) != spec_of(old):
        meta["generation"] = int(old_meta.get("generation") or 0) + 1
    if old_meta.get("deletionTimestamp"):
        _check_no_new_finalizers(rt, meta, old_meta)
    if rt.kind in ("ConfigMap", "Secret") and old.get("immutable") is True:
        _check_immutable(rt, out, old)
    _order_like(out, old)
    return out


def _keep_server_metadata(rt: ResourceType, meta: Obj, old_meta: Obj) -> None:
    """The metadata a client may not change keeps its stored values: the server's fields,
    the namespace and generateName."""
    for field in (*SERVER_METADATA, "selfLink", "managedFields"):
        meta.pop(field, None)
        if field in old_meta:
            meta[field] = copy_json(old_meta[field])
    if rt.namespaced:
        meta["namespace"] = old_meta.get("namespace")
    else:
        meta.pop("namespace", None)
    meta.pop("generateName", None)
    if "generateName" in old_meta:
        meta["generateName"] = old_meta["generateName"]


def _check_no_new_finalizers(rt: ResourceType, meta: Obj, old_meta: Obj) -> None:
    """Invalid when an update adds a finalizer to an object being deleted."""
    added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
    if added:
        raise Invalid(
            f'{rt.kind} "{old_meta.get("name")}" is invalid: metadata.finalizers: '
            "Forbidden: no new finalizers can be added if the object is being deleted",
            kind=rt.kind,
            name=str(old_meta.get("name")),
            group=rt.group,
            causes=[_cause("FieldValueForbidden", "metadata.finalizers",
                           "no new finalizers can be added if the object is being deleted")],
        )


def _check_immutable(rt: ResourceType, new: Obj, old: Obj) -> None:
    """An immutable ConfigMap or Secret keeps its data, and stays immutable (upstream's
    ValidateConfigMapUpdate / ValidateSecretUpdate)."""
    name = str(meta_of(old).get("name"))
    causes = []
    if new.get("immutable") is not True:
        causes.append(_cause("FieldValueForbidden", "immutable",
                             "field is immutable when `immutable` is set"))
    fields = ("data", "binaryData") if rt.kind == "ConfigMap" else ("data", "stringData")
    for field in fields:
        if (new.get(field) or {}) != (old.get(field) or {}):
            causes.append(_cause("FieldValueForbidden", field,
                                 "field is immutable when `immutable` is set"))
    if causes:
        first = causes[0]
        raise Invalid(
            f'{rt.kind} "{name}" is invalid: {first["field"]}: Forbidden: {first["message"]}',
            kind=rt.kind, name=name, group=rt.group, causes=causes)


def prepare_status_update(rt: ResourceType, obj: Obj, old: Obj) -> Obj:
    """``old`` with its status replaced by ``obj``'s (nothing else changes)."""
    out: Obj = copy_json(old)
    meta_of(out).pop("resourceVersion", None)
    if "status" in obj:
        out["status"] = copy_json(obj["status"])
    else:
        out.pop("status", None)
    return out


def _order_like(out: Obj, old: Obj) -> None:
    """Keep the top-level key order of the stored object (stable bytes, fewer no-op writes)."""
    order = [k for k in old if k in out] + [k for k in out if k not in old]
    items = [(k, out[k]) for k in order]
    out.clear()
    out.update(items)


def spec_finalizers(obj: Obj) -> list[str]:
    """A Namespace's ``spec.finalizers`` (the namespace controller's hold on it); [] for
    every other kind."""
    if obj.get("kind") != "Namespace":
        return []
    spec = obj.get("spec")
    value = spec.get("finalizers") if isinstance(spec, dict) else None
    return list(value) if isinstance(value, list) else []


def is_finalized(obj: Obj) -> bool:
    """Deletion started and nothing holds the object any more: it should be removed (by the
    update that released it). A pod whose graceful termination is still under way
    (``deletionGracePeriodSeconds`` > 0) is not: its kubelet's delete with grace 0 removes
    it, and its status writes meanwhile must not (upstream's shouldDeleteDuringUpdate)."""
    meta = meta_of(obj)
    grace = meta.get("deletionGracePeriodSeconds")
    return (bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")
            and not spec_finalizers(obj) and not (isinstance(grace, int) and grace > 0))


# --- delete --------------------------------------------------------------------------------

DeleteAction = Literal["remove", "update", "none"]


@dataclass(frozen=True)
class DeletePlan:
    action: DeleteAction
    object: Obj


def prepare_delete(
    rt: ResourceType,
    old: Obj,
    *,
    now: str,
    propagation_policy: str | None,
    grace_period_seconds: int | None,
) -> DeletePlan:
    """Remove the object, or mark it deleting (deletionTimestamp) while something holds it:
    finalizers, or — for a Pod a kubelet runs — its graceful termination.

    A Pod's grace period is ``grace_period_seconds``, or its own
    ``spec.terminationGracePeriodSeconds`` when none is given; 0 for a pod on no node or
    that has finished (``gitkube.model.pods.deletion_grace_period``). With a grace period the
    pod stays with ``deletionTimestamp`` = now + grace and ``deletionGracePeriodSeconds`` =
    grace until its kubelet, having stopped the containers, deletes it with grace 0. Deleting
    it again may only shorten the grace period (both fields move); a longer one or none
    changes nothing — upstream's BeforeDelete."""
    if propagation_policy not in (None, "Orphan", "Background", "Foreground"):
        raise BadRequest(
            f"propagationPolicy {propagation_policy!r} is not one of Orphan, Background, "
            "Foreground"
        )
    if grace_period_seconds is not None and grace_period_seconds < 0:
        raise BadRequest(f"gracePeriodSeconds {grace_period_seconds} is invalid: it must be "
                         "0 (delete now) or more seconds",
                         hint="leave it out to use the pod's terminationGracePeriodSeconds")
    out = copy_json(old)
    meta = meta_of(out)
    meta.pop("resourceVersion", None)
    finalizers = list(meta.get("finalizers") or [])
    extra = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(
        propagation_policy or ""
    )
    if extra and extra not in finalizers:
        finalizers.append(extra)
    held = bool(finalizers or spec_finalizers(out))
    if meta.get("deletionTimestamp"):
        return _delete_again(out, finalizers, held, grace_period_seconds, now)
    grace = deletion_grace_period(old, grace_period_seconds) if rt.kind == "Pod" else 0
    if not held and not grace:
        return DeletePlan("remove", out)
    meta["finalizers"] = finalizers
    if not finalizers:
        meta.pop("finalizers")
    meta["deletionTimestamp"] = _later(now, grace)
    meta["deletionGracePeriodSeconds"] = grace
    meta["generation"] = int(meta.get("generation") or 0) + 1
    if rt.kind == "Namespace":
        status = out.get("status")
        out["status"] = {**(status if isinstance(status, dict) else {}), "phase": "Terminating"}
    return DeletePlan("update", out)


def _delete_again(out: Obj, finalizers: list[str], held: bool, grace: int | None,
                  now: str) -> DeletePlan:
    """A deletion of an object already being deleted (``out``: its copy)."""
    meta = meta_of(out)
    pending = meta.get("deletionGracePeriodSeconds")
    if isinstance(pending, int) and pending > 0:  # a graceful termination is under way
        if grace is None or grace >= pending:
            return DeletePlan("none", out)  # only a shorter grace period is taken
        if grace == 0 and not held:
            return DeletePlan("remove", out)  # the kubelet's confirmation, or a forced one
        # the deadline moves earlier by the difference (upstream's arithmetic)
        deadline = parse_time(meta.get("deletionTimestamp"))
        meta["deletionTimestamp"] = _later(now, grace) if deadline is None else \
            rfc3339(deadline - pending + grace)
        meta["deletionGracePeriodSeconds"] = grace
        return DeletePlan("update", out)
    if not held:
        return DeletePlan("remove", out)
    if finalizers != list(meta.get("finalizers") or []):
        meta["finalizers"] = finalizers
        return DeletePlan("update", out)
    return DeletePlan("none", out)


def _later(now: str, seconds: int) -> str:
    """The timestamp ``seconds`` after ``now`` (both as the API writes them)."""
    if not seconds:
        return now
    start = parse_time(now)
    return now if start is None else rfc3339(start + seconds)


# --- validation ----------------------------------------------------------------------------

_REASONS = (
    ("required", "FieldValueRequired"),
    ("missing", "FieldValueRequired"),
    ("unsupported-value", "FieldValueNotSupported"),
    ("unsupported", "FieldValueForbidden"),
    ("forbidden", "FieldValueForbidden"),
    ("unknown-field", "FieldValueNotFound"),
    ("enum", "FieldValueNotSupported"),
    ("not-supported", "FieldValueNotSupported"),
    ("duplicate", "FieldValueDuplicate"),
    ("too-long", "FieldValueTooLong"),
)


def _cause(reason: str, field: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


def _schema_causes(obj: Obj) -> list[dict[str, str]]:
    causes = []
    for issue in check_object(obj):
        reason = next((r for word, r in _REASONS if word in issue.code), "FieldValueInvalid")
        message = f"{issue.message} (hint: {issue.hint})" if issue.hint else issue.message
        causes.append(_cause(reason, issue.dotted, message))
    return causes


def _metadata_causes(rt: ResourceType, obj: Obj) -> list[dict[str, str]]:
    meta = meta_of(obj)
    causes: list[dict[str, str]] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        causes.append(_cause("FieldValueRequired", "metadata.name",
                             "Required value: name or generateName is required"))
    else:
        pattern = _LABEL if rt.kind in _DNS_LABEL_KINDS else _SUBDOMAIN
        limit = 63 if rt.kind in _DNS_LABEL_KINDS else 253
        if len(name) > limit or not pattern.match(name):
            causes.append(_cause(
                "FieldValueInvalid", "metadata.name",
                f'Invalid value: "{name}": must be a lowercase RFC 1123 '
                f"{'label' if limit == 63 else 'subdomain'} (at most {limit} characters: "
                "a-z, 0-9, '-'" + ("" if limit == 63 else ", '.'") + ")",
            ))
    owners = meta.get("ownerReferences")
    if owners is not None and not isinstance(owners, list):
        causes.append(_cause("FieldValueInvalid", "metadata.ownerReferences", "must be a list"))
        owners = []
    controllers = 0
    for i, ref in enumerate(owners or []):
        where = f"metadata.ownerReferences[{i}]"
        if not isinstance(ref, dict):
            causes.append(_cause("FieldValueInvalid", where, "must be an object"))
            continue
        for field in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref.get(field), str) or not ref.get(field):
                causes.append(_cause("FieldValueRequired", f"{where}.{field}", "Required value"))
        controllers += 1 if ref.get("controller") is True else 0
    if controllers > 1:
        causes.append(_cause("FieldValueInvalid", "metadata.ownerReferences",
                             "Only one reference can have Controller set to true"))
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) and f for f in finalizers)
    ):
        causes.append(_cause("FieldValueInvalid", "metadata.finalizers",
                             "must be a list of non-empty strings"))
    return causes


def validate(rt: ResourceType, obj: Obj) -> None:
    """Raise Invalid listing every problem of ``obj`` (schema and metadata), or return."""
    causes = _metadata_causes(rt, obj)
    seen = {c["field"] for c in causes}
    causes += [c for c in _schema_causes(obj) if c["field"] not in seen]
    if not causes:
        return
    name = str(meta_of(obj).get("name") or meta_of(obj).get("generateName") or "")
    qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    details = "; ".join(f"{c['field']}: {c['message']}" for c in causes)
    raise Invalid(
        f'{qualified} "{name}" is invalid: [{details}]',
        kind=rt.kind,
        name=name,
        group=rt.group,
        causes=causes,
        hint="fix every field listed; `gitkube validate` checks manifests before apply",
    )
