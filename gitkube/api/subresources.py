"""Pure helpers behind patch and the pods/binding and /scale subresources."""

from __future__ import annotations

import re
from typing import Any

from gitkube.errors import BadRequest, Invalid
from gitkube.model.kinds import ResourceType
from gitkube.model.labels import selector_string
from gitkube.model.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

Obj = dict[str, Any]
_POINTER = re.compile(r"(?:path|at|in) (/\S*)")


def field_path(pointer: str) -> str:
    """A JSON pointer as upstream writes a field path: ``/spec/containers/0/image`` ->
    ``spec.containers[0].image``."""
    out = ""
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        out += f"[{token}]" if token.isdigit() or token == "-" else (
            f".{token}" if out else token)
    return out


def patch_invalid(rt: ResourceType, name: str, error: PatchError, what: str = "") -> Invalid:
    """The 422 of a well-formed patch that does not apply, its reason in ``details.causes``
    (the field the failing operation names, when it names one), which kubectl prints."""
    found = _POINTER.search(str(error))
    cause = {"reason": "FieldValueInvalid", "message": str(error)}
    if found:
        cause["field"] = field_path(found.group(1))
    return Invalid(f"the patch does not apply to {what}{rt.kind} {name!r}: {error}",
                   kind=rt.kind, name=name, group=rt.group, causes=[cause])


def apply_patch(rt: ResourceType, current: Obj, patch: Any, patch_type: str) -> Obj:
    """``current`` patched (a new object). BadRequest for a malformed patch or an unknown
    patch type; Invalid when a well-formed patch does not apply (failed ``test``, missing
    path)."""
    try:
        if patch_type == "merge":
            result = merge_patch(current, patch)
        elif patch_type == "json":
            result = json_patch(current, patch)
        elif patch_type == "strategic":
            result = strategic_merge_patch(current, patch)
        else:
            raise BadRequest(f"unknown patch type {patch_type!r}: use merge, json or strategic")
    except PatchError as e:
        name = str(current["metadata"].get("name"))
        if e.invalid:
            raise patch_invalid(rt, name, e) from e
        raise BadRequest(f"invalid {patch_type} patch: {e}") from e
    if not isinstance(result, dict):
        raise BadRequest("the patched object is not a JSON object")
    return result


def bind_pod(pod: Obj, node_name: str, now: str) -> None:
    """In place: ``spec.nodeName`` and condition PodScheduled=True (replacing an old one)."""
    pod.setdefault("spec", {})["nodeName"] = node_name
    status = pod.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or []
                  if isinstance(c, dict) and c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": now})
    status["conditions"] = conditions


def scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a scalable object."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    if obj.get("kind") == "ReplicationController" and isinstance(selector, dict):
        selector = {"matchLabels": selector}  # a plain map of labels
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": int(spec.get("replicas") or 0)},
        "status": {"replicas": int((obj.get("status") or {}).get("replicas") or 0),
                   "selector": selector_string(selector) if isinstance(selector, dict) else ""},
    }
