"""Admission: what the api does to a new or changed object using other stored objects,
after the strategy has prepared it and before it is validated and written (upstream's
admission plugins, in-process).

- **Priority** (pods): ``spec.priorityClassName`` resolved to ``spec.priority`` and
  ``spec.preemptionPolicy`` (``gitkube/model/priority.py``; the built-in
  ``system-*-critical`` classes are known even before they are stored); a missing class is
  403 Forbidden as upstream.
- **PriorityClass**: at most one ``globalDefault``; ``value`` and ``preemptionPolicy``
  cannot change (upstream's immutability rule).
- **LimitRanger** (pods): the namespace's LimitRanges' defaults written into the
  containers (annotation ``kubernetes.io/limit-ranger``), then min/max/ratio checked
  (``gitkube/model/limitrange.py``); 403 with upstream's messages.
- **ResourceQuota** (every namespaced create, after the others): what the new object
  would add to each quota of its namespace that counts it, over the usage of what is
  stored now (``gitkube/model/quota.py``); over a hard limit: 403 "exceeded quota: ...".

Each plugin reads what it needs through ``Lister`` (a read of the store at the time of the
write) and mutates the object in place or raises an APIError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitkube.errors import Forbidden, Invalid
from gitkube.model import kinds, limitrange, quota
from gitkube.model.kinds import ResourceType
from gitkube.model.priority import PriorityRefused, resolve

Obj = dict[str, Any]
Lister = Callable[[ResourceType, str | None], list[Obj]]  # (kind, namespace) -> objects

_PRIORITY_CLASSES = kinds.lookup("scheduling.k8s.io/v1", "PriorityClass")
_QUOTAS = kinds.lookup("v1", "ResourceQuota")
_LIMIT_RANGES = kinds.lookup("v1", "LimitRange")
_PODS = kinds.lookup("v1", "Pod")
LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def admit_create(rt: ResourceType, obj: Obj, lister: Lister) -> None:
    """Run the admission plugins for creating ``obj`` (changed in place)."""
    if rt.kind == "Pod":
        _pod_priority(rt, obj, lister)
        _limit_ranger(rt, obj, lister)
    elif rt.kind == "PriorityClass":
        _one_global_default(rt, obj, lister)
    if rt.namespaced:
        _resource_quota(rt, obj, lister)


def admit_update(rt: ResourceType, obj: Obj, old: Obj, lister: Lister) -> None:
    """Run the admission plugins for replacing ``old`` with ``obj``."""
    if rt.kind == "PriorityClass":
        changed = [f for f in ("value", "preemptionPolicy") if obj.get(f) != old.get(f)]
        if changed:
            raise Invalid(
                f'PriorityClass.scheduling.k8s.io "{_name(obj)}" is invalid: {changed[0]}: '
                "Invalid value: field is immutable",
                kind=rt.plural, name=_name(obj), group=rt.group,
                causes=[{"reason": "FieldValueInvalid", "field": changed[0],
                         "message": "Invalid value: field is immutable"}],
                hint="delete the PriorityClass and create it again to change it")
        _one_global_default(rt, obj, lister)


def _pod_priority(rt: ResourceType, pod: Obj, lister: Lister) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict) or _PRIORITY_CLASSES is None:
        return
    classes = {_name(pc): pc for pc in lister(_PRIORITY_CLASSES, None)}
    try:
        found = resolve(spec, classes)
    except PriorityRefused as e:
        raise Forbidden(f'pods "{_name(pod)}" is forbidden: {e.message}', kind=rt.plural,
                        name=_name(pod),
                        hint="create the PriorityClass first, or fix priorityClassName"
                        ) from e
    if found.class_name:
        spec["priorityClassName"] = found.class_name
    spec["priority"] = found.value
    spec["preemptionPolicy"] = found.preemption_policy


def carry_over(rt: ResourceType, obj: Obj, old: Obj) -> Obj:
    """``obj`` (an update's body) with what admission decided at creation and the body
    leaves out: a pod's priority fields (a whole pod written again from a manifest lacks
    them). A new dict when something is carried over; run before the strategy, so that
    the generation does not move for it."""
    spec, before = obj.get("spec"), old.get("spec")
    if rt.kind != "Pod" or not isinstance(spec, dict) or not isinstance(before, dict):
        return obj
    kept = {f: before[f] for f in ("priorityClassName", "priority", "preemptionPolicy")
            if f in before and spec.get(f) is None}
    return {**obj, "spec": {**spec, **kept}} if kept else obj


def _forbidden(rt: ResourceType, obj: Obj, messages: list[str], hint: str) -> Forbidden:
    what = messages[0] if len(messages) == 1 else f"[{', '.join(messages)}]"
    plural = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    return Forbidden(f'{plural} "{_name(obj)}" is forbidden: {what}', kind=rt.plural,
                     name=_name(obj), group=rt.group, hint=hint)


def _limit_ranger(rt: ResourceType, pod: Obj, lister: Lister) -> None:
    spec = pod.get("spec")
    ns = (pod.get("metadata") or {}).get("namespace")
    if not isinstance(spec, dict) or _LIMIT_RANGES is None:
        return
    ranges = lister(_LIMIT_RANGES, ns)
    if not ranges:
        return
    notes = limitrange.apply_defaults(spec, ranges)
    if notes:
        annotations = pod["metadata"].setdefault("annotations", {})
        annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
    problems = limitrange.violations(spec, ranges)
    if problems:
        raise _forbidden(rt, pod, problems, "fit the container's resources within the "
                         "namespace's LimitRange (kubectl describe limitrange)")


def _resource_quota(rt: ResourceType, obj: Obj, lister: Lister) -> None:
    ns = (obj.get("metadata") or {}).get("namespace")
    if _QUOTAS is None or _PODS is None:
        return
    quotas = lister(_QUOTAS, ns)
    if not quotas:
        return
    delta = quota.pod_usage(obj) if rt.kind == "Pod" else quota.object_usage(rt.plural,
                                                                            rt.group)
    for q in quotas:
        hard = (q.get("spec") or {}).get("hard") or {}
        missing = quota.missing_compute(hard, obj) if rt.kind == "Pod" and \
            quota.counts(obj) else []
        if missing:
            raise _forbidden(rt, obj, [f"failed quota: {_name(q)}: must specify "
                                       + "; ".join(missing)],
                             "set these resources on every container (or a LimitRange "
                             "default)")
        if not set(hard) & set(delta):
            continue
        if rt.kind == "Pod":
            used = quota.usage(hard, (quota.pod_usage(p) for p in lister(_PODS, ns)))
        else:
            used = quota.usage(hard, (delta for _ in lister(rt, ns)))
        refused = quota.refusal(q, used, delta)
        if refused:
            raise _forbidden(rt, obj, [refused], f"raise ResourceQuota {_name(q)}'s hard "
                             "limits, or free some of what it counts")


def _one_global_default(rt: ResourceType, pc: Obj, lister: Lister) -> None:
    if pc.get("globalDefault") is not True:
        return
    for other in lister(rt, None):
        if other.get("globalDefault") is True and _name(other) != _name(pc):
            raise Forbidden(
                f'priorityclasses.scheduling.k8s.io "{_name(pc)}" is forbidden: PriorityClass '
                f"{_name(other)} is already marked as default. Only one default can exist",
                kind=rt.plural, name=_name(pc), group=rt.group,
                hint=f"set globalDefault: false on {_name(pc)} or on {_name(other)}")


__all__ = ["Lister", "admit_create", "admit_update", "carry_over"]
