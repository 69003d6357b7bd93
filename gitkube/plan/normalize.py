"""Normalize objects so that the diff sees only what a user means, never noise.

Desired objects go through the same defaulting the api layer applies on write
(gitkube.model.defaults.apply_defaults) and quantity canonicalisation (``0.1`` == ``100m``);
both sides lose server-owned fields (status, uid, resourceVersion, generation,
creationTimestamp, managedFields, ...) and gitkube's own labels and annotations.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from gitkube.api.codec import copy_json
from gitkube.model.defaults import apply_defaults
from gitkube.model.quantity import canonicalize
from gitkube.plan import annotations as ann

SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_QUANTITY_MAPS = frozenset({"requests", "limits", "capacity", "allocatable", "hard"})
_QUANTITY_SCALARS = frozenset({"sizeLimit"})


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    try:
        return canonicalize(value)
    except Exception:  # not a valid quantity: validation reports it; compare as written
        return value


def canonicalize_quantities(node: Any) -> None:
    """In place: every resource quantity (requests, limits, capacity, sizeLimit) canonical."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _QUANTITY_MAPS and isinstance(value, dict):
                for qk, qv in value.items():
                    value[qk] = _canonical(qv)
            elif key in _QUANTITY_SCALARS:
                node[key] = _canonical(value)
            else:
                canonicalize_quantities(value)
    elif isinstance(node, list):
        for item in node:
            canonicalize_quantities(item)


def strip_owned(obj: dict[str, Any]) -> dict[str, Any]:
    """In place: drop status, server-owned metadata and gitkube's own labels/annotations."""
    obj.pop("status", None)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
        for key, owned in (("annotations", ann.OWNED_ANNOTATIONS), ("labels", ann.OWNED_LABELS)):
            values = meta.get(key)
            if isinstance(values, dict):
                for k in [k for k in values if k in owned]:
                    del values[k]
                if not values:
                    del meta[key]
            elif values is None and key in meta:
                del meta[key]
    return obj


def _secret_string_data(obj: dict[str, Any]) -> None:
    # The api stores Secret.stringData as base64 data (as Kubernetes does): compare like that.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def normalize_desired(obj: dict[str, Any]) -> dict[str, Any]:
    """A normalized copy of a desired object: defaulted, canonical, without owned fields."""
    out = apply_defaults(obj)
    canonicalize_quantities(out)
    return strip_owned(out)


def normalize_live(obj: dict[str, Any]) -> dict[str, Any]:
    """A normalized copy of a live object: canonical, without status and owned fields."""
    out: dict[str, Any] = copy_json(obj)
    if out.get("kind") == "Secret":
        _secret_string_data(out)
    canonicalize_quantities(out)
    return strip_owned(out)


def _sha(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def hash_secret_values(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Secret whose ``data`` values are replaced by their sha256: what the
    last-applied annotation keeps and what secret diffs compare, so no value is stored twice
    or shown."""
    if obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for key in ("data", "stringData"):
        values = out.get(key)
        if isinstance(values, dict):
            out[key] = {
                k: v if isinstance(v, str) and v.startswith("sha256:") else _sha(str(v))
                for k, v in values.items()
            }
    return out


def digest(obj: dict[str, Any]) -> str:
    """A stable digest of normalized content (sorted-key JSON)."""
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:24]


def last_applied(normalized_desired: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """What is recorded as last applied for a normalized desired object (Secret values
    hashed), and its digest (the ``gitkube.io/last-applied-digest`` annotation value)."""
    hashed = hash_secret_values(normalized_desired)
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
    return hashed, "sha256:" + hashlib.sha256(text.encode()).hexdigest()
