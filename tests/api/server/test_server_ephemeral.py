"""pods/ephemeralcontainers over HTTP: discovery, GET, PATCH (as kubectl debug sends it) and
PUT, each changing only spec.ephemeralContainers."""

from __future__ import annotations

from tests.api.server.httphelp import assert_status, call
from tests.api.server.serving import Served

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default"},
       "spec": {"containers": [{"name": "main", "image": "img:1"}]}}
PATH = "/api/v1/namespaces/default/pods/app/ephemeralcontainers"
SMP = "application/strategic-merge-patch+json"


def test_discovery_lists_the_subresource(served: Served) -> None:
    resources = call(served.port, "GET", "/api/v1").json["resources"]
    entry = next(r for r in resources if r["name"] == "pods/ephemeralcontainers")
    assert entry["kind"] == "Pod" and sorted(entry["verbs"]) == ["get", "patch", "update"]


def test_get_patch_put(served: Served) -> None:
    served.local.create(POD)
    got = call(served.port, "GET", PATH)
    assert got.code == 200 and got.json["kind"] == "Pod"
    patch = {"spec": {"ephemeralContainers": [
        {"name": "debugger-abc", "image": "tools:1", "targetContainerName": "main",
         "stdin": True, "tty": True, "resources": {}, "terminationMessagePolicy": "File"}]}}
    patched = call(served.port, "PATCH", PATH, patch, content_type=SMP)
    assert patched.code == 200, patched.body
    assert [c["name"] for c in patched.json["spec"]["ephemeralContainers"]] == ["debugger-abc"]
    # PUT: the Pod body's list (the existing one kept, one appended)
    body = patched.json
    body["spec"]["ephemeralContainers"].append({"name": "two", "image": "tools:1"})
    body["spec"]["containers"][0]["image"] = "ignored:9"
    put = call(served.port, "PUT", PATH, body)
    assert put.code == 200, put.body
    assert [c["name"] for c in put.json["spec"]["ephemeralContainers"]] == \
        ["debugger-abc", "two"]
    assert put.json["spec"]["containers"][0]["image"] == "img:1"
    # the same body again is stale
    assert_status(call(served.port, "PUT", PATH, body), 409, "Conflict")
    # a removal is refused
    gone = call(served.port, "PATCH", PATH, {"spec": {"ephemeralContainers": []}},
                content_type="application/merge-patch+json")
    status = assert_status(gone, 422, "Invalid")
    assert "may not be removed" in status["message"]
    assert_status(call(served.port, "PATCH", PATH + "?dryRun=All", patch, content_type=SMP),
                  400, "BadRequest")


def test_other_kinds_have_no_such_subresource(served: Served) -> None:
    served.local.create({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "c", "namespace": "default"}})
    assert_status(call(served.port, "GET",
                       "/api/v1/namespaces/default/configmaps/c/ephemeralcontainers"),
                  404, "NotFound")
