"""Admission: what the api does to a new or changed object using other stored objects,
after the strategy has prepared it and before it is validated and written (upstream's
admission plugins, in-process).

- **Priority** (pods): ``spec.priorityClassName`` resolved to ``spec.priority`` and
  ``spec.preemptionPolicy`` (``gitkube/model/priority.py``; the built-in
  ``system-*-critical`` classes are known even before they are stored); a missing class is
  403 Forbidden as upstream.
- **PriorityClass**: at most one ``globalDefault``; ``value`` and ``preemptionPolicy``
  cannot change (upstream's immutability rule).

Each plugin reads what it needs through ``Lister`` (a read of the store at the time of the
write) and mutates the object in place or raises an APIError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitkube.errors import Forbidden, Invalid
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType
from gitkube.model.priority import PriorityRefused, resolve

Obj = dict[str, Any]
Lister = Callable[[ResourceType, str | None], list[Obj]]  # (kind, namespace) -> objects

_PRIORITY_CLASSES = kinds.lookup("scheduling.k8s.io/v1", "PriorityClass")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def admit_create(rt: ResourceType, obj: Obj, lister: Lister) -> None:
    """Run the admission plugins for creating ``obj`` (changed in place)."""
    if rt.kind == "Pod":
        _pod_priority(rt, obj, lister)
    elif rt.kind == "PriorityClass":
        _one_global_default(rt, obj, lister)


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
