"""The Client contract for writes, run against LocalClient over every store backend."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from gitkube.api import LocalClient
from gitkube.errors import AlreadyExists, BadRequest, Conflict, Forbidden, Invalid, NotFound
from gitkube.model.times import parse_time

Obj = dict[str, Any]


def deployment(name: str = "web", *, replicas: int | None = None, image: str = "nginx:1.25",
               labels: dict[str, str] | None = None) -> Obj:
    spec: Obj = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": image}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    meta: Obj = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def configmap(name: str = "cfg", **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": dict(data)}


# --- create --------------------------------------------------------------------------------


def test_create_sets_server_metadata_and_defaults(client: LocalClient) -> None:
    out = client.create(deployment())
    meta = out["metadata"]
    assert meta["namespace"] == "default"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert isinstance(meta["resourceVersion"], str) and int(meta["resourceVersion"]) > 0
    assert meta["generation"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%",
                                                        "maxSurge": "25%"}
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert out["status"] == {}
    assert client.get("apps/v1", "Deployment", "default", "web") == out


def test_create_ignores_client_server_fields(client: LocalClient) -> None:
    obj = deployment()
    obj["metadata"].update(uid="forged", resourceVersion="99", generation=7,
                           deletionTimestamp="2020-01-01T00:00:00Z")
    obj["status"] = {"replicas": 5}
    out = client.create(obj)
    assert out["metadata"]["uid"] != "forged"
    assert out["metadata"]["generation"] == 1
    assert "deletionTimestamp" not in out["metadata"]
    assert out["status"] == {}


def test_create_initial_status_per_kind(client: LocalClient) -> None:
    pod = client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                         "status": {"phase": "Running"}})
    assert pod["status"] == {"phase": "Pending"}
    ns = client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert ns["status"] == {"phase": "Active"}
    assert "namespace" not in ns["metadata"]
    node = client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                          "status": {"capacity": {"cpu": "4"}}})
    assert node["status"] == {"capacity": {"cpu": "4"}}


def test_generate_name(client: LocalClient) -> None:
    obj = configmap()
    del obj["metadata"]["name"]
    obj["metadata"]["generateName"] = "web-"
    a, b = client.create(obj), client.create(obj)
    assert a["metadata"]["name"].startswith("web-") and len(a["metadata"]["name"]) == 9
    assert a["metadata"]["name"] != b["metadata"]["name"]


def test_create_existing_is_already_exists(client: LocalClient) -> None:
    client.create(configmap())
    with pytest.raises(AlreadyExists) as info:
        client.create(configmap())
    status = info.value.status()
    assert status["code"] == 409 and status["reason"] == "AlreadyExists"
    assert 'configmaps "cfg" already exists' in status["message"]


def test_get_missing_is_not_found(client: LocalClient) -> None:
    with pytest.raises(NotFound) as info:
        client.get("v1", "ConfigMap", "default", "nope")
    assert info.value.status()["code"] == 404
    assert info.value.status()["details"]["name"] == "nope"


def test_unknown_kind_is_a_clear_error(client: LocalClient) -> None:
    with pytest.raises(BadRequest, match='no kind "Gizmo" is registered for version "v1"'):
        client.create({"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "g"}})
    with pytest.raises(NotFound):
        client.list("v1", "Gizmo")


def test_invalid_lists_every_cause(client: LocalClient) -> None:
    obj = configmap("Not_A_Name")
    obj["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "name": "x"},
        {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": True},
    ]
    with pytest.raises(Invalid) as info:
        client.create(obj)
    status = info.value.status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"metadata.name", "metadata.ownerReferences[0].kind",
            "metadata.ownerReferences[0].uid", "metadata.ownerReferences"} <= fields
    assert client.list("v1", "ConfigMap").items == []


def test_returned_objects_are_private_copies(client: LocalClient) -> None:
    out = client.create(configmap(a="1"))
    out["data"]["a"] = "mutated"
    got = client.get("v1", "ConfigMap", "default", "cfg")
    assert got["data"]["a"] == "1"
    got["data"]["a"] = "again"
    assert client.list("v1", "ConfigMap").items[0]["data"]["a"] == "1"


# --- update --------------------------------------------------------------------------------


def test_generation_bumps_only_on_spec_change(client: LocalClient) -> None:
    first = client.create(deployment())
    relabelled = client.update({**first, "metadata": {**first["metadata"], "labels": {"x": "y"}}})
    assert relabelled["metadata"]["generation"] == 1
    assert relabelled["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    scaled = dict(relabelled)
    scaled["spec"] = {**relabelled["spec"], "replicas": 3}
    out = client.update(scaled)
    assert out["metadata"]["generation"] == 2
    assert out["metadata"]["uid"] == first["metadata"]["uid"]
    assert out["metadata"]["creationTimestamp"] == first["metadata"]["creationTimestamp"]


def test_update_that_changes_nothing_does_not_write(client: LocalClient) -> None:
    first = client.create(deployment())
    again = client.update(deployment())  # the same manifest, without defaults or metadata
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_update_ignores_status_and_update_status_ignores_the_rest(client: LocalClient) -> None:
    first = client.create(deployment())
    with_status = client.update_status({**first, "status": {"replicas": 1},
                                        "spec": {**first["spec"], "replicas": 9}})
    assert with_status["status"] == {"replicas": 1}
    assert with_status["spec"]["replicas"] == 1
    assert with_status["metadata"]["generation"] == 1
    updated = client.update({**with_status, "status": {"replicas": 42}})
    assert updated["status"] == {"replicas": 1}


def test_update_status_of_kind_without_status_subresource(client: LocalClient) -> None:
    cm = client.create(configmap())
    with pytest.raises(NotFound, match="no status subresource"):
        client.update_status(cm)


def test_stale_resource_version_conflicts(client: LocalClient) -> None:
    first = client.create(configmap(a="1"))
    client.update({**first, "data": {"a": "2"}})
    with pytest.raises(Conflict) as info:
        client.update({**first, "data": {"a": "3"}})
    assert info.value.status()["code"] == 409 and info.value.status()["reason"] == "Conflict"
    stale = {**first, "data": {"a": "3"}}
    del stale["metadata"]["resourceVersion"]
    assert client.update(stale)["data"] == {"a": "3"}  # no resourceVersion: unconditional


def test_update_missing_is_not_found(client: LocalClient) -> None:
    with pytest.raises(NotFound):
        client.update(configmap())


def test_update_with_other_uid_conflicts(client: LocalClient) -> None:
    first = client.create(configmap())
    with pytest.raises(Conflict, match="UID"):
        client.update({**first, "metadata": {**first["metadata"], "uid": "other"}})


# --- delete --------------------------------------------------------------------------------


def test_delete_without_finalizers_removes(client: LocalClient) -> None:
    client.create(configmap())
    gone = client.delete("v1", "ConfigMap", "default", "cfg")
    assert gone["metadata"]["name"] == "cfg"
    with pytest.raises(NotFound):
        client.get("v1", "ConfigMap", "default", "cfg")
    with pytest.raises(NotFound):
        client.delete("v1", "ConfigMap", "default", "cfg")


def test_finalizers_hold_the_object_until_removed(client: LocalClient) -> None:
    obj = configmap()
    obj["metadata"]["finalizers"] = ["example.com/cleanup"]
    client.create(obj)
    held = client.delete("v1", "ConfigMap", "default", "cfg")
    assert held["metadata"]["deletionTimestamp"].endswith("Z")
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0
    current = client.get("v1", "ConfigMap", "default", "cfg")
    assert current["metadata"]["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]
    again = client.delete("v1", "ConfigMap", "default", "cfg")  # idempotent while held
    assert again["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
    with pytest.raises(Invalid, match="no new finalizers"):
        client.update({**current, "metadata": {**current["metadata"],
                                               "finalizers": ["example.com/cleanup", "more"]}})
    released = client.update({**current, "metadata": {**current["metadata"], "finalizers": []}})
    assert released["metadata"]["finalizers"] == []
    with pytest.raises(NotFound):
        client.get("v1", "ConfigMap", "default", "cfg")


@pytest.mark.parametrize(("policy", "finalizer"),
                         [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")])
def test_propagation_policy_is_recorded_as_finalizer(client: LocalClient, policy: Any,
                                                     finalizer: str) -> None:
    client.create(deployment())
    out = client.delete("apps/v1", "Deployment", "default", "web", propagation_policy=policy)
    assert out["metadata"]["finalizers"] == [finalizer]
    assert out["metadata"]["generation"] == 2
    assert client.get("apps/v1", "Deployment", "default", "web")["metadata"]["deletionTimestamp"]


def test_background_propagation_removes_at_once(client: LocalClient) -> None:
    client.create(deployment())
    client.delete("apps/v1", "Deployment", "default", "web", propagation_policy="Background")
    assert client.list("apps/v1", "Deployment").items == []


def test_delete_preconditions(client: LocalClient) -> None:
    first = client.create(configmap())
    with pytest.raises(Conflict, match="UID"):
        client.delete("v1", "ConfigMap", "default", "cfg", uid="someone-else")
    client.update({**first, "data": {"b": "2"}})
    with pytest.raises(Conflict):
        client.delete("v1", "ConfigMap", "default", "cfg",
                      resource_version=first["metadata"]["resourceVersion"])
    client.delete("v1", "ConfigMap", "default", "cfg", uid=first["metadata"]["uid"])


def bound_pod(name: str = "p", *, grace: int | None = None, node: str | None = "n1") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def deadline_of(obj: Obj) -> float:
    stamp = parse_time(obj["metadata"]["deletionTimestamp"])
    assert stamp is not None
    return stamp


def test_a_bound_pod_is_deleted_gracefully_with_its_own_grace_period(
        client: LocalClient) -> None:
    client.create(bound_pod(grace=45))
    before = time.time()
    held = client.delete("v1", "Pod", "default", "p")  # no gracePeriodSeconds: the pod's own
    assert held["metadata"]["deletionGracePeriodSeconds"] == 45
    # deletionTimestamp is when the grace period ends (whole seconds, as the API writes it)
    assert before + 45 - 1 <= deadline_of(held) <= time.time() + 45
    stored = client.get("v1", "Pod", "default", "p")
    assert stored["metadata"]["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]
    client.delete("v1", "Pod", "default", "p", grace_period_seconds=0)  # the kubelet's
    with pytest.raises(NotFound):
        client.get("v1", "Pod", "default", "p")
    client.create(bound_pod("d"))  # terminationGracePeriodSeconds defaults to 30
    assert client.delete("v1", "Pod", "default", "d")["metadata"][
        "deletionGracePeriodSeconds"] == 30


def test_writes_during_a_graceful_deletion_do_not_remove_the_pod(client: LocalClient) -> None:
    pod = bound_pod(grace=30)
    pod["metadata"]["finalizers"] = ["example.com/hold"]
    client.create(pod)
    client.delete("v1", "Pod", "default", "p")
    # the kubelet reports status while it stops the containers; the finalizer's owner lets go
    current = client.get("v1", "Pod", "default", "p")
    client.update_status({**current, "status": {"phase": "Running", "message": "stopping"}})
    current = client.get("v1", "Pod", "default", "p")
    client.update({**current, "metadata": {**current["metadata"], "finalizers": []}})
    client.patch("v1", "Pod", "default", "p", {"metadata": {"labels": {"a": "b"}}})
    current = client.get("v1", "Pod", "default", "p")
    assert current["status"]["message"] == "stopping" and current["metadata"]["labels"]
    assert current["metadata"]["deletionGracePeriodSeconds"] == 30
    client.delete("v1", "Pod", "default", "p", grace_period_seconds=0)  # the kubelet's
    with pytest.raises(NotFound):
        client.get("v1", "Pod", "default", "p")


def test_pods_no_kubelet_has_to_stop_are_removed_at_once(client: LocalClient) -> None:
    client.create(bound_pod("unbound", node=None))
    client.create(bound_pod("forced"))
    done = client.create(bound_pod("done"))
    client.update_status({**done, "status": {"phase": "Succeeded"}})
    for name, grace in (("unbound", None), ("forced", 0), ("done", None)):
        gone = client.delete("v1", "Pod", "default", name, grace_period_seconds=grace)
        assert "deletionTimestamp" not in gone["metadata"]
        with pytest.raises(NotFound):
            client.get("v1", "Pod", "default", name)


def test_a_second_deletion_may_shorten_the_grace_period_never_lengthen_it(
        client: LocalClient) -> None:
    client.create(bound_pod(grace=60))
    first = client.delete("v1", "Pod", "default", "p")
    version = first["metadata"]["resourceVersion"]
    for grace in (None, 60, 90):  # the same, longer or none: nothing changes
        again = client.delete("v1", "Pod", "default", "p", grace_period_seconds=grace)
        assert again["metadata"]["resourceVersion"] == version
        assert again["metadata"]["deletionGracePeriodSeconds"] == 60
    shorter = client.delete("v1", "Pod", "default", "p", grace_period_seconds=10)
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    assert deadline_of(shorter) == deadline_of(first) - 50  # the deadline moved earlier
    assert client.get("v1", "Pod", "default", "p")["metadata"][
        "deletionGracePeriodSeconds"] == 10
    client.delete("v1", "Pod", "default", "p", grace_period_seconds=0)
    with pytest.raises(NotFound):
        client.get("v1", "Pod", "default", "p")


def test_a_negative_grace_period_is_a_bad_request(client: LocalClient) -> None:
    client.create(bound_pod())
    with pytest.raises(BadRequest, match="gracePeriodSeconds -1 is invalid"):
        client.delete("v1", "Pod", "default", "p", grace_period_seconds=-1)
    assert "deletionTimestamp" not in client.get("v1", "Pod", "default", "p")["metadata"]


def test_finalizers_hold_a_pod_the_kubelet_has_released(client: LocalClient) -> None:
    pod = bound_pod(grace=5)
    pod["metadata"]["finalizers"] = ["example.com/hold"]
    client.create(pod)
    assert client.delete("v1", "Pod", "default", "p")["metadata"][
        "deletionGracePeriodSeconds"] == 5
    released = client.delete("v1", "Pod", "default", "p", grace_period_seconds=0)
    assert released["metadata"]["deletionGracePeriodSeconds"] == 0  # stays: finalizer
    current = client.get("v1", "Pod", "default", "p")
    client.update({**current, "metadata": {**current["metadata"], "finalizers": []}})
    with pytest.raises(NotFound):
        client.get("v1", "Pod", "default", "p")


def test_owner_references_are_kept(client: LocalClient) -> None:
    owner = client.create(deployment())
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
           "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    obj = configmap()
    obj["metadata"]["ownerReferences"] = [ref]
    assert client.create(obj)["metadata"]["ownerReferences"] == [ref]


def test_namespace_deletion_and_terminating_namespaces(client: LocalClient) -> None:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"},
                   "spec": {"finalizers": ["kubernetes"]}})
    client.create({**configmap(), "metadata": {"name": "cfg", "namespace": "team"}})
    held = client.delete("v1", "Namespace", None, "team")
    assert held["status"]["phase"] == "Terminating"
    assert held["metadata"]["deletionTimestamp"]
    with pytest.raises(Forbidden, match="being terminated"):
        client.create({**configmap("new"), "metadata": {"name": "new", "namespace": "team"}})
    client.delete("v1", "ConfigMap", "team", "cfg")  # the namespace controller's work
    current = client.get("v1", "Namespace", None, "team")
    client.update({**current, "spec": {"finalizers": []}})
    with pytest.raises(NotFound):
        client.get("v1", "Namespace", None, "team")


def test_delete_collection(client: LocalClient) -> None:
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        client.create({**configmap(name), "metadata": {"name": name, "labels": {"app": app}}})
    deleted = client.delete_collection("v1", "ConfigMap", "default", label_selector="app=web")
    assert [o["metadata"]["name"] for o in deleted.items] == ["a", "b"]
    assert [o["metadata"]["name"] for o in client.list("v1", "ConfigMap").items] == ["c"]


def test_delete_collection_of_pods_is_graceful_unless_told(client: LocalClient) -> None:
    for name in ("a", "b"):
        client.create(bound_pod(name, grace=20))
    held = client.delete_collection("v1", "Pod", "default")
    assert [o["metadata"]["deletionGracePeriodSeconds"] for o in held.items] == [20, 20]
    assert len(client.list("v1", "Pod", "default").items) == 2
    client.delete_collection("v1", "Pod", "default", grace_period_seconds=0)
    assert client.list("v1", "Pod", "default").items == []


def test_bind_sets_node_and_condition_once(client: LocalClient) -> None:
    created = client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                             "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}})
    bound = client.bind("default", "p", "n1", uid=created["metadata"]["uid"])
    assert bound["spec"]["nodeName"] == "n1"
    assert [(c["type"], c["status"]) for c in bound["status"]["conditions"]] == [
        ("PodScheduled", "True")]
    assert client.get("v1", "Pod", "default", "p") == bound
    assert client.bind("default", "p", "n1") == bound  # idempotent
    with pytest.raises(Conflict, match="already assigned"):
        client.bind("default", "p", "n2")
    with pytest.raises(Conflict, match="UID"):
        client.bind("default", "p", "n1", uid="other")
    with pytest.raises(NotFound):
        client.bind("default", "missing", "n1")


def test_scale_subresource(client: LocalClient) -> None:
    client.create(deployment(replicas=2))
    scale = client.get_scale("apps/v1", "Deployment", "default", "web")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=web"}
    scaled = client.update_scale("apps/v1", "Deployment", "default", "web", 5)
    assert scaled["spec"]["replicas"] == 5
    current = client.get("apps/v1", "Deployment", "default", "web")
    assert current["spec"]["replicas"] == 5 and current["metadata"]["generation"] == 2
    with pytest.raises(Conflict):
        client.update_scale("apps/v1", "Deployment", "default", "web", 1,
                            resource_version=scale["metadata"]["resourceVersion"])
    with pytest.raises(Invalid):
        client.update_scale("apps/v1", "Deployment", "default", "web", -1)
    client.create(configmap())
    with pytest.raises(NotFound, match="no scale subresource"):
        client.get_scale("v1", "ConfigMap", "default", "cfg")
