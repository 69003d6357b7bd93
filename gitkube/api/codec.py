"""How objects are kept in the store: compact JSON without resourceVersion.

The resourceVersion of an object is the store's ``mod_revision`` of its key, injected on every
read (as the Kubernetes API server does with etcd), so it can never disagree with the store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from gitkube.errors import BadRequest
from gitkube.model.times import rfc3339_of
from gitkube.store.base import KeyValue

Obj = dict[str, Any]


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-compatible data (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def encode(obj: Obj) -> bytes:
    """Compact JSON of ``obj`` with metadata.resourceVersion left out."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise BadRequest(f"the object is not plain JSON: {e}",
                         hint="quote YAML values that look like dates or numbers") from e


def decode(kv: KeyValue, revision: int | None = None) -> Obj:
    """A fresh object from a stored value, with resourceVersion = ``revision`` (default: the
    key's mod_revision)."""
    obj: Obj = json.loads(kv.value)
    meta = obj.setdefault("metadata", {})
    meta["resourceVersion"] = str(kv.mod_revision if revision is None else revision)
    return obj


def now_rfc3339(clock: datetime | None = None) -> str:
    """RFC 3339 in UTC with a ``Z`` and whole seconds, as Kubernetes writes timestamps
    (gitkube/model/times.py), of ``clock`` or now."""
    return rfc3339_of(clock or datetime.now(UTC))


def parse_revision(resource_version: str | None) -> int | None:
    """The store revision a resourceVersion string names; None for None/"" ."""
    if resource_version in (None, ""):
        return None
    try:
        value = int(str(resource_version))
    except ValueError:
        value = -1
    if value < 0:
        raise BadRequest(f"invalid resourceVersion {resource_version!r}: not a revision")
    return value
