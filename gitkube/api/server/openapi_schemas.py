"""gitkube's JSON Schemas (gitkube/schema/schemas) in the shapes OpenAPI v3 and v2 use.

The definitions are the ones ``gitkube validate`` and the API check objects with, generated
from upstream's own: names (``io.k8s.api.apps.v1.Deployment``), descriptions, required
fields and the ``x-kubernetes-*`` extensions (group-version-kind, list-type, list-map-keys,
patch-merge-key, patch-strategy, map-type) are upstream's. What changes is the dialect:

- a nullable type (``["string", "null"]``) is the plain type, as upstream writes it, and an
  enum loses its ``null``;
- ``$ref`` points into ``#/components/schemas/`` (v3) or ``#/definitions/`` (v2); in v3 a
  reference that has a description beside it is wrapped in ``allOf`` as upstream does;
- ``Quantity`` and ``IntOrString`` are upstream's: in v3 a ``oneOf`` of their two types
  (``explain`` then names them), in v2 a string (of format ``int-or-string``), which
  kubectl's v2 validation accepts for either;
- ``additionalProperties: false`` (gitkube's strictness) is left out, as upstream leaves it;
  gitkube's own annotations stay (``x-gitkube-unsupported``: a field gitkube does not
  implement).

Pure functions over parsed JSON, cached: the documents are built once per process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any, Literal

from gitkube.schema.validator import SCHEMA_DIR

Obj = dict[str, Any]
Dialect = Literal["v2", "v3"]
DEFINITIONS_FILE = "_definitions.json"
_REF_PREFIX = "#/$defs/"
_TARGET = {"v3": "#/components/schemas/", "v2": "#/definitions/"}
# Upstream's shapes of the two scalar-or-string types (kube-openapi writes them so).
_SPECIAL: dict[str, Obj] = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string",
                                                        "format": "int-or-string"},
}
# Keywords whose value is a schema, a list of schemas, or a map of schemas.
_ONE = ("items", "not")
_MANY = ("allOf", "oneOf", "anyOf")


@cache
def json_schema_definitions() -> Obj:
    """The ``$defs`` of gitkube's definitions file, as the validator reads them."""
    with (SCHEMA_DIR / DEFINITIONS_FILE).open(encoding="utf-8") as f:
        defs: Obj = json.load(f)["$defs"]
    return defs


def _plain_type(value: Any) -> Any:
    if isinstance(value, list):
        kept = [t for t in value if t != "null"]
        return kept[0] if len(kept) == 1 else kept
    return value


def convert(node: Any, dialect: Dialect) -> Any:
    """One JSON Schema node in ``dialect``'s shape (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key in ("$schema", "$comment", "title"):
            continue
        _convert_keyword(out, key, value, dialect)
    if dialect == "v3" and "$ref" in out and len(out) > 1:
        out["allOf"] = [{"$ref": out.pop("$ref")}]
    return out


def _convert_keyword(out: Obj, key: str, value: Any, dialect: Dialect) -> None:
    """Into ``out``: one keyword of a schema node, converted."""
    if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
        out["$ref"] = _TARGET[dialect] + value[len(_REF_PREFIX):]
    elif key == "type":
        out["type"] = _plain_type(value)
    elif key == "enum" and isinstance(value, list):
        out["enum"] = [v for v in value if v is not None]
    elif key == "additionalProperties":
        if isinstance(value, dict):
            out[key] = convert(value, dialect)
    elif key == "properties" and isinstance(value, dict):
        out[key] = {name: convert(v, dialect) for name, v in value.items()}
    elif key in _ONE:
        out[key] = convert(value, dialect)
    elif key in _MANY and isinstance(value, list):
        out[key] = [convert(v, dialect) for v in value]
    else:
        out[key] = value


def definition(name: str, dialect: Dialect) -> Obj:
    """The definition ``name`` (``io.k8s.api.core.v1.Pod``) in ``dialect``'s shape."""
    defs = json_schema_definitions()
    if name in _SPECIAL and dialect == "v2":
        description = defs[name].get("description")
        return {**({"description": description} if description else {}), **_SPECIAL[name]}
    converted: Obj = convert(defs[name], dialect)
    if name.endswith("IntOrString"):
        converted["format"] = "int-or-string"
    return converted


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
                yield value[len(_REF_PREFIX):]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def reachable(roots: Iterable[str]) -> list[str]:
    """The definitions ``roots`` name and every definition they reach, sorted."""
    defs = json_schema_definitions()
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(r for r in _refs(defs[name]) if r in defs and r not in seen)
    return sorted(seen)


def kind_definitions() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> the name of the definition carrying that GVK."""
    out: dict[tuple[str, str, str], str] = {}
    for name, node in json_schema_definitions().items():
        for gvk in node.get("x-kubernetes-group-version-kind") or []:
            out[(gvk.get("group", ""), gvk["version"], gvk["kind"])] = name
    return out
