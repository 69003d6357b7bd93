"""StatefulSet controller end to end: ordered creation and removal, stable names, claims."""

from __future__ import annotations

from typing import Any

from gitkube.agents.controllers import statefulset as stc
from gitkube.api.client import Client
from gitkube.model.pods import is_pod_ready
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, node

Obj = dict[str, Any]


def statefulset(replicas: int = 3, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": "db",
                     "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "c", "image": "pg:16"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}],
                     **spec}}


def pod_names(client: Client) -> list[str]:
    return sorted(p["metadata"]["name"] for p in client.list("v1", "Pod", "default").items)


def ready_names(client: Client) -> list[str]:
    return sorted(p["metadata"]["name"] for p in client.list("v1", "Pod", "default").items
                  if is_pod_ready(p))


def events_since(client: Client, since: str) -> list[tuple[int, str, Obj]]:
    out: list[tuple[int, str, Obj]] = []
    with client.watch("v1", "Pod", "default", resource_version=since) as w:
        while (ev := w.next_event(0.3)) is not None:
            out.append((int(ev.object["metadata"]["resourceVersion"]), ev.type, ev.object))
    return out


def test_pure_ordered_steps() -> None:
    sts = statefulset(3)
    sts["metadata"]["uid"] = "u"
    rev = "db-x"

    def pod(i: int, ready: bool) -> Obj:
        return {"metadata": {"name": f"db-{i}", "labels": {stc.REVISION_LABEL: rev}},
                "status": {"phase": "Running" if ready else "Pending", "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False"}]}}

    assert stc.plan_steps(sts, {}, rev) == [stc.Step("create", 0)]
    assert stc.plan_steps(sts, {0: pod(0, False)}, rev) == [stc.Step("wait", 0)]
    assert stc.plan_steps(sts, {0: pod(0, True)}, rev) == [stc.Step("create", 1)]
    full = {i: pod(i, True) for i in range(5)}
    assert [(s.action, s.ordinal) for s in stc.plan_steps(sts, full, rev)] == [("delete", 4)]
    parallel = statefulset(3, podManagementPolicy="Parallel")
    assert [s.ordinal for s in stc.plan_steps(parallel, {}, rev)] == [0, 1, 2]
    p = stc.stateful_pod({**sts, "metadata": {**sts["metadata"], "namespace": "default",
                                              "uid": "u"}, "apiVersion": "apps/v1",
                          "kind": "StatefulSet"}, 2, rev)
    assert p["spec"]["hostname"] == "db-2" and p["spec"]["subdomain"] == "db"
    assert p["spec"]["volumes"] == [{"name": "data",
                                     "persistentVolumeClaim": {"claimName": "data-db-2"}}]


def test_ordered_up_and_down_and_claims_survive(cluster: Cluster) -> None:
    c = cluster.client
    c.create(node("n1"))
    cluster.manager.add(stc.controller(cluster.manager))
    FakeKubelet(cluster.manager, ["n1"])
    cluster.manager.start()
    start = c.list("v1", "Pod", "default").resource_version
    c.create(statefulset(3))
    assert eventually(lambda: ready_names(c) == ["db-0", "db-1", "db-2"])
    # each pod was created only once every lower ordinal was Running and Ready
    state: dict[str, Obj] = {}
    for _, typ, obj in events_since(c, start):
        name = obj["metadata"]["name"]
        if typ == "ADDED":
            i = int(name.rsplit("-", 1)[1])
            assert all(is_pod_ready(state[f"db-{j}"]) for j in range(i)), name
        state[name] = obj
    claims = {p["metadata"]["name"]: p["metadata"]["uid"]
              for p in c.list("v1", "PersistentVolumeClaim", "default").items}
    assert sorted(claims) == ["data-db-0", "data-db-1", "data-db-2"]
    pod1 = c.get("v1", "Pod", "default", "db-1")
    assert pod1["spec"]["hostname"] == "db-1"
    assert pod1["metadata"]["labels"][stc.POD_NAME_LABEL] == "db-1"

    # a replaced pod keeps its name and its claim
    c.delete("v1", "Pod", "default", "db-1")
    assert eventually(lambda: c.get("v1", "Pod", "default", "db-1")["metadata"]["uid"]
                      != pod1["metadata"]["uid"] and "db-1" in ready_names(c))
    again = {p["metadata"]["name"]: p["metadata"]["uid"]
             for p in c.list("v1", "PersistentVolumeClaim", "default").items}
    assert again == claims

    # scale down: highest ordinal first, one at a time
    mid = c.list("v1", "Pod", "default").resource_version
    sts = c.get("apps/v1", "StatefulSet", "default", "db")
    sts["spec"]["replicas"] = 1
    c.update(sts)
    assert eventually(lambda: pod_names(c) == ["db-0"])
    deleted = [o["metadata"]["name"] for _, t, o in events_since(c, mid) if t == "DELETED"]
    assert deleted == ["db-2", "db-1"]
    assert eventually(lambda: c.get("apps/v1", "StatefulSet", "default", "db")["status"]
                      ["readyReplicas"] == 1)
    # claims are retained after scale-down
    assert len(c.list("v1", "PersistentVolumeClaim", "default").items) == 3


