"""ResourceQuota rules (upstream's quota evaluators and admission), pure.

What a quota can limit in gitkube: ``pods``, compute resources of non-terminal pods
(``requests.cpu``/``cpu``, ``requests.memory``/``memory``, ``limits.cpu``,
``limits.memory``, ``requests.ephemeral-storage``, ``limits.ephemeral-storage``), object
counts ``count/<resource>[.<group>]`` of any namespaced kind gitkube serves, and the legacy
names ``services``, ``configmaps``, ``secrets``, ``persistentvolumeclaims``,
``resourcequotas``. ``usage`` computes ``status.used``; ``refusal`` is the 403 message
upstream's admission gives a write that would go over (or a pod that leaves out a
compute resource the quota tracks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from gitkube.model.pods import pod_phase
from gitkube.model.quantity import Quantity, parse_quantity

Obj = dict[str, Any]
Usage = dict[str, Fraction]

COMPUTE = ("cpu", "memory", "ephemeral-storage")
LEGACY_COUNTS = {"services": "services", "configmaps": "configmaps", "secrets": "secrets",
                 "persistentvolumeclaims": "persistentvolumeclaims",
                 "resourcequotas": "resourcequotas"}


def _quantity(value: Any) -> Fraction:
    try:
        return parse_quantity(value).value
    except (ValueError, TypeError):
        return Fraction(0)


def _containers(spec: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    return [c for c in spec.get(field) or [] if isinstance(c, Mapping)]


def pod_compute(spec: Mapping[str, Any], kind: str) -> dict[str, Fraction]:
    """A pod's ``requests`` or ``limits`` (``kind``) per resource: the containers' sum, or
    the largest init container's when larger (upstream's effective value)."""
    out: dict[str, Fraction] = {}
    for c in _containers(spec, "containers"):
        for name, value in ((c.get("resources") or {}).get(kind) or {}).items():
            out[name] = out.get(name, Fraction(0)) + _quantity(value)
    for c in _containers(spec, "initContainers"):
        for name, value in ((c.get("resources") or {}).get(kind) or {}).items():
            out[name] = max(out.get(name, Fraction(0)), _quantity(value))
    return out


def counts(pod: Mapping[str, Any]) -> bool:
    """Whether a pod counts against a quota: not Succeeded or Failed."""
    return pod_phase(pod) not in ("Succeeded", "Failed")


def pod_usage(pod: Mapping[str, Any]) -> Usage:
    """What one pod uses of a quota."""
    if not counts(pod):
        return {}
    spec = pod.get("spec") or {}
    out: Usage = {"pods": Fraction(1), "count/pods": Fraction(1)}
    for name, value in pod_compute(spec, "requests").items():
        out[f"requests.{name}"] = value
        if name in ("cpu", "memory"):
            out[name] = value
    for name, value in pod_compute(spec, "limits").items():
        out[f"limits.{name}"] = value
    return out


def object_usage(plural: str, group: str) -> Usage:
    """What one object of another kind uses: its count (and its legacy name's)."""
    out: Usage = {f"count/{plural}.{group}" if group else f"count/{plural}": Fraction(1)}
    if not group and plural in LEGACY_COUNTS:
        out[LEGACY_COUNTS[plural]] = Fraction(1)
    return out


def add(total: Usage, more: Usage) -> None:
    for name, value in more.items():
        total[name] = total.get(name, Fraction(0)) + value


def usage(hard: Mapping[str, Any], objects: Iterable[Usage]) -> Usage:
    """``status.used`` for the resources ``hard`` names, from each object's usage."""
    total: Usage = {name: Fraction(0) for name in hard}
    for used in objects:
        for name, value in used.items():
            if name in total:
                total[name] += value
    return total


def render(name: str, value: Fraction) -> str:
    """A used amount as Kubernetes prints it (memory in binary units, cpu in millicores)."""
    binary = "memory" in name or "storage" in name
    return Quantity(value, "BinarySI" if binary else "DecimalSI").canonical()


def missing_compute(hard: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    """``requests.cpu for: c`` items: compute resources the quota tracks that a container
    leaves out (upstream refuses such a pod)."""
    spec = pod.get("spec") or {}
    out: list[str] = []
    for tracked in sorted(hard):
        kind, _, resource = tracked.partition(".")
        if tracked in ("cpu", "memory"):
            kind, resource = "requests", tracked
        if kind not in ("requests", "limits") or resource not in COMPUTE:
            continue
        names = [str(c.get("name")) for c in _containers(spec, "containers")
                 if resource not in ((c.get("resources") or {}).get(kind) or {})]
        if names:
            out.append(f"{tracked} for: {','.join(names)}")
    return out


def refusal(quota: Mapping[str, Any], used: Usage, delta: Usage) -> str | None:
    """Upstream's "exceeded quota" message when ``delta`` on top of ``used`` goes over
    ``quota``'s hard limits; None when it fits."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    over = [n for n in sorted(hard) if n in delta and delta[n] > 0
            and used.get(n, Fraction(0)) + delta[n] > _quantity(hard[n])]
    if not over:
        return None
    name = (quota.get("metadata") or {}).get("name")

    def pairs(values: Mapping[str, Any]) -> str:
        return ",".join(f"{n}={values[n]}" for n in over)

    return (f"exceeded quota: {name}, requested: "
            f"{pairs({n: render(n, delta[n]) for n in over})}, "
            f"used: {pairs({n: render(n, used.get(n, Fraction(0))) for n in over})}, "
            f"limited: {pairs({n: str(hard[n]) for n in over})}")


__all__ = ["Usage", "add", "counts", "missing_compute", "object_usage", "pod_compute",
           "pod_usage", "refusal", "render", "usage"]
