"""The REST API on the wire: every verb, subresource and error code, checked with raw
HTTP against a server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitkube.store import Store
from tests.api.server.httphelp import assert_status, call, deployment, pod
from tests.api.server.serving import Served, start

Obj = dict[str, Any]
PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def names(listing: Obj) -> list[str]:
    return [o["metadata"]["name"] for o in listing["items"]]


# --- discovery -----------------------------------------------------------------------------


def test_version_and_group_discovery(served: Served) -> None:
    version = call(served.port, "GET", "/version").json
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    api = call(served.port, "GET", "/api").json
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    groups = call(served.port, "GET", "/apis").json
    assert groups["kind"] == "APIGroupList"
    by_name = {g["name"]: g for g in groups["groups"]}
    assert {"apps", "batch"} <= set(by_name)
    assert by_name["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert call(served.port, "GET", "/apis/apps").json["kind"] == "APIGroup"
    assert_status(call(served.port, "GET", "/apis/nothing.example.com/v1"), 404, "NotFound")


def test_resource_lists_carry_short_names_categories_and_subresources(served: Served) -> None:
    core = call(served.port, "GET", "/api/v1").json
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    res = {r["name"]: r for r in core["resources"]}
    assert res["pods"]["shortNames"] == ["po"] and res["pods"]["categories"] == ["all"]
    assert res["pods"]["namespaced"] and res["pods"]["kind"] == "Pod"
    assert res["pods"]["singularName"] == "pod"
    assert set(res["pods"]["verbs"]) >= {"get", "list", "watch", "create", "delete",
                                         "deletecollection", "patch", "update"}
    assert res["pods/log"]["verbs"] == ["get"] and "pods/status" in res
    assert res["pods/binding"]["verbs"] == ["create"]
    assert not res["nodes"]["namespaced"] and res["namespaces"]["shortNames"] == ["ns"]
    for short in ("svc", "cm", "no", "ev", "pvc"):
        assert any(short in r.get("shortNames", []) for r in core["resources"]), short
    apps = {r["name"]: r for r in call(served.port, "GET", "/apis/apps/v1").json["resources"]}
    assert apps["deployments"]["shortNames"] == ["deploy"]
    assert apps["deployments/scale"]["group"] == "autoscaling"
    assert apps["deployments/scale"]["version"] == "v1"
    assert apps["deployments/scale"]["kind"] == "Scale"
    assert {"rs", "ds", "sts"} <= {s for r in apps.values() for s in r.get("shortNames", [])}
    batch = call(served.port, "GET", "/apis/batch/v1").json
    assert batch["resources"][0]["name"] == "jobs"


def test_health_paths(served: Served) -> None:
    answer = call(served.port, "GET", "/healthz")
    assert (answer.code, answer.body) == (200, b"ok")


# --- create, get, list ---------------------------------------------------------------------


def test_create_get_list_namespaced_and_cluster_scoped(served: Served) -> None:
    created = call(served.port, "POST", PODS, pod("a", labels={"app": "web"}))
    assert created.code == 201
    obj = created.json
    assert obj["kind"] == "Pod" and obj["apiVersion"] == "v1"
    assert obj["metadata"]["uid"] and isinstance(obj["metadata"]["resourceVersion"], str)
    assert obj["metadata"]["creationTimestamp"].endswith("Z")
    call(served.port, "POST", "/api/v1/namespaces",
         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    call(served.port, "POST", "/api/v1/namespaces/other/pods", pod("b", "other"))
    got = call(served.port, "GET", f"{PODS}/a").json
    assert got == obj
    listing = call(served.port, "GET", PODS).json
    assert listing["kind"] == "PodList" and listing["apiVersion"] == "v1"
    assert listing["metadata"]["resourceVersion"] and names(listing) == ["a"]
    assert names(call(served.port, "GET", "/api/v1/pods").json) == ["a", "b"]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert call(served.port, "POST", "/api/v1/nodes", node).code == 201
    assert call(served.port, "GET", "/api/v1/nodes/n1").json["metadata"]["name"] == "n1"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    assert call(served.port, "POST", "/api/v1/namespaces", ns).code == 201
    assert call(served.port, "GET", "/api/v1/namespaces/team").json["status"] == {
        "phase": "Active"}
    assert call(served.port, "POST", DEPLOYS, deployment()).code == 201
    assert names(call(served.port, "GET", "/apis/apps/v1/deployments").json) == ["web"]


def test_body_without_kind_or_namespace_takes_them_from_the_path(served: Served) -> None:
    call(served.port, "POST", "/api/v1/namespaces",
         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    body = {"metadata": {"name": "cfg"}, "data": {"k": "v"}}
    out = call(served.port, "POST", "/api/v1/namespaces/team/configmaps", body).json
    assert (out["kind"], out["metadata"]["namespace"]) == ("ConfigMap", "team")


def test_no_content_type_is_json_and_yaml_is_accepted(served: Served) -> None:
    answer = call(served.port, "POST", PODS, pod("nocontenttype"), content_type=None)
    assert answer.code == 201
    yaml_body = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n"
                 "data:\n  key: value\n")
    out = call(served.port, "POST", "/api/v1/namespaces/default/configmaps", yaml_body,
               content_type="application/yaml")
    assert out.code == 201 and out.json["data"] == {"key": "value"}


def test_protobuf_accept_still_gets_json(served: Served) -> None:
    answer = call(served.port, "GET", "/api/v1/namespaces", headers={
        "Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert answer.code == 200 and answer.content_type == "application/json"
    assert answer.json["kind"] == "NamespaceList"


def test_label_and_field_selectors(served: Served) -> None:
    for name, labels in (("a", {"app": "web"}), ("b", {"app": "db"}), ("c", {})):
        call(served.port, "POST", PODS, pod(name, labels=labels))
    call(served.port, "POST", "/api/v1/namespaces/default/pods/a/binding",
         {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"},
          "target": {"kind": "Node", "name": "n1"}})

    def q(query: str, base: str = PODS) -> list[str]:
        return names(call(served.port, "GET", f"{base}?{query}").json)

    assert q("labelSelector=app%3Dweb") == ["a"]
    assert q("labelSelector=app+in+(web,db)") == ["a", "b"]
    assert q("labelSelector=!app") == ["c"]
    assert q("fieldSelector=metadata.name%3Db") == ["b"]
    assert q("fieldSelector=spec.nodeName%3Dn1") == ["a"]
    assert q("fieldSelector=spec.nodeName%3D") == ["b", "c"]
    assert q("fieldSelector=status.phase%3DPending,metadata.name!%3Da") == ["b", "c"]
    assert q("fieldSelector=metadata.namespace%3Ddefault", "/api/v1/pods") == ["a", "b", "c"]
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
             "involvedObject": {"kind": "Pod", "name": "a", "namespace": "default"},
             "reason": "Scheduled", "message": "ok", "type": "Normal"}
    call(served.port, "POST", "/api/v1/namespaces/default/events", event)
    assert q("fieldSelector=involvedObject.name%3Da,involvedObject.namespace%3Ddefault",
             "/api/v1/namespaces/default/events") == ["e1"]
    assert_status(call(served.port, "GET", f"{PODS}?fieldSelector=spec.bogus%3Dx"), 400,
                  "BadRequest")
    assert_status(call(served.port, "GET", f"{PODS}?labelSelector=%3D%3D%3D"), 400,
                  "BadRequest")


# --- update, patch -------------------------------------------------------------------------


def test_put_replaces_and_stale_resource_version_conflicts(served: Served) -> None:
    obj = call(served.port, "POST", DEPLOYS, deployment()).json
    obj["spec"]["replicas"] = 3
    updated = call(served.port, "PUT", f"{DEPLOYS}/web", obj)
    assert updated.code == 200 and updated.json["spec"]["replicas"] == 3
    assert updated.json["metadata"]["generation"] == 2
    stale = call(served.port, "PUT", f"{DEPLOYS}/web", obj)  # the old resourceVersion
    status = assert_status(stale, 409, "Conflict")
    assert status["details"] == {"name": "web", "kind": "deployments", "group": "apps"}
    other = dict(obj, metadata={"name": "other"})
    assert_status(call(served.port, "PUT", f"{DEPLOYS}/web", other), 400, "BadRequest")
    assert_status(call(served.port, "PUT", f"{DEPLOYS}/missing",
                       deployment("missing")), 404, "NotFound")


def test_patch_by_content_type(served: Served) -> None:
    call(served.port, "POST", DEPLOYS, deployment())
    merged = call(served.port, "PATCH", f"{DEPLOYS}/web", {"spec": {"replicas": 2}},
                  content_type="application/merge-patch+json")
    assert merged.code == 200 and merged.json["spec"]["replicas"] == 2
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 4}]
    jsoned = call(served.port, "PATCH", f"{DEPLOYS}/web", ops,
                  content_type="application/json-patch+json")
    assert jsoned.json["spec"]["replicas"] == 4
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "side",
                                                         "image": "busybox:1"}]}}}}
    strategic = call(served.port, "PATCH", f"{DEPLOYS}/web", smp,
                     content_type="application/strategic-merge-patch+json").json
    containers = strategic["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side"]  # merged by name
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 9}}
    assert_status(call(served.port, "PATCH", f"{DEPLOYS}/web", stale,
                       content_type="application/merge-patch+json"), 409, "Conflict")
    bad_test = [{"op": "test", "path": "/spec/replicas", "value": 99}]
    assert_status(call(served.port, "PATCH", f"{DEPLOYS}/web", bad_test,
                       content_type="application/json-patch+json"), 422, "Invalid")
    status = assert_status(call(served.port, "PATCH", f"{DEPLOYS}/web", {"a": 1},
                                content_type="text/plain"), 415, "UnsupportedMediaType")
    assert "merge-patch+json" in status["message"]
    assert_status(call(served.port, "PATCH", f"{DEPLOYS}/web", {"a": 1}, content_type=None),
                  415, "UnsupportedMediaType")
    assert_status(call(served.port, "PATCH", f"{DEPLOYS}/nope", {"a": 1},
                       content_type="application/merge-patch+json"), 404, "NotFound")


def test_apply_patch_creates_then_merges_and_needs_a_field_manager(served: Served) -> None:
    manifest = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
                "  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n"
                "    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n"
                "      - {name: main, image: 'nginx:1.25'}\n")
    path = f"{DEPLOYS}/web?fieldManager=kubectl"
    created = call(served.port, "PATCH", path, manifest,
                   content_type="application/apply-patch+yaml")
    assert created.code == 200 and created.json["spec"]["replicas"] == 2
    again = call(served.port, "PATCH", path, manifest.replace("replicas: 2", "replicas: 5"),
                 content_type="application/apply-patch+yaml")
    assert again.json["spec"]["replicas"] == 5
    assert again.json["metadata"]["uid"] == created.json["metadata"]["uid"]
    assert_status(call(served.port, "PATCH", f"{DEPLOYS}/web", manifest,
                       content_type="application/apply-patch+yaml"), 422, "Invalid")


# --- subresources --------------------------------------------------------------------------


def test_status_subresource_changes_only_status(served: Served) -> None:
    obj = call(served.port, "POST", DEPLOYS, deployment()).json
    obj["status"] = {"replicas": 1, "observedGeneration": 1}
    obj["spec"]["replicas"] = 7
    out = call(served.port, "PUT", f"{DEPLOYS}/web/status", obj).json
    assert out["status"]["replicas"] == 1 and out["spec"]["replicas"] == 1
    patched = call(served.port, "PATCH", f"{DEPLOYS}/web/status",
                   {"status": {"readyReplicas": 1}},
                   content_type="application/merge-patch+json").json
    assert patched["status"]["readyReplicas"] == 1
    assert call(served.port, "GET", f"{DEPLOYS}/web/status").json["status"][
        "readyReplicas"] == 1
    # the main resource ignores status
    current = call(served.port, "GET", f"{DEPLOYS}/web").json
    current["status"] = {"replicas": 99}
    assert call(served.port, "PUT", f"{DEPLOYS}/web", current).json["status"]["replicas"] == 1
    assert_status(call(served.port, "GET", "/api/v1/namespaces/default/configmaps/x/status"),
                  404, "NotFound")


def test_scale_subresource(served: Served) -> None:
    call(served.port, "POST", DEPLOYS, deployment(replicas=2))
    scale = call(served.port, "GET", f"{DEPLOYS}/web/scale").json
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=web"
    patched = call(served.port, "PATCH", f"{DEPLOYS}/web/scale", {"spec": {"replicas": 3}},
                   content_type="application/merge-patch+json").json
    assert patched["spec"]["replicas"] == 3
    scale = call(served.port, "GET", f"{DEPLOYS}/web/scale").json
    scale["spec"]["replicas"] = 4
    assert call(served.port, "PUT", f"{DEPLOYS}/web/scale", scale).json["spec"][
        "replicas"] == 4
    assert_status(call(served.port, "PUT", f"{DEPLOYS}/web/scale", scale), 409, "Conflict")
    assert call(served.port, "GET", f"{DEPLOYS}/web").json["spec"]["replicas"] == 4
    assert_status(call(served.port, "PUT", f"{DEPLOYS}/web/scale",
                       {"spec": {"replicas": -1}}), 422, "Invalid")
    assert_status(call(served.port, "GET", "/apis/apps/v1/namespaces/default/daemonsets/x/"
                       "scale"), 404, "NotFound")


def test_binding_subresource(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a"))
    binding: Obj = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
    answer = call(served.port, "POST", f"{PODS}/a/binding", binding)
    assert answer.code == 201 and answer.json["status"] == "Success"
    bound = call(served.port, "GET", f"{PODS}/a").json
    assert bound["spec"]["nodeName"] == "n1"
    binding["target"]["name"] = "n2"
    assert_status(call(served.port, "POST", f"{PODS}/a/binding", binding), 409, "Conflict")
    assert_status(call(served.port, "POST", f"{PODS}/a/binding", {"target": {}}), 400,
                  "BadRequest")


def test_pod_log_subresource(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a"))
    call(served.port, "POST", PODS, pod("two", containers=("x", "y")))
    answer = call(served.port, "GET", f"{PODS}/a/log")
    assert answer.code == 200 and answer.content_type == "text/plain"
    assert answer.body == b"a/c line 1\na/c line 2\na/c line 3\n"
    assert call(served.port, "GET", f"{PODS}/a/log?tailLines=1").body == b"a/c line 3\n"
    assert call(served.port, "GET", f"{PODS}/a/log?limitBytes=5").body == b"a/c l"
    followed = call(served.port, "GET", f"{PODS}/a/log?follow=true&container=c")
    assert followed.code == 200 and followed.headers["transfer-encoding"] == "chunked"
    assert followed.body.count(b"\n") == 3
    assert call(served.port, "GET", f"{PODS}/two/log?container=y").body.startswith(
        b"two/y line 1")
    status = assert_status(call(served.port, "GET", f"{PODS}/two/log"), 400, "BadRequest")
    assert "a container name must be specified" in status["message"]
    assert_status(call(served.port, "GET", f"{PODS}/a/log?container=nope"), 400,
                  "BadRequest")
    assert_status(call(served.port, "GET", f"{PODS}/missing/log"), 404, "NotFound")
    assert_status(call(served.port, "GET", f"{PODS}/a/log?tailLines=x"), 400, "BadRequest")


def test_default_log_provider_refuses_unscheduled_pods(store: Store) -> None:
    s = start(store, logs=None)  # the runtime provider, never reached for unbound pods
    try:
        call(s.port, "POST", PODS, pod("a"))
        status = assert_status(call(s.port, "GET", f"{PODS}/a/log"), 400, "BadRequest")
        assert "not scheduled" in status["message"]
    finally:
        s.server.shutdown()


# --- delete --------------------------------------------------------------------------------


def test_delete_with_options_in_body_or_query(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a"))
    gone = call(served.port, "DELETE", f"{PODS}/a", {"kind": "DeleteOptions",
                                                      "apiVersion": "v1",
                                                      "propagationPolicy": "Background"})
    assert gone.code == 200 and gone.json["metadata"]["name"] == "a"
    assert_status(call(served.port, "GET", f"{PODS}/a"), 404, "NotFound")
    assert_status(call(served.port, "DELETE", f"{PODS}/a"), 404, "NotFound")
    call(served.port, "POST", DEPLOYS, deployment())
    held = call(served.port, "DELETE", f"{DEPLOYS}/web?propagationPolicy=Foreground").json
    assert held["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in held["metadata"]["finalizers"]
    call(served.port, "POST", PODS, pod("b"))
    status = assert_status(call(served.port, "DELETE", f"{PODS}/b",
                                {"preconditions": {"uid": "not-the-uid"}}), 409, "Conflict")
    assert "UID" in status["message"] or "uid" in status["message"].lower()
    assert_status(call(served.port, "DELETE", f"{PODS}/b", {"propagationPolicy": "Later"}),
                  400, "BadRequest")
    orphan = call(served.port, "DELETE", f"{PODS}/b", {"orphanDependents": True}).json
    assert "orphan" in orphan["metadata"].get("finalizers", [])


def test_deletecollection(served: Served) -> None:
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        call(served.port, "POST", PODS, pod(name, labels={"app": app}))
    deleted = call(served.port, "DELETE", f"{PODS}?labelSelector=app%3Dweb").json
    assert deleted["kind"] == "PodList" and names(deleted) == ["a", "b"]
    assert names(call(served.port, "GET", PODS).json) == ["c"]


# --- bad requests: each gets a Status ------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code", "reason"), [
    ("POST", PODS, b"{not json", "application/json", 400, "BadRequest"),
    ("POST", PODS, b"a: [unclosed", "application/yaml", 400, "BadRequest"),
    ("POST", PODS, b"<pod/>", "application/xml", 415, "UnsupportedMediaType"),
    ("POST", PODS, b"[1, 2]", "application/json", 400, "BadRequest"),
    ("POST", PODS, b"", "application/json", 400, "BadRequest"),
    ("POST", PODS, json.dumps(deployment()).encode(), "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/other/pods", json.dumps(pod("x")).encode(),
     "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/pods", json.dumps(pod("x")).encode(), "application/json", 405,
     "MethodNotAllowed"),
    ("POST", f"{PODS}?dryRun=Sometimes", json.dumps(pod("x")).encode(), "application/json",
     400, "BadRequest"),
    ("GET", "/api/v1/namespaces/default/widgets", None, None, 404, "NotFound"),
    ("GET", "/apis/apps/v2/deployments", None, None, 404, "NotFound"),
    ("GET", "/api/v1/namespaces/default/nodes", None, None, 404, "NotFound"),
    ("GET", "/api/v1/pods/a", None, None, 404, "NotFound"),
    ("GET", "/no/such/path", None, None, 404, "NotFound"),
    ("GET", f"{PODS}/a/b/c/d", None, None, 404, "NotFound"),
    ("POST", "/version", b"{}", "application/json", 405, "MethodNotAllowed"),
    ("PUT", PODS, b"{}", "application/json", 405, "MethodNotAllowed"),
    ("GET", f"{PODS}?watch=1&timeoutSeconds=soon", None, None, 400, "BadRequest"),
])
def test_bad_requests_get_a_status(served: Served, method: str, path: str,
                                   body: bytes | None, ctype: str | None, code: int,
                                   reason: str) -> None:
    assert_status(call(served.port, method, path, body, content_type=ctype), code, reason)


def test_invalid_objects_list_every_cause(served: Served) -> None:
    bad = deployment()
    bad["spec"]["replicas"] = -1
    bad["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    bad["metadata"]["name"] = "Not_A_Name"
    status = assert_status(call(served.port, "POST", DEPLOYS, bad), 422, "Invalid")
    fields = {c["field"] for c in status["details"]["causes"]}
    assert len(status["details"]["causes"]) >= 3, status
    assert "metadata.name" in fields and "spec.replicas" in fields
    assert status["details"]["kind"] and status["details"]["name"] == "Not_A_Name"


def test_already_exists(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a"))
    status = assert_status(call(served.port, "POST", PODS, pod("a")), 409, "AlreadyExists")
    assert "already exists" in status["message"]


def test_oversized_body_is_413_and_the_server_lives_on(store: Store) -> None:
    s = start(store, max_body_bytes=1024)
    try:
        big = pod("big")
        big["metadata"]["annotations"] = {"x": "y" * 2048}
        assert_status(call(s.port, "POST", PODS, big), 413, "RequestEntityTooLarge")
        assert call(s.port, "POST", PODS, pod("small")).code == 201
        huge = b'{"pad": "' + b"x" * (8 * 1024 * 1024) + b'"}'  # more than socket buffers
        assert_status(call(s.port, "POST", PODS, huge), 413, "RequestEntityTooLarge")
    finally:
        s.server.shutdown()


def test_internal_errors_are_a_status_without_traceback(served: Served,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(served.local, "list", boom)
    monkeypatch.setattr(served.local, "iter_list", boom)  # what the server lists with
    answer = call(served.port, "GET", PODS)
    status = assert_status(answer, 500, "InternalError")
    assert "secret detail" not in status["message"] and b"Traceback" not in answer.body


def test_keep_alive_connection_serves_many_requests(served: Served) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        for i in range(5):
            conn.request("POST", "/api/v1/namespaces/default/configmaps",
                         json.dumps({"metadata": {"name": f"c{i}"}}),
                         {"Content-Type": "application/json"})
            assert conn.getresponse().read() and True
        conn.request("GET", "/api/v1/namespaces/default/configmaps/nope")
        response = conn.getresponse()
        assert response.status == 404 and json.loads(response.read())["reason"] == "NotFound"
        conn.request("GET", "/api/v1/namespaces/default/configmaps")
        assert len(json.loads(conn.getresponse().read())["items"]) == 5
    finally:
        conn.close()


def test_table_output(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a", labels={"app": "web"}))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = call(served.port, "GET", PODS, headers={"Accept": accept}).json
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    columns = [c["name"] for c in table["columnDefinitions"]]
    normal = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert normal[0] == "Name" and normal[-1] == "Age" and "Status" in normal
    assert columns[len(normal):] == ["IP", "Node"]  # -o wide
    assert table["columnDefinitions"][0]["format"] == "name"
    row = table["rows"][0]
    assert row["cells"][0] == "a" and row["cells"][columns.index("Status")] == "Pending"
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["labels"] == {"app": "web"}
    one = call(served.port, "GET", f"{PODS}/a", headers={"Accept": accept}).json
    assert one["kind"] == "Table" and len(one["rows"]) == 1


def test_openapi_v3_index_and_group_documents(served: Served) -> None:
    index = call(served.port, "GET", "/openapi/v3").json
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    doc = call(served.port, "GET", url).json
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1",
                                                     "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in op["parameters"]]
    assert "/api/v1/nodes/{name}" in call(served.port, "GET", "/openapi/v3/api/v1").json[
        "paths"]
    assert call(served.port, "GET", "/openapi/v2").json["swagger"] == "2.0"


def test_dry_run_validates_and_answers_but_writes_nothing(served: Served) -> None:
    dry = call(served.port, "POST", f"{DEPLOYS}?dryRun=All", deployment())
    assert dry.code == 201 and dry.json["spec"]["strategy"]["type"] == "RollingUpdate"
    assert_status(call(served.port, "GET", f"{DEPLOYS}/web"), 404, "NotFound")
    bad = deployment("bad")
    bad["spec"]["replicas"] = -1
    assert_status(call(served.port, "POST", f"{DEPLOYS}?dryRun=All", bad), 422, "Invalid")
    live = call(served.port, "POST", DEPLOYS, deployment()).json
    assert_status(call(served.port, "POST", f"{DEPLOYS}?dryRun=All", deployment()), 409,
                  "AlreadyExists")
    patched = call(served.port, "PATCH", f"{DEPLOYS}/web?dryRun=All",
                   {"spec": {"replicas": 9}}, content_type="application/merge-patch+json")
    assert patched.json["spec"]["replicas"] == 9 and patched.json["metadata"]["generation"] == 2
    changed = dict(live, spec={**live["spec"], "replicas": 7})
    assert call(served.port, "PUT", f"{DEPLOYS}/web?dryRun=All", changed).json["spec"][
        "replicas"] == 7
    scaled = call(served.port, "PATCH", f"{DEPLOYS}/web/scale?dryRun=All",
                  {"spec": {"replicas": 5}}, content_type="application/merge-patch+json")
    assert scaled.json["spec"]["replicas"] == 5
    deleted = call(served.port, "DELETE", f"{DEPLOYS}/web", {"dryRun": ["All"]})
    assert deleted.code == 200 and deleted.json["metadata"]["name"] == "web"
    assert call(served.port, "DELETE", f"{DEPLOYS}?dryRun=All").json["items"]
    assert call(served.port, "GET", f"{DEPLOYS}/web").json == live  # untouched throughout


def test_http_client_pod_logs(served: Served) -> None:
    from gitkube.api.http_client import HTTPClient
    from gitkube.api.server import LogOptions
    from gitkube.errors import BadRequest, NotFound

    client = HTTPClient(served.url)
    client.create(pod("a"))
    assert list(client.pod_logs("default", "a")) == [
        "a/c line 1\n", "a/c line 2\n", "a/c line 3\n"]
    assert list(client.pod_logs("default", "a", LogOptions(follow=True, tail_lines=1))) == [
        "a/c line 3\n"]
    with pytest.raises(NotFound):
        client.pod_logs("default", "missing")
    with pytest.raises(BadRequest):
        client.pod_logs("default", "a", LogOptions(container="nope"))


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /api/v1/pods HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
])
def test_malformed_http_gets_a_status_and_the_server_survives(served: Served,
                                                              raw: bytes) -> None:
    import json as jsonlib
    import socket

    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1][:1] == b"4", head  # a 4xx
    status = jsonlib.loads(body)
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert call(served.port, "GET", "/version").code == 200


def test_store_failures_are_503_and_other_failures_500(served: Served,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from gitkube.errors import GitkubeError, StoreUnavailable

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("etcd at 127.0.0.1:1 does not answer")

    monkeypatch.setattr(served.local, "get", down)
    status = assert_status(call(served.port, "GET", f"{PODS}/a"), 503, "ServiceUnavailable")
    assert "does not answer" in status["message"]

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise GitkubeError("podman is not installed")

    monkeypatch.setattr(served.local, "get", failing)
    status = assert_status(call(served.port, "GET", f"{PODS}/a"), 500, "InternalError")
    assert status["message"] == "podman is not installed"


def test_version_strings() -> None:
    from gitkube.api.server.discovery import version

    assert version("0.1.0")["gitVersion"] == "v1.32.0-gitkube.0.1.0"
    assert version("v1.32.0-gitkube.0.1.0")["gitVersion"] == "v1.32.0-gitkube.0.1.0"
