"""Pod priority: the built-in PriorityClasses and how a pod's ``priorityClassName`` becomes
its ``spec.priority`` (upstream's Priority admission plugin). Pure.

- ``system-cluster-critical`` (2000000000) and ``system-node-critical`` (2000001000) exist
  on every cluster; other names starting with ``system-`` are reserved.
- A user's PriorityClass value is at most 1000000000 (HighestUserDefinablePriority).
- A pod naming a class gets its value and ``preemptionPolicy``; a pod naming none gets the
  global default class (``globalDefault: true``), else priority 0; a pod that names a
  missing class, or sets ``spec.priority`` to another value than its class's, is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.errors import GitkubeError

Obj = dict[str, Any]

HIGHEST_USER_DEFINABLE = 1_000_000_000
SYSTEM_PREFIX = "system-"
DEFAULT_PREEMPTION = "PreemptLowerPriority"


def _builtin(name: str, value: int, description: str) -> Obj:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "globalDefault": False,
            "description": description, "preemptionPolicy": DEFAULT_PREEMPTION}


BUILTIN: dict[str, Obj] = {
    "system-cluster-critical": _builtin(
        "system-cluster-critical", 2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to "
        "another node if necessary."),
    "system-node-critical": _builtin(
        "system-node-critical", 2_000_001_000,
        "Used for system critical pods that must not be moved from their current node."),
}


class PriorityRefused(GitkubeError, ValueError):
    """A pod's priority cannot be resolved: ``message`` as upstream words it."""


@dataclass(frozen=True)
class Resolved:
    class_name: str  # "" when no class applies
    value: int
    preemption_policy: str


def _value(pc: Mapping[str, Any]) -> int:
    value = pc.get("value")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def global_default(classes: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The class marked ``globalDefault`` (the highest value if several slipped in)."""
    marked = [pc for pc in classes if pc.get("globalDefault") is True]
    return max(marked, key=_value) if marked else None


def resolve(spec: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]) -> Resolved:
    """The priority of a pod with ``spec``, given the PriorityClasses by name (the built-in
    ones are added when the store lacks them). PriorityRefused when upstream refuses."""
    everything = {**BUILTIN, **classes}
    name = spec.get("priorityClassName")
    if isinstance(name, str) and name:
        pc = everything.get(name)
        if pc is None:
            raise PriorityRefused(f"no PriorityClass with name {name} was found")
    else:
        pc = global_default(everything.values())
    found = Resolved(str((pc.get("metadata") or {}).get("name") or "") if pc else "",
                     _value(pc) if pc else 0,
                     str(pc.get("preemptionPolicy") or DEFAULT_PREEMPTION) if pc
                     else DEFAULT_PREEMPTION)
    given = spec.get("priority")
    if isinstance(given, int) and not isinstance(given, bool) and given != found.value:
        raise PriorityRefused(
            f"the integer value of priority ({given}) must not be provided in pod spec; "
            f"priority admission controller computed {found.value} from the given "
            "PriorityClass name")
    return found


def class_problems(pc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """A PriorityClass's own problems as (field, message, hint): reserved names, values
    above the user range."""
    out: list[tuple[str, str, str]] = []
    name = str((pc.get("metadata") or {}).get("name") or "")
    value = pc.get("value")
    if name.startswith(SYSTEM_PREFIX):
        builtin = BUILTIN.get(name)
        if builtin is None:
            out.append(("metadata.name", f'priority class names with "{SYSTEM_PREFIX}" prefix '
                        "are reserved for system use only",
                        "choose a name without the system- prefix"))
        elif value != builtin["value"]:
            out.append(("value", f"the value of {name} must be {builtin['value']}",
                        f"{name} is built in; leave it out or give value "
                        f"{builtin['value']}"))
    elif isinstance(value, int) and not isinstance(value, bool) and \
            value > HIGHEST_USER_DEFINABLE:
        out.append(("value", "maximum allowed value of a user defined priority is "
                    f"{HIGHEST_USER_DEFINABLE}",
                    f"use a value of at most {HIGHEST_USER_DEFINABLE}"))
    return out


__all__ = ["BUILTIN", "DEFAULT_PREEMPTION", "HIGHEST_USER_DEFINABLE", "PriorityRefused",
           "Resolved", "class_problems", "global_default", "resolve"]
