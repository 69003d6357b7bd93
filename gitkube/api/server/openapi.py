"""A minimal OpenAPI v3, enough for ``kubectl apply``'s validation step.

kubectl (``--validate=strict``, the default) downloads ``/openapi/v3`` and asks, per kind,
whether the server validates fields itself: it looks for a path whose ``patch`` operation
carries ``x-kubernetes-group-version-kind`` and a ``fieldValidation`` query parameter. When
found, kubectl leaves validation to the server (gitkube validates every write). The patch
operations declare no request body, so kubectl computes client-side apply patches from its
built-in types rather than from schemas gitkube does not publish. ``/openapi/v2`` is 404.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from gitkube.api.server.messages import Response
from gitkube.api.server.routes import GROUP_VERSIONS, not_found
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]
_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")
]


def _prefix(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _object_path(rt: ResourceType) -> str:
    ns = "/namespaces/{namespace}" if rt.namespaced else ""
    return f"/{_prefix(rt.group, rt.version)}{ns}/{rt.plural}/{{name}}"


@cache
def group_document(group: str, version: str) -> Obj | None:
    rts = [r for r in kinds.RESOURCES if (r.group, r.version) == (group, version)]
    if not rts:
        return None
    paths: Obj = {}
    for rt in rts:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        paths[_object_path(rt)] = {"patch": {
            "operationId": f"patch{rt.kind}",
            "description": f"partially update the specified {rt.kind}",
            "parameters": _PARAMETERS,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }}
    return {"openapi": "3.0.0",
            "info": {"title": "gitkube", "version": _prefix(group, version)},
            "paths": paths, "components": {"schemas": {}}}


def _hash(doc: Obj) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


@cache
def index() -> Obj:
    paths: Obj = {}
    for group, version in GROUP_VERSIONS:
        doc = group_document(group, version)
        assert doc is not None
        prefix = _prefix(group, version)
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={_hash(doc)}"}
    return {"paths": paths}


def document(parts: list[str], query: Mapping[str, str]) -> Response:
    """``/openapi/v3`` (the index) and ``/openapi/v3/api/v1``, ``/openapi/v3/apis/G/V``."""
    if parts == ["v3"]:
        return Response.json(index())
    if parts[:1] == ["v3"]:
        rest = parts[1:]
        doc = None
        if len(rest) == 2 and rest[0] == "api":
            doc = group_document("", rest[1])
        elif len(rest) == 3 and rest[0] == "apis":
            doc = group_document(rest[1], rest[2])
        if doc is not None:
            return Response.json(doc)
    raise not_found("/openapi/" + "/".join(parts))
