"""/openapi/v3 and /openapi/v2 over HTTP: documents built from gitkube's schemas, upstream's
caching (hash, ETag, 301 for a stale hash, 304), content negotiation for v2's protobuf."""

from __future__ import annotations

from typing import Any

from gitkube.api.server import openapi_proto
from gitkube.api.server.openapi_schemas import json_schema_definitions
from gitkube.model import kinds
from gitkube.model.mergekeys import MERGE_KEYS
from tests.api.server.httphelp import assert_status, call
from tests.api.server.serving import Served

Obj = dict[str, Any]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _v3(served: Served, gv: str) -> Obj:
    index = call(served.port, "GET", "/openapi/v3").json
    doc: Obj = call(served.port, "GET", index["paths"][gv]["serverRelativeURL"]).json
    return doc


def test_every_kind_has_an_upstream_named_definition_with_its_gvk(served: Served) -> None:
    def gv_of(rt: kinds.ResourceType) -> str:
        return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"

    docs = {gv: _v3(served, gv) for gv in sorted({gv_of(rt) for rt in kinds.RESOURCES})}
    for rt in kinds.RESOURCES:
        schemas = docs[gv_of(rt)]["components"]["schemas"]
        group = rt.group.removesuffix(".k8s.io") or "core"  # discovery.k8s.io -> discovery
        name = f"io.k8s.api.{group}.{rt.version}.{rt.kind}"
        assert schemas[name]["x-kubernetes-group-version-kind"] == [
            {"group": rt.group, "kind": rt.kind, "version": rt.version}], name
        assert schemas[name]["properties"]["metadata"]["allOf"] == [
            {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    for doc in docs.values():  # every reference resolves inside its own document
        schemas = doc["components"]["schemas"]
        for ref in _refs(doc):
            assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_schemas_carry_list_and_patch_extensions_in_plain_types(served: Served) -> None:
    schemas = _v3(served, "api/v1")["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["type"] == "array"  # not ["array", "null"]
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == \
        "int-or-string"
    policy = schemas["io.k8s.api.core.v1.Container"]["properties"]["imagePullPolicy"]
    assert policy["type"] == "string" and None not in policy["enum"]


def test_v3_hash_etag_and_caching_as_upstream(served: Served) -> None:
    url = call(served.port, "GET", "/openapi/v3").json["paths"]["api/v1"]["serverRelativeURL"]
    fresh = call(served.port, "GET", url)
    assert fresh.code == 200 and "immutable" in fresh.headers["cache-control"]
    etag = fresh.headers["etag"]
    assert etag == f'"{url.split("hash=")[1]}"'
    unchanged = call(served.port, "GET", "/openapi/v3/api/v1", headers={"If-None-Match": etag})
    assert unchanged.code == 304 and unchanged.body == b""
    stale = call(served.port, "GET", "/openapi/v3/api/v1?hash=OLD")
    assert stale.code == 301 and stale.headers["location"] == url
    assert_status(call(served.port, "GET", "/openapi/v3/apis/nope/v1"), 404, "NotFound")


def test_v2_json_and_protobuf_by_accept(served: Served) -> None:
    doc = call(served.port, "GET", "/openapi/v2", headers={"Accept": "application/json"}).json
    assert doc["definitions"]["io.k8s.api.apps.v1.Deployment"][
        "x-kubernetes-group-version-kind"][0]["kind"] == "Deployment"
    assert doc["definitions"]["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"][
        "$ref"] == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    pb = call(served.port, "GET", "/openapi/v2",
              headers={"Accept": openapi_proto.MEDIA_TYPE})
    assert pb.code == 200 and pb.headers["content-type"] == openapi_proto.CONTENT_TYPE
    assert pb.body.startswith(b"\x0a\x032.0")  # field 1 (swagger), "2.0"
    assert b"io.k8s.api.apps.v1.DeploymentSpec" in pb.body
    assert_status(call(served.port, "GET", "/openapi/v2", headers={"Accept": "text/html"}),
                  406, "NotAcceptable")


def test_published_merge_keys_agree_with_the_strategic_merge_tables() -> None:
    """The schemas carry upstream's patch-merge-keys; every list the server's strategic
    merge keys (gitkube/model/mergekeys.py) is published with the same key."""
    published: dict[str, set[str]] = {}
    for node in json_schema_definitions().values():
        for name, prop in (node.get("properties") or {}).items():
            if "x-kubernetes-patch-merge-key" in prop:
                published.setdefault(name, set()).add(prop["x-kubernetes-patch-merge-key"])
    for field, key in MERGE_KEYS.items():
        assert published.get(field) == {key}, field
    assert published["ports"] == {"containerPort", "port"}  # by kind, as merge_key() picks
