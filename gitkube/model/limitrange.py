"""LimitRange rules (upstream's LimitRanger admission), pure: defaults written into a new
pod's containers, then the min/max/ratio checks.

For each ``type: Container`` item: a container without a limit gets ``default``, one
without a request gets ``defaultRequest`` (the item's own defaulting fills
``defaultRequest`` from ``default`` or ``min``, and ``default`` from ``max``, as
upstream's); then every container must have request and limit >= ``min``, limit <=
``max`` (a limit is required when ``max`` is set), and limit/request <=
``maxLimitRequestRatio``. ``type: Pod`` items check the pod's sums the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from gitkube.model.quantity import Quantity, canonicalize, parse_quantity
from gitkube.model.quota import pod_compute

Obj = dict[str, Any]


def _q(value: Any) -> Fraction | None:
    try:
        return parse_quantity(value).value
    except (ValueError, TypeError):
        return None


def item_defaults(item: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(default limits, default requests) of a Container item, with upstream's fill-ins."""
    default = {**(item.get("max") or {}), **(item.get("default") or {})}
    request = {**(item.get("min") or {}), **default, **(item.get("defaultRequest") or {})}
    return default, request


def apply_defaults(spec: Obj, ranges: Iterable[Mapping[str, Any]]) -> list[str]:
    """Fill containers' missing limits and requests in place; what was set, as upstream's
    ``kubernetes.io/limit-ranger`` annotation lists it."""
    notes: list[str] = []
    for lr in ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if not isinstance(item, Mapping) or item.get("type") != "Container":
                continue
            default, request = item_defaults(item)
            for field in ("containers", "initContainers"):
                for c in spec.get(field) or []:
                    if isinstance(c, dict):
                        notes.extend(_fill(c, default, request))
    return notes


def _fill(c: Obj, default: Mapping[str, Any], request: Mapping[str, Any]) -> list[str]:
    resources = c.setdefault("resources", {})
    notes: list[str] = []
    for kind, values in (("requests", request), ("limits", default)):
        have = resources.get(kind) or {}
        added = {k: v for k, v in values.items() if k not in have}
        if added:
            resources[kind] = {**have, **added}
            notes.extend(f"{k} {kind[:-1]} for container {c.get('name')}" for k in added)
    return notes


def violations(spec: Mapping[str, Any], ranges: Iterable[Mapping[str, Any]]) -> list[str]:
    """Upstream's messages for every min/max/ratio a pod breaks (empty: it fits)."""
    out: list[str] = []
    for lr in ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if not isinstance(item, Mapping):
                continue
            if item.get("type") == "Container":
                for c in spec.get("containers") or []:
                    if isinstance(c, Mapping):
                        res = c.get("resources") or {}
                        out.extend(_check(item, "Container", res.get("requests") or {},
                                          res.get("limits") or {}))
            elif item.get("type") == "Pod":
                requests = {k: _exact(v) for k, v in pod_compute(spec, "requests").items()}
                limits = {k: _exact(v) for k, v in pod_compute(spec, "limits").items()}
                out.extend(_check(item, "Pod", requests, limits))
    return out


def _exact(value: Fraction) -> str:
    return Quantity(value).canonical()


def _show(value: Any) -> str:
    """A quantity as upstream prints it in these messages (canonical: 1.5 -> 1500m)."""
    try:
        return canonicalize(value)
    except (ValueError, TypeError):
        return str(value)


def _check(item: Mapping[str, Any], what: str, requests: Mapping[str, Any],
           limits: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for resource, bound in (item.get("min") or {}).items():
        low = _q(bound)
        for kind, values in (("request", requests), ("limit", limits)):
            have = _q(values.get(resource)) if resource in values else None
            if low is not None and have is not None and have < low:
                out.append(f"minimum {resource} usage per {what} is {_show(bound)}, but "
                           f"{kind} is {_show(values[resource])}")
    for resource, bound in (item.get("max") or {}).items():
        high = _q(bound)
        if resource not in limits:
            out.append(f"maximum {resource} usage per {what} is {_show(bound)}. No limit "
                       "is specified")
            continue
        have = _q(limits[resource])
        if high is not None and have is not None and have > high:
            out.append(f"maximum {resource} usage per {what} is {_show(bound)}, but limit "
                       f"is {_show(limits[resource])}")
    for resource, bound in (item.get("maxLimitRequestRatio") or {}).items():
        limit, request, ratio = (_q(limits.get(resource)), _q(requests.get(resource)),
                                 _q(bound))
        if limit is not None and request and ratio is not None and limit / request > ratio:
            out.append(f"{resource} max limit to request ratio per {what} is {bound}, but "
                       f"provided ratio is {float(limit / request):f}")
    return out


__all__ = ["apply_defaults", "item_defaults", "violations"]
