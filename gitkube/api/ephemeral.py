"""Ephemeral containers (``pods/ephemeralcontainers``, what ``kubectl debug`` adds): the
api's rules for them, pure.

As upstream:

- a create may not carry ``spec.ephemeralContainers`` (Forbidden: cannot be set on create);
- an update of the pod itself keeps the stored list (one that sends a different list is
  refused: they change only through the subresource); a manifest from git that leaves them
  out keeps them;
- the subresource's write changes ``spec.ephemeralContainers`` and nothing else; existing
  ones may not be changed or removed, new ones are appended;
- each one: a name unique among containers, init containers and ephemeral containers; an
  image; no ports, probes, lifecycle, resources, resizePolicy, restartPolicy, no subPath
  mounts; ``targetContainerName`` (whose process namespace it joins) names a container of
  the pod; the rest as any container (the schema's Container rules).
"""

from __future__ import annotations

from typing import Any

from gitkube.api.codec import copy_json
from gitkube.errors import Invalid
from gitkube.model.defaults import apply_defaults
from gitkube.schema import check_object

Obj = dict[str, Any]
FIELD = "ephemeralContainers"
# Container fields an ephemeral container may not have (upstream's validateEphemeralContainers)
FORBIDDEN = ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
             "resources", "resizePolicy", "restartPolicy", "restartPolicyRules")
_NOT_FOR_EPHEMERAL = "cannot be set for an Ephemeral Container"


def _spec(pod: Obj) -> Obj:
    spec = pod.get("spec")
    return spec if isinstance(spec, dict) else {}


def listed(pod: Obj) -> list[Obj]:
    """The pod's ephemeral containers (the well-formed entries)."""
    value = _spec(pod).get(FIELD)
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def _cause(reason: str, field: str, message: str) -> dict[str, str]:
    return {"reason": reason, "field": field, "message": message}


def _invalid(pod: Obj, causes: list[dict[str, str]]) -> Invalid:
    name = str((pod.get("metadata") or {}).get("name") or "")
    details = "; ".join(f"{c['field']}: {c['message']}" for c in causes)
    return Invalid(f'Pod "{name}" is invalid: [{details}]', kind="Pod", name=name,
                   causes=causes,
                   hint="ephemeral containers are added with `kubectl debug` (the "
                        "pods/ephemeralcontainers subresource) and stay until the pod goes")


def check_create(pod: Obj) -> None:
    """Invalid when a pod to create carries ephemeral containers."""
    if _spec(pod).get(FIELD):
        raise _invalid(pod, [_cause("FieldValueForbidden", f"spec.{FIELD}",
                                    "Forbidden: cannot be set on create")])


def keep_on_update(new: Obj, old: Obj) -> None:
    """An update of the pod itself: ``new`` gets the stored list (in place). Invalid when it
    sends a list that differs from the stored one."""
    spec = _spec(new)
    stored = _spec(old).get(FIELD)
    sent = spec.get(FIELD)
    if sent is not None and sent != stored:
        raise _invalid(new, [_cause(
            "FieldValueForbidden", f"spec.{FIELD}",
            "Forbidden: ephemeral containers may be changed only through the "
            "pods/ephemeralcontainers subresource")])
    if stored is not None and isinstance(new.get("spec"), dict):
        new["spec"][FIELD] = copy_json(stored)


