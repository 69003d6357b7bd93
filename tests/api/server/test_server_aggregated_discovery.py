"""Aggregated discovery (/api and /apis as APIGroupDiscoveryList) over HTTP and with kubectl:
the same resources as the per-group-version lists, in two requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube.api.server import discovery
from tests.api.server.httphelp import call
from tests.api.server.kubectl_cli import KUBECTL, Kubectl
from tests.api.server.serving import Served

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
KUBECTL_ACCEPT = f"{V2},application/json"


def _flatten(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for group in doc["items"]:
        for version in group["versions"]:
            for r in version["resources"]:
                gv = f"{group['metadata']['name']}/{version['version']}".lstrip("/")
                out[f"{gv}/{r['resource']}"] = r
    return out


def test_aggregated_documents_match_the_resource_lists(served: Served) -> None:
    core = call(served.port, "GET", "/api", headers={"Accept": KUBECTL_ACCEPT})
    assert core.code == 200 and core.headers["content-type"] == V2
    assert core.json["kind"] == "APIGroupDiscoveryList"
    assert core.json["apiVersion"] == "apidiscovery.k8s.io/v2"
    groups = call(served.port, "GET", "/apis", headers={"Accept": KUBECTL_ACCEPT}).json
    found = {**_flatten(core.json), **_flatten(groups)}
    for gv in ("api/v1", "apis/apps/v1", "apis/batch/v1"):
        listed = call(served.port, "GET", "/" + gv).json
        for entry in listed["resources"]:
            name, _, sub = entry["name"].partition("/")
            one = found[f"{listed['groupVersion']}/{name}"]
            if sub:
                subs = {s["subresource"]: s for s in one["subresources"]}
                assert subs[sub]["verbs"] == entry["verbs"], entry
                continue
            assert one["responseKind"]["kind"] == entry["kind"]
            assert (one["scope"] == "Namespaced") == entry["namespaced"]
            assert one["verbs"] == entry["verbs"]
            assert one.get("shortNames") == entry.get("shortNames")
    scale = {s["subresource"]: s for s in found["apps/v1/deployments"]["subresources"]}
    assert scale["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1",
                                              "kind": "Scale"}
    v2beta1 = V2.replace("v=v2", "v=v2beta1")
    assert call(served.port, "GET", "/apis", headers={"Accept": v2beta1}).json[
        "apiVersion"] == "apidiscovery.k8s.io/v2beta1"


def test_plain_clients_and_the_switch_get_the_old_documents(served: Served) -> None:
    assert call(served.port, "GET", "/apis").json["kind"] == "APIGroupList"
    assert call(served.port, "GET", "/api", headers={
        "Accept": f"application/json,{V2}"}).json["kind"] == "APIVersions"
    etag = call(served.port, "GET", "/apis", headers={"Accept": V2}).headers["etag"]
    assert call(served.port, "GET", "/apis", headers={
        "Accept": V2, "If-None-Match": etag}).code == 304
    served.server.router.aggregated_discovery = False  # GITKUBE_AGGREGATED_DISCOVERY=0
    assert call(served.port, "GET", "/apis", headers={
        "Accept": KUBECTL_ACCEPT}).json["kind"] == "APIGroupList"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_discovers_in_two_requests(served: Served, tmp_path: Path) -> None:
    kubectl = Kubectl(served, tmp_path)

    def discovery_requests() -> list[str]:
        out = kubectl.run("get", "pods", "-v=6", "--cache-dir", str(tmp_path / "fresh"))
        urls = [line.split('url="', 1)[1].split('"', 1)[0] for line in out.stderr.splitlines()
                if '"Response"' in line]
        return [u.split("?", 1)[0].split(str(served.port), 1)[1] for u in urls
                if "/pods" not in u]

    assert discovery_requests() == ["/api", "/apis"]
    (tmp_path / "fresh").rename(tmp_path / "used")
    served.server.router.aggregated_discovery = False
    per_group = [f"/apis/{g}/{v}" if g else f"/api/{v}" for g, v in discovery.GROUP_VERSIONS]
    assert sorted(discovery_requests()) == sorted(["/api", "/apis", *per_group])
