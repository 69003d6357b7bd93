"""The OpenAPI documents gitkube publishes: v3 per group-version and v2 whole, built from the
kinds table and gitkube's schemas (gitkube/api/server/openapi_schemas.py).

Each kind gets upstream's paths and operations: its collection (list, create,
deletecollection), the all-namespaces list, the object (read, replace, patch, delete) and its
``status`` and ``scale`` subresources, each operation tagged ``x-kubernetes-action`` and
``x-kubernetes-group-version-kind``, the write operations taking ``dryRun``,
``fieldManager`` and ``fieldValidation`` (kubectl reads the last on ``patch`` to decide that
the server validates fields itself). Request and response bodies refer to the kinds'
definitions, so a generator (schemathesis) can drive the API from the document. ``watch``
is served but not described: a generated request would hold a stream open.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from gitkube.api.server.openapi_schemas import (
    Dialect,
    definition,
    kind_definitions,
    reachable,
)
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS, PATCH, DELETE_OPTIONS = META + "Status", META + "Patch", META + "DeleteOptions"
SCALE = "io.k8s.api.autoscaling.v1.Scale"
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_STR = {"type": "string"}
_INT32 = {"type": "integer", "format": "int32"}
_INT64 = {"type": "integer", "format": "int64"}

# Definitions the kinds' schemas do not hold: API machinery (Status, ListMeta, Patch,
# DeleteOptions) and autoscaling/v1 Scale, with upstream's names and fields.
_MACHINERY: dict[str, Obj] = {
    META + "ListMeta": {
        "description": "ListMeta describes metadata that synthetic resources must have.",
        "type": "object",
        "properties": {"continue": _STR, "remainingItemCount": _INT64,
                       "resourceVersion": _STR, "selfLink": _STR}},
    PATCH: {"description": "Patch is provided to give a concrete name and type to the "
                           "Kubernetes PATCH request body.", "type": "object"},
    META + "Preconditions": {
        "description": "Preconditions must be fulfilled before an operation (update, "
                       "delete, etc.) is carried out.",
        "type": "object", "properties": {"resourceVersion": _STR, "uid": _STR}},
    DELETE_OPTIONS: {
        "description": "DeleteOptions may be provided when deleting an API object.",
        "type": "object",
        "properties": {
            "apiVersion": _STR, "kind": _STR,
            "dryRun": {"type": "array", "items": _STR,
                       "x-kubernetes-list-type": "atomic"},
            "gracePeriodSeconds": _INT64, "orphanDependents": {"type": "boolean"},
            "preconditions": {"$ref": "REF" + META + "Preconditions"},
            "propagationPolicy": _STR},
        "x-kubernetes-group-version-kind": [
            {"group": g, "kind": "DeleteOptions", "version": "v1"}
            for g in ("", "apps", "batch", "autoscaling", "meta.k8s.io")]},
    META + "StatusCause": {
        "description": "StatusCause provides more information about an api.Status failure, "
                       "including cases when multiple errors are encountered.",
        "type": "object", "properties": {"field": _STR, "message": _STR, "reason": _STR}},
    META + "StatusDetails": {
        "description": "StatusDetails is a set of additional properties that MAY be set by "
                       "the server to provide additional information about a response.",
        "type": "object",
        "properties": {"causes": {"type": "array",
                                  "items": {"$ref": "REF" + META + "StatusCause"},
                                  "x-kubernetes-list-type": "atomic"},
                       "group": _STR, "kind": _STR, "name": _STR,
                       "retryAfterSeconds": _INT32, "uid": _STR}},
    STATUS: {
        "description": "Status is a return value for calls that don't return other objects.",
        "type": "object",
        "properties": {"apiVersion": _STR, "code": _INT32,
                       "details": {"$ref": "REF" + META + "StatusDetails"},
                       "kind": _STR, "message": _STR,
                       "metadata": {"$ref": "REF" + META + "ListMeta"},
                       "reason": _STR, "status": _STR},
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status",
                                             "version": "v1"}]},
    "io.k8s.api.autoscaling.v1.ScaleSpec": {
        "description": "ScaleSpec describes the attributes of a scale subresource.",
        "type": "object",
        "properties": {"replicas": {**_INT32, "minimum": 0, "maximum": 2147483647,
                                    "description": "replicas is the desired number of "
                                                   "instances for the scaled object."}}},
    "io.k8s.api.autoscaling.v1.ScaleStatus": {
        "description": "ScaleStatus represents the current status of a scale subresource.",
        "type": "object", "required": ["replicas"],
        "properties": {"replicas": _INT32, "selector": _STR}},
    SCALE: {
        "description": "Scale represents a scaling request for a resource.",
        "type": "object",
        "properties": {"apiVersion": _STR, "kind": _STR,
                       "metadata": {"$ref": "REF" + META + "ObjectMeta"},
                       "spec": {"$ref": "REF io.k8s.api.autoscaling.v1.ScaleSpec"},
                       "status": {"$ref": "REF io.k8s.api.autoscaling.v1.ScaleStatus"}},
        "x-kubernetes-group-version-kind": [{"group": "autoscaling", "kind": "Scale",
                                             "version": "v1"}]},
}
_TARGET = {"v3": "#/components/schemas/", "v2": "#/definitions/"}


def _with_refs(node: Any, dialect: Dialect) -> Any:
    """``node`` with its ``REF<name>`` placeholders made references of ``dialect``."""
    if isinstance(node, dict):
        out = {k: _with_refs(v, dialect) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("REF"):
            out["$ref"] = _TARGET[dialect] + ref[3:].strip()
        return out
    if isinstance(node, list):
        return [_with_refs(v, dialect) for v in node]
    return node


def ref(name: str, dialect: Dialect) -> Obj:
    return {"$ref": _TARGET[dialect] + name}


def kind_definition(rt: ResourceType) -> str:
    return kind_definitions()[(rt.group, rt.version, rt.kind)]


def list_definition(rt: ResourceType, dialect: Dialect) -> Obj:
    """``<Kind>List``, as upstream defines one for every kind."""
    return {
        "description": f"{rt.kind}List is a list of {rt.kind} objects.",
        "type": "object", "required": ["items"],
        "properties": {
            "apiVersion": _STR, "kind": _STR,
            "items": {"type": "array", "items": ref(kind_definition(rt), dialect)},
            "metadata": ref(META + "ListMeta", dialect)},
        "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": f"{rt.kind}List",
                                             "version": rt.version}]}


def definitions(rts: list[ResourceType], dialect: Dialect) -> Obj:
    """Every definition the operations of ``rts`` refer to, by upstream name."""
    roots = [kind_definition(rt) for rt in rts] + [META + "ObjectMeta"]
    out: Obj = {name: definition(name, dialect) for name in reachable(roots)}
    for name, node in _MACHINERY.items():
        out[name] = _with_refs(node, dialect)
    for rt in rts:
        out[kind_definition(rt) + "List"] = list_definition(rt, dialect)
    return dict(sorted(out.items()))


def _prefix(rt: ResourceType) -> str:
    return f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"


def _param(name: str, where: str, description: str, schema: Obj | None = None) -> Obj:
    return {"name": name, "in": where, "description": description,
            "schema": schema or {"type": "string", "uniqueItems": True},
            **({"required": True} if where == "path" else {})}


PRETTY = _param("pretty", "query", "If 'true', then the output is pretty printed.")
NAME = _param("name", "path", "name of the object")
NAMESPACE = _param("namespace", "path", "object name and auth scope, such as for teams "
                                        "and projects")
DRY_RUN = _param("dryRun", "query", "When present, indicates that modifications should not "
                                    "be persisted. Valid value: All")
FIELD_MANAGER = _param("fieldManager", "query", "fieldManager is a name associated with the "
                                                "actor or entity that is making these changes.")
FIELD_VALIDATION = _param(
    "fieldValidation", "query",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore (drop "
    "them silently), Warn (drop them and send a warning via the standard Warning response "
    "header for each), Strict (fail the request with the fields named). gitkube's default, "
    "when the parameter is absent, is Strict.")
FORCE = _param("force", "query", "Force is going to \"force\" Apply requests.",
               {"type": "boolean", "uniqueItems": True})
LIST_PARAMS = [
    _param("labelSelector", "query", "A selector to restrict the list of returned objects "
                                     "by their labels."),
    _param("fieldSelector", "query", "A selector to restrict the list of returned objects "
                                     "by their fields."),
    _param("limit", "query", "limit is a maximum number of responses to return for a list "
                             "call.", {"type": "integer", "uniqueItems": True}),
    _param("continue", "query", "The continue option should be set when retrieving more "
                                "results from the server."),
    _param("resourceVersion", "query", "resourceVersion sets a constraint on what resource "
                                       "versions a request may be served from."),
]
WRITE_PARAMS = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]


@dataclass(frozen=True)
class Op:
    """One operation in a neutral form ``_v3_operation``/``_v2_operation`` render: ``ok``
    maps response codes to definition names; ``body`` is the request body's definition."""

    action: str
    operationId: str
    description: str
    params: list[Obj]
    ok: dict[str, str]
    gvk: Obj
    body: str | None = None
    body_types: tuple[str, ...] = ("application/json",)


