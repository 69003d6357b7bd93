"""Unknown fields found and dropped by the schemas, for ``fieldValidation=Ignore|Warn``.

A field is unknown where its object's schema lists ``properties`` and the field is not one
of them (a map, ``additionalProperties: {schema}``, knows every key). Paths are written as
upstream's warnings write them: ``spec.template.spec.containers[0].foo``.

- ``prune(obj, api_version, kind)`` drops the unknown fields of a whole object (or of a
  merge or strategic-merge patch, whose shape is the object's: keys starting with ``$`` are
  patch directives and kept);
- ``prune_json_patch(ops, api_version, kind)`` drops the operations that write an unknown
  field and prunes the values the others write.

Both return the paths dropped, in document order; both change their argument in place.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from gitkube.schema.validator import DEFINITIONS_FILE, SCHEMA_DIR, schema_file

Node = dict[str, Any]
_REF = "#/$defs/"


def _load_json(path: Path) -> Node:
    with path.open(encoding="utf-8") as f:
        data: Node = json.load(f)
    return data


@cache
def _defs() -> dict[str, Node]:
    defs: dict[str, Node] = _load_json(SCHEMA_DIR / DEFINITIONS_FILE)["$defs"]
    return defs


@cache
def _root(api_version: str, kind: str) -> Node | None:
    path = schema_file(api_version, kind)
    return _load_json(path) if path.exists() else None


def _resolve(node: Node) -> Node:
    ref = node.get("$ref")
    while isinstance(ref, str):
        node = _defs().get(ref.split("#/$defs/", 1)[-1], {})
        ref = node.get("$ref")
    return node


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _child(node: Node, key: str | int) -> Node | None:
    """The schema of ``key`` inside a value of schema ``node``; None when unknown."""
    node = _resolve(node)
    if isinstance(key, int):
        items = node.get("items")
        return items if isinstance(items, dict) else {}
    props = node.get("properties")
    if isinstance(props, dict) and key in props:
        child: Node = props[key]
        return child
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    if isinstance(props, dict) or extra is False:
        return None
    return {}  # a free-form object (FieldsV1, RawExtension): anything goes


def _prune(value: Any, node: Node, path: str, dropped: list[str]) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            child = _child(node, i)
            if child is not None:
                _prune(item, child, f"{path}[{i}]", dropped)
        return
    if not isinstance(value, dict):
        return
    for key in list(value):
        if key.startswith("$"):
            continue  # a strategic-merge directive ($patch, $setElementOrder/x, ...)
        child = _child(node, key)
        if child is None:
            del value[key]
            dropped.append(_join(path, key))
        else:
            _prune(value[key], child, _join(path, key), dropped)


def prune(obj: Any, api_version: str, kind: str) -> list[str]:
    """Drop from ``obj`` every field the schema of ``api_version``/``kind`` does not know;
    the dropped fields' paths. [] (nothing touched) for a kind without a schema."""
    root = _root(api_version, kind)
    dropped: list[str] = []
    if root is not None:
        _prune(obj, root, "", dropped)
    return dropped


def _pointer(path: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]


def prune_json_patch(ops: Any, api_version: str, kind: str) -> list[str]:
    """Drop from the RFC 6902 ``ops`` those that write an unknown field, and prune the values
    the others write; the dropped fields' paths."""
    root = _root(api_version, kind)
    dropped: list[str] = []
    if root is None or not isinstance(ops, list):
        return dropped
    kept = []
    for op in ops:
        target = op.get("path") if isinstance(op, dict) else None
        if not isinstance(target, str) or op.get("op") not in ("add", "replace"):
            kept.append(op)
            continue
        node: Node | None = root
        path = ""
        for token in _pointer(target):
            assert node is not None
            listed = "items" in _resolve(node)
            index = (int(token) if token.isdigit() else -1) if listed else None
            node = _child(node, index if index is not None else token)
            path = f"{path}[{token}]" if index is not None else _join(path, token)
            if node is None:
                break
        if node is None:
            dropped.append(path)
            continue
        _prune(op.get("value"), node, path, dropped)
        kept.append(op)
    ops[:] = kept
    return dropped
