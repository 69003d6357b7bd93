"""patch (merge, json, strategic) and transaction (all or nothing) through the Client."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api import (
    CreateOp,
    DeleteOp,
    DeleteRecord,
    LocalClient,
    PutRecord,
    UpdateOp,
)
from gitkube.errors import AlreadyExists, BadRequest, Conflict, Invalid, NotFound

Obj = dict[str, Any]


def deployment(name: str = "web") -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "main", "image": "nginx:1.25",
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80}]},
                    {"name": "side", "image": "busybox:1"},
                ]},
            },
        },
    }


def configmap(name: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": dict(data)}


# --- patch ---------------------------------------------------------------------------------


def test_merge_patch_scales(client: LocalClient) -> None:
    client.create(deployment())
    out = client.patch("apps/v1", "Deployment", "default", "web", {"spec": {"replicas": 4}})
    assert out["spec"]["replicas"] == 4
    assert out["metadata"]["generation"] == 2
    out = client.patch("apps/v1", "Deployment", "default", "web",
                       {"metadata": {"labels": {"a": "b"}}})
    assert out["metadata"]["labels"] == {"a": "b"} and out["metadata"]["generation"] == 2


def test_json_patch(client: LocalClient) -> None:
    client.create(deployment())
    out = client.patch("apps/v1", "Deployment", "default", "web", [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image",
         "value": "nginx:1.26"},
    ], "json")
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    with pytest.raises(Invalid, match="test operation failed"):
        client.patch("apps/v1", "Deployment", "default", "web",
                     [{"op": "test", "path": "/spec/replicas", "value": 7}], "json")
    with pytest.raises(BadRequest):
        client.patch("apps/v1", "Deployment", "default", "web", [{"op": "jump"}], "json")


def test_strategic_merge_patch_merges_containers_and_env_by_name(client: LocalClient) -> None:
    client.create(deployment())
    out = client.patch("apps/v1", "Deployment", "default", "web", {"spec": {"template": {
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27",
                                 "env": [{"name": "B", "value": "two"}, {"name": "C",
                                                                        "value": "3"}]}]}}}},
        "strategic")
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side"]
    assert containers[0]["image"] == "nginx:1.27"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"},
                                    {"name": "C", "value": "3"}]
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    out = client.patch("apps/v1", "Deployment", "default", "web", {"spec": {"template": {
        "spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}, "strategic")
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["main"]


def test_patch_status_subresource(client: LocalClient) -> None:
    client.create(deployment())
    out = client.patch("apps/v1", "Deployment", "default", "web",
                       {"status": {"replicas": 1}, "spec": {"replicas": 5}},
                       subresource="status")
    assert out["status"] == {"replicas": 1} and out["spec"]["replicas"] == 1


def test_patch_with_stale_resource_version_conflicts(client: LocalClient) -> None:
    first = client.create(deployment())
    client.patch("apps/v1", "Deployment", "default", "web", {"spec": {"replicas": 2}})
    with pytest.raises(Conflict):
        client.patch("apps/v1", "Deployment", "default", "web", {
            "metadata": {"resourceVersion": first["metadata"]["resourceVersion"]},
            "spec": {"replicas": 3}})


def test_patch_cannot_rename_and_needs_an_object(client: LocalClient) -> None:
    client.create(deployment())
    with pytest.raises(BadRequest):
        client.patch("apps/v1", "Deployment", "default", "web", {"metadata": {"name": "x"}})
    with pytest.raises(NotFound):
        client.patch("apps/v1", "Deployment", "default", "nope", {"spec": {}})


def test_patch_result_is_validated(client: LocalClient) -> None:
    client.create(deployment())
    with pytest.raises(Invalid):
        client.patch("apps/v1", "Deployment", "default", "web", {"spec": {"replicas": -1}})


# --- transactions --------------------------------------------------------------------------


def test_transaction_commits_everything_at_once(client: LocalClient) -> None:
    client.create(configmap("old", a="1"))
    current = client.get("v1", "ConfigMap", "default", "old")
    client.create(configmap("gone"))
    result = client.transaction([
        CreateOp(configmap("new", b="2")),
        UpdateOp({**current, "data": {"a": "changed"}}),
        DeleteOp("v1", "ConfigMap", "default", "gone"),
        PutRecord("/gitkube/history/0001", {"revision": "abc", "result": "applied"}),
    ])
    assert len(result.results) == 4
    created, updated, deleted, record = result.results
    assert created is not None and created["metadata"]["resourceVersion"] == str(result.revision)
    assert updated is not None and updated["data"] == {"a": "changed"}
    assert deleted is not None and deleted["metadata"]["name"] == "gone"
    assert record is None
    listed = client.list("v1", "ConfigMap")
    assert [o["metadata"]["name"] for o in listed.items] == ["new", "old"]
    assert {o["metadata"]["resourceVersion"] for o in listed.items} == {str(result.revision)}
    records = client.list_records("/gitkube/history/")
    assert [(r.key, r.value["result"]) for r in records] == [("/gitkube/history/0001",
                                                             "applied")]


def test_one_invalid_op_writes_nothing(client: LocalClient) -> None:
    revision = client.store.revision()
    with pytest.raises(Invalid, match=r"^op 1 \(create ConfigMap Bad_Name\)") as info:
        client.transaction([
            CreateOp(configmap("fine")),
            CreateOp(configmap("Bad_Name")),
            PutRecord("/gitkube/history/1", {"x": 1}),
        ])
    assert info.value.causes
    assert client.list("v1", "ConfigMap").items == []
    assert client.get_record("/gitkube/history/1") is None
    assert client.store.revision() == revision


def test_store_level_failure_writes_nothing(client: LocalClient) -> None:
    client.create(configmap("taken"))
    with pytest.raises(AlreadyExists, match=r"^op 1 "):
        client.transaction([CreateOp(configmap("fresh")), CreateOp(configmap("taken"))])
    assert [o["metadata"]["name"] for o in client.list("v1", "ConfigMap").items] == ["taken"]


def test_concurrent_change_between_plan_and_commit_conflicts(client: LocalClient) -> None:
    first = client.create(configmap("x", a="1"))
    client.update({**first, "data": {"a": "2"}})
    with pytest.raises(Conflict, match=r"^op 0 "):
        client.transaction([UpdateOp({**first, "data": {"a": "3"}}),
                            CreateOp(configmap("y"))])
    with pytest.raises(NotFound):
        client.get("v1", "ConfigMap", "default", "y")


def test_a_key_only_once_per_transaction(client: LocalClient) -> None:
    with pytest.raises(BadRequest, match="only once"):
        client.transaction([CreateOp(configmap("x")), CreateOp(configmap("x"))])


def test_record_ops(client: LocalClient) -> None:
    client.transaction([PutRecord("/gitkube/a", {"n": 1}, expected_revision=0)])
    with pytest.raises(AlreadyExists):
        client.transaction([PutRecord("/gitkube/a", {"n": 2}, expected_revision=0)])
    record = client.get_record("/gitkube/a")
    assert record is not None
    client.transaction([PutRecord("/gitkube/a", {"n": 3}, expected_revision=record.revision)])
    with pytest.raises(Conflict):
        client.transaction([PutRecord("/gitkube/a", {"n": 4},
                                      expected_revision=record.revision)])
    client.transaction([PutRecord("/gitkube/a", {"n": 5})])
    record = client.get_record("/gitkube/a")
    assert record is not None and record.value == {"n": 5}
    client.transaction([DeleteRecord("/gitkube/a")])
    client.transaction([DeleteRecord("/gitkube/a", missing_ok=True)])
    with pytest.raises(NotFound):
        client.transaction([DeleteRecord("/gitkube/a")])
    with pytest.raises(BadRequest, match="/gitkube/"):
        client.transaction([PutRecord("/registry/configmaps/default/x", {})])


def test_transaction_delete_held_by_finalizers(client: LocalClient) -> None:
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": deployment()["spec"]})
    client.create(configmap("plain"))
    result = client.transaction([
        DeleteOp("apps/v1", "Deployment", "default", "web", propagation_policy="Foreground"),
        DeleteOp("v1", "ConfigMap", "default", "plain"),
    ])
    held, removed = result.results
    assert held is not None and held["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert held["metadata"]["resourceVersion"] == str(result.revision)
    assert removed is not None and removed["metadata"]["name"] == "plain"
    assert client.get("apps/v1", "Deployment", "default", "web")["metadata"]["deletionTimestamp"]
    with pytest.raises(NotFound):
        client.get("v1", "ConfigMap", "default", "plain")