def operations(rt: ResourceType) -> dict[str, dict[str, Op]]:
    """path -> method -> neutral operation, for every path of ``rt``."""
    k, d = rt.kind, kind_definition(rt)
    ns = "/namespaces/{namespace}" if rt.namespaced else ""
    scope = "Namespaced" if rt.namespaced else ""
    base = f"{_prefix(rt)}{ns}/{rt.plural}"
    path_params = [NAMESPACE] if rt.namespaced else []
    own = {"group": rt.group, "version": rt.version, "kind": rt.kind}

    def _operation(action: str, op_id: str, description: str, params: list[Obj],
                   ok: dict[str, str], body: str | None = None,
                   body_types: tuple[str, ...] = ("application/json",),
                   gvk: Obj | None = None) -> Op:
        return Op(action, op_id, description, params, ok, gvk or own, body, body_types)

    out: dict[str, dict[str, Op]] = {}
    out[base] = {
        "get": _operation("list", f"list{scope}{k}", f"list or watch objects of kind {k}",
                          [*path_params, *LIST_PARAMS, PRETTY], {"200": d + "List"}),
        "post": _operation("post", f"create{scope}{k}", f"create a {k}",
                           [*path_params, *WRITE_PARAMS, PRETTY],
                           {"200": d, "201": d, "202": d}, body=d),
        "delete": _operation("deletecollection", f"deleteCollection{scope}{k}",
                             f"delete collection of {k}",
                             [*path_params, *LIST_PARAMS, DRY_RUN, PRETTY],
                             {"200": STATUS}, body=DELETE_OPTIONS),
    }
    if rt.namespaced:
        out[f"{_prefix(rt)}/{rt.plural}"] = {"get": _operation(
            "list", f"list{k}ForAllNamespaces", f"list or watch objects of kind {k}",
            [*LIST_PARAMS, PRETTY], {"200": d + "List"})}
    obj_params = [NAME, *path_params]
    out[f"{base}/{{name}}"] = {
        "get": _operation("get", f"read{scope}{k}", f"read the specified {k}",
                          [*obj_params, PRETTY], {"200": d}),
        "put": _operation("put", f"replace{scope}{k}", f"replace the specified {k}",
                          [*obj_params, *WRITE_PARAMS, PRETTY], {"200": d, "201": d}, body=d),
        "patch": _operation("patch", f"patch{scope}{k}",
                            f"partially update the specified {k}",
                            [*obj_params, *WRITE_PARAMS, FORCE, PRETTY], {"200": d, "201": d},
                            body=PATCH, body_types=PATCH_TYPES),
        "delete": _operation("delete", f"delete{scope}{k}", f"delete a {k}",
                             [*obj_params, DRY_RUN, PRETTY], {"200": STATUS, "202": STATUS},
                             body=DELETE_OPTIONS),
    }
    for sub in ("status", "scale"):
        if sub not in rt.subresources:
            continue
        sd = d if sub == "status" else SCALE
        gvk = None if sub == "status" else {"group": "autoscaling", "version": "v1",
                                            "kind": "Scale"}
        what = f"{sub} of the specified {k}"
        name = f"{k}{sub.capitalize()}"
        out[f"{base}/{{name}}/{sub}"] = {
            "get": _operation("get", f"read{scope}{name}", f"read {what}",
                              [*obj_params, PRETTY], {"200": sd}, gvk=gvk),
            "put": _operation("put", f"replace{scope}{name}", f"replace {what}",
                              [*obj_params, *WRITE_PARAMS, PRETTY], {"200": sd, "201": sd},
                              body=sd, gvk=gvk),
            "patch": _operation("patch", f"patch{scope}{name}",
                                f"partially update {what}",
                                [*obj_params, *WRITE_PARAMS, FORCE, PRETTY],
                                {"200": sd, "201": sd}, body=PATCH, body_types=PATCH_TYPES,
                                gvk=gvk),
        }
    return out


