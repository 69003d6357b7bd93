"""The shape of an object, as server-side apply needs it: for every node, whether it is a
struct (declared fields), a free map (labels, data), an atomic value, or a list that is
atomic, a set, or a map keyed by some of its items' fields.

Read from gitkube's JSON Schemas (gitkube/schema/schemas): ``x-kubernetes-list-type``,
``x-kubernetes-list-map-keys``, ``x-kubernetes-map-type``, and — where a list declares no list
type — its patch merge key (a keyed list) or merge strategy (a set), as upstream derives
structured-merge-diff's schema from OpenAPI. A node without a schema (a kind gitkube has no
schema for, a preserve-unknown-fields subtree) is "deduced": maps are granular, lists atomic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from gitkube.schema.validator import SCHEMA_DIR, schema_file

Node = Literal["scalar", "struct", "map", "atomic", "list-atomic", "list-set", "list-map",
               "deduced"]
_DEFS_FILE = "_definitions.json"
# Keys that upstream defaults before keying an item (a container port without a protocol
# is the TCP port).
KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


@dataclass(frozen=True)
class Shape:
    """One node of a schema. ``child(name)`` and ``item()`` walk down; unknown names lead
    to a deduced node."""

    node: Node
    keys: tuple[str, ...] = ()
    _schema: Any = field(default=None, compare=False, repr=False)

    def child(self, name: str) -> Shape:
        """The shape of field ``name`` of a struct or of an entry of a map."""
        if self.node == "deduced":
            return DEDUCED
        key = (id(self._schema), name)
        hit = _CHILDREN.get(key)
        if hit is None:
            hit = _CHILDREN[key] = self._child(name)
        return hit

    def _child(self, name: str) -> Shape:
        schema = self._schema if isinstance(self._schema, dict) else {}
        props = schema.get("properties") or {}
        if name in props:
            return _shape(props[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return _shape(extra)
        return DEDUCED

    def declares(self, name: str) -> bool:
        """Whether ``name`` is a declared field of this struct (not a free map's key)."""
        schema = self._schema if isinstance(self._schema, dict) else {}
        return self.node == "struct" and name in (schema.get("properties") or {})

    def item(self) -> Shape:
        """The shape of a list's items."""
        schema = self._schema if isinstance(self._schema, dict) else {}
        items = schema.get("items")
        return _shape(items) if isinstance(items, dict) else DEDUCED


DEDUCED = Shape("deduced")
# (id of a schema node, field name) -> shape; schema nodes live as long as the process
_CHILDREN: dict[tuple[int, str], Shape] = {}
SCALAR = Shape("scalar")


@cache
def _definitions() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMA_DIR / _DEFS_FILE).read_text())["$defs"]
    return data


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema behind a ``$ref``, with the referring node's own extensions kept."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    target = _definitions().get(ref.rsplit("/", 1)[-1], {})
    merged = dict(target)
    merged.update({k: v for k, v in schema.items() if k.startswith("x-")})
    return merged


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if isinstance(x, str)}
    return set()


_SHAPES: dict[int, tuple[dict[str, Any], Shape]] = {}


def _shape(raw: dict[str, Any]) -> Shape:
    """The shape of a schema node, computed once per node (schemas live as long as the
    process; the node is kept beside its shape so its id stays its own)."""
    hit = _SHAPES.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    out = _compute(raw)
    _SHAPES[id(raw)] = (raw, out)
    return out


def _compute(raw: dict[str, Any]) -> Shape:
    schema = _resolve(raw)
    types = _types(schema)
    if "array" in types:
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "map":
            return Shape("list-map", tuple(schema.get("x-kubernetes-list-map-keys") or ()),
                         schema)
        if list_type == "set":
            return Shape("list-set", (), schema)
        if list_type is None:
            key = schema.get("x-kubernetes-patch-merge-key")
            strategy = str(schema.get("x-kubernetes-patch-strategy") or "")
            if key:
                return Shape("list-map", (str(key),), schema)
            if "merge" in strategy.split(","):
                return Shape("list-set", (), schema)
        return Shape("list-atomic", (), schema)
    if "object" in types or "properties" in schema:
        if schema.get("x-kubernetes-map-type") == "atomic":
            return Shape("atomic", (), schema)
        if schema.get("properties"):
            return Shape("struct", (), schema)
        if isinstance(schema.get("additionalProperties"), dict):
            return Shape("map", (), schema)
        return DEDUCED
    return SCALAR


def _file_shape(path: Path) -> Shape:
    raw: dict[str, Any] = json.loads(path.read_text())
    return Shape("struct", (), raw)


@cache
def shape_of(api_version: str, kind: str) -> Shape:
    """The root shape of a kind (deduced when gitkube has no schema for it)."""
    path = schema_file(api_version, kind)
    if not path.exists():
        return DEDUCED
    return _file_shape(path)