def test_waits_for_readiness_and_rolls_in_reverse(cluster: Cluster) -> None:
    c = cluster.client
    c.create(node("n1"))
    cluster.manager.add(stc.controller(cluster.manager))
    fake = FakeKubelet(cluster.manager, ["n1"], auto_ready=False)
    cluster.manager.start()
    c.create(statefulset(2))
    assert eventually(lambda: pod_names(c) == ["db-0"])
    assert pod_names(c) == ["db-0"]  # not ready: db-1 is not created
    fake.auto_ready = True
    fake.controller.enqueue("default/db-0")
    assert eventually(lambda: ready_names(c) == ["db-0", "db-1"])
    mid = c.list("v1", "Pod", "default").resource_version
    sts = c.get("apps/v1", "StatefulSet", "default", "db")
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "pg:17"
    c.update(sts)

    def updated() -> bool:
        s = c.get("apps/v1", "StatefulSet", "default", "db")["status"]
        return bool(s["updatedReplicas"] == 2 and s["readyReplicas"] == 2 and
                    s["currentRevision"] == s["updateRevision"])

    assert eventually(updated)
    deleted = [o["metadata"]["name"] for _, t, o in events_since(c, mid) if t == "DELETED"]
    assert deleted == ["db-1", "db-0"]


def boot_with_gc(cluster: Cluster) -> Client:
    """The StatefulSet controller, the garbage collector and a fake kubelet on node n1."""
    from gitkube.agents.controllers import gc

    cluster.client.create(node("n1"))
    cluster.manager.add(stc.controller(cluster.manager))
    cluster.manager.add(gc.controller(cluster.manager))
    FakeKubelet(cluster.manager, ["n1"])
    cluster.manager.start()
    return cluster.client


def test_claim_retention_policy_deletes_claims_with_scale_down_and_the_statefulset(
        cluster: Cluster) -> None:
    c = boot_with_gc(cluster)

    def claims() -> list[str]:
        return sorted(p["metadata"]["name"]
                      for p in c.list("v1", "PersistentVolumeClaim", "default").items)

    c.create(statefulset(3, persistentVolumeClaimRetentionPolicy={
        "whenScaled": "Delete", "whenDeleted": "Delete"}))
    assert eventually(lambda: ready_names(c) == ["db-0", "db-1", "db-2"])
    assert claims() == ["data-db-0", "data-db-1", "data-db-2"]
    sts = c.get("apps/v1", "StatefulSet", "default", "db")
    sts["spec"]["replicas"] = 1
    c.update(sts)
    assert eventually(lambda: pod_names(c) == ["db-0"] and claims() == ["data-db-0"])
    c.delete("apps/v1", "StatefulSet", "default", "db")
    assert eventually(lambda: claims() == [] and pod_names(c) == [])


def test_retained_claims_outlive_the_statefulset(cluster: Cluster) -> None:
    c = boot_with_gc(cluster)
    c.create(statefulset(2, persistentVolumeClaimRetentionPolicy={
        "whenScaled": "Delete", "whenDeleted": "Retain"}))
    assert eventually(lambda: ready_names(c) == ["db-0", "db-1"])
    c.delete("apps/v1", "StatefulSet", "default", "db")
    assert eventually(lambda: pod_names(c) == [])
    # deleting the StatefulSet is not a scale down: both claims stay
    assert len(c.list("v1", "PersistentVolumeClaim", "default").items) == 2