def prepare_update(patched: Obj, old: Obj) -> Obj:
    """The pod to store for a write of the subresource: ``old`` with the (defaulted)
    ephemeral containers of ``patched``. Invalid when an existing one was changed or
    removed, or a new one breaks a rule (module docstring)."""
    defaulted = apply_defaults({"apiVersion": "v1", "kind": "Pod", "metadata": {},
                                "spec": {FIELD: copy_json(_spec(patched).get(FIELD) or [])}})
    wanted = defaulted["spec"][FIELD]
    before = listed(old)
    causes: list[dict[str, str]] = []
    if not isinstance(wanted, list):
        raise _invalid(old, [_cause("FieldValueInvalid", f"spec.{FIELD}", "must be a list")])
    by_name = {str(c.get("name")): (i, c) for i, c in enumerate(wanted)
               if isinstance(c, dict)}
    for c in before:
        name = str(c.get("name"))
        if name not in by_name:
            causes.append(_cause("FieldValueForbidden", f"spec.{FIELD}",
                                 f'Forbidden: existing ephemeral containers "{name}" may '
                                 "not be removed"))
        elif by_name[name][1] != c:
            causes.append(_cause("FieldValueForbidden", f"spec.{FIELD}[{by_name[name][0]}]",
                                 f'Forbidden: existing ephemeral containers "{name}" may '
                                 "not be changed"))
    if causes:
        raise _invalid(old, causes)
    out: Obj = copy_json(old)
    if wanted:
        out.setdefault("spec", {})[FIELD] = wanted
    else:
        out.get("spec", {}).pop(FIELD, None)
    found = causes_of(out)
    if found:
        raise _invalid(out, found)
    if _spec(out).get(FIELD) != _spec(old).get(FIELD):
        meta = out["metadata"]
        meta["generation"] = int(meta.get("generation") or 0) + 1
    return out


def without(pod: Obj) -> Obj:
    """``pod`` without its ephemeral containers (a shallow copy), for the schema's check of
    the rest of it."""
    spec = _spec(pod)
    if FIELD not in spec:
        return pod
    return {**pod, "spec": {k: v for k, v in spec.items() if k != FIELD}}


def causes_of(pod: Obj) -> list[dict[str, str]]:
    """Every rule the pod's ephemeral containers break (module docstring), as Status
    causes."""
    spec = _spec(pod)
    value = spec.get(FIELD)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        return [_cause("FieldValueInvalid", f"spec.{FIELD}", "must be a list of objects")]
    others = [str(c.get("name")) for key in ("containers", "initContainers")
              for c in spec.get(key) or [] if isinstance(c, dict)]
    targets = {str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict)}
    seen = set(others)
    causes: list[dict[str, str]] = []
    for i, c in enumerate(value):
        where = f"spec.{FIELD}[{i}]"
        name = c.get("name")
        if isinstance(name, str) and name in seen:
            causes.append(_cause("FieldValueDuplicate", f"{where}.name",
                                 f'Duplicate value: "{name}"'))
        seen.add(str(name))
        causes += [_cause("FieldValueForbidden", f"{where}.{f}",
                          f"Forbidden: {_NOT_FOR_EPHEMERAL}") for f in FORBIDDEN if c.get(f)]
        target = c.get("targetContainerName")
        if target and target not in targets:
            causes.append(_cause("FieldValueNotFound", f"{where}.targetContainerName",
                                 f'Not found: "{target}"'))
        for j, m in enumerate(c.get("volumeMounts") or []):
            if isinstance(m, dict) and (m.get("subPath") or m.get("subPathExpr")):
                causes.append(_cause("FieldValueForbidden", f"{where}.volumeMounts[{j}].subPath",
                                     f"Forbidden: {_NOT_FOR_EPHEMERAL}"))
    return causes + _container_rules(pod, value)


def _container_rules(pod: Obj, value: list[Obj]) -> list[dict[str, str]]:
    """The schema's Container rules on each ephemeral container (the forbidden fields and
    ``targetContainerName`` left out: checked above), at the ephemeral container's path."""
    fields = ("targetContainerName", *FORBIDDEN)
    as_containers = [{k: v for k, v in c.items() if k not in fields} for c in value]
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
             "spec": {"containers": as_containers,
                      "volumes": _spec(pod).get("volumes") or []}}
    prefix = "spec.containers["
    out = []
    for issue in check_object(probe):
        dotted = issue.dotted
        if not dotted.startswith(prefix):
            continue
        message = f"{issue.message} (hint: {issue.hint})" if issue.hint else issue.message
        out.append(_cause("FieldValueInvalid", f"spec.{FIELD}[" + dotted[len(prefix):],
                          message))
    return out


__all__ = [
    "FIELD",
    "causes_of",
    "check_create",
    "keep_on_update",
    "listed",
    "prepare_update",
    "without",
]