def _v3_operation(op: Op) -> Obj:
    out: Obj = {
        "description": op.description, "operationId": op.operationId,
        "parameters": op.params,
        "responses": {code: {"description": "OK" if code == "200" else (
            "Created" if code == "201" else "Accepted"),
            "content": {"application/json": {"schema": ref(name, "v3")}}}
            for code, name in op.ok.items()},
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk,
    }
    out["responses"]["401"] = {"description": "Unauthorized"}
    if op.body:
        out["requestBody"] = {
            "content": {t: {"schema": ref(op.body, "v3")} for t in op.body_types},
            "required": op.action != "delete" and op.action != "deletecollection"}
    return out


def _v2_operation(op: Op) -> Obj:
    params = [{k: v for k, v in p.items() if k != "schema"} | {
        "type": p["schema"]["type"], "uniqueItems": True} for p in op.params]
    if op.body:
        params.insert(0, {"name": "body", "in": "body",
                          "required": op.action not in ("delete", "deletecollection"),
                          "schema": ref(op.body, "v2")})
    return {
        "description": op.description, "operationId": op.operationId,
        "consumes": list(op.body_types) if op.body else ["*/*"],
        "produces": ["application/json"], "schemes": ["https"],
        "parameters": params,
        "responses": {**{code: {"description": "OK", "schema": ref(name, "v2")}
                         for code, name in op.ok.items()},
                      "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk,
    }


def _paths(rts: list[ResourceType], dialect: Dialect) -> Obj:
    render = _v3_operation if dialect == "v3" else _v2_operation
    paths: Obj = {}
    for rt in rts:
        for path, ops in operations(rt).items():
            paths[path] = {method: render(op) for method, op in ops.items()}
    return paths


def group_version_path(group: str, version: str) -> str:
    """``api/v1``, ``apis/apps/v1``: the document's key in the v3 index."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def v3_document(group: str, version: str) -> Obj | None:
    """The OpenAPI v3 document of one group-version, or None when gitkube serves none."""
    rts = [r for r in kinds.RESOURCES if (r.group, r.version) == (group, version)]
    if not rts:
        return None
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": _paths(rts, "v3"),
            "components": {"schemas": definitions(rts, "v3")}}


@cache
def v2_document() -> Obj:
    """The whole API as one Swagger 2.0 document (``/openapi/v2``)."""
    rts = list(kinds.RESOURCES)
    return {"swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": _paths(rts, "v2"),
            "definitions": definitions(rts, "v2")}
