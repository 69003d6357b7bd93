"""Garbage collection (background, orphan, foreground) and namespace deletion, end to end."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.controllers import deployment as dep
from gitkube.agents.controllers import gc, namespace
from gitkube.agents.controllers import replicaset as rsc
from gitkube.api.client import Client
from gitkube.errors import NotFound
from gitkube.model.rollout import deployment_complete
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, node

Obj = dict[str, Any]


def deployment(ns: str = "default", replicas: int = 2) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}


def counts(client: Client, ns: str = "default") -> tuple[int, int]:
    return (len(client.list("apps/v1", "ReplicaSet", ns).items),
            len(client.list("v1", "Pod", ns).items))


def exists(client: Client, api_version: str, kind: str, ns: str | None, name: str) -> bool:
    try:
        client.get(api_version, kind, ns, name)
        return True
    except NotFound:
        return False


def boot(cluster: Cluster) -> None:
    cluster.client.create(node("n1"))
    for make in (rsc.controller, dep.controller, gc.controller, namespace.controller):
        cluster.manager.add(make(cluster.manager))
    FakeKubelet(cluster.manager, ["n1"])
    cluster.manager.start()


def test_gc_keys() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"namespace": "ns", "name": "a"}}
    assert gc.parse_gc_key(gc.gc_key(obj)) == ("apps/v1", "ReplicaSet", "ns/a")
    assert gc.parse_gc_key("v1/Node:n1") == ("v1", "Node", "n1")


def test_background_cascading_deletion(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(deployment())
    assert eventually(lambda: counts(c) == (1, 2))
    c.delete("apps/v1", "Deployment", "default", "web")
    assert eventually(lambda: counts(c) == (0, 0))


def test_orphan_keeps_dependents_without_the_reference(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(deployment())
    assert eventually(lambda: counts(c) == (1, 2))
    c.delete("apps/v1", "Deployment", "default", "web", propagation_policy="Orphan")
    assert eventually(lambda: not exists(c, "apps/v1", "Deployment", "default", "web"))
    rs = c.list("apps/v1", "ReplicaSet", "default").items
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")
    assert counts(c) == (1, 2)
    pods = {p["metadata"]["uid"] for p in c.list("v1", "Pod", "default").items}
    # applied again, the Deployment adopts the orphan ReplicaSet and its pods
    d = c.create(deployment())

    def adopted() -> bool:
        rss = c.list("apps/v1", "ReplicaSet", "default").items
        return len(rss) == 1 and [r["uid"] for r in rss[0]["metadata"].get(
            "ownerReferences") or []] == [d["metadata"]["uid"]]

    assert eventually(adopted)
    assert eventually(lambda: deployment_complete(*(lambda x: (x, x.get("status") or {}))(
        c.get("apps/v1", "Deployment", "default", "web"))))
    assert {p["metadata"]["uid"] for p in c.list("v1", "Pod", "default").items} == pods


def test_foreground_deletes_dependents_first(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(deployment())
    assert eventually(lambda: counts(c) == (1, 2))
    since = c.list("v1", "Pod", "default").resource_version
    held = c.delete("apps/v1", "Deployment", "default", "web", propagation_policy="Foreground")
    assert held["metadata"]["deletionTimestamp"]
    assert eventually(lambda: not exists(c, "apps/v1", "Deployment", "default", "web"))
    assert counts(c) == (0, 0)
    # the Deployment went last: its removal has the highest revision of the three kinds
    removals: dict[str, int] = {}
    for api_version, kind in (("v1", "Pod"), ("apps/v1", "ReplicaSet"),
                              ("apps/v1", "Deployment")):
        with c.watch(api_version, kind, "default", resource_version=since) as w:
            while (ev := w.next_event(0.3)) is not None:
                if ev.type == "DELETED":
                    removals[kind] = int(ev.object["metadata"]["resourceVersion"])
    assert removals["Deployment"] > removals["ReplicaSet"] >= removals["Pod"] - 1 > 0


def test_dangling_and_live_owners(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    owner = c.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "owner", "namespace": "default"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
           "uid": owner["metadata"]["uid"]}
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "nope"}
    c.create({"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "two", "namespace": "default",
                           "ownerReferences": [ref, ghost]}})
    c.create({"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "orphaned", "namespace": "default",
                           "ownerReferences": [ghost]}})
    assert eventually(lambda: not exists(c, "v1", "Secret", "default", "orphaned"))
    assert eventually(lambda: c.get("v1", "Secret", "default", "two")["metadata"]
                      ["ownerReferences"] == [ref])


@pytest.mark.parametrize("finalized", [True, False])
def test_namespace_deletion_removes_everything(cluster: Cluster, finalized: bool) -> None:
    boot(cluster)
    c = cluster.client
    ns_obj: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    if finalized:
        ns_obj["spec"] = {"finalizers": ["kubernetes"]}
    c.create(ns_obj)
    c.create(deployment(ns="team"))
    c.create({"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "cfg", "namespace": "team"}})
    c.create(deployment(ns="default", replicas=1))
    assert eventually(lambda: counts(c, "team") == (1, 2))
    held = c.delete("v1", "Namespace", None, "team")
    if finalized:
        assert held["status"]["phase"] == "Terminating"
    assert eventually(lambda: not exists(c, "v1", "Namespace", None, "team")
                      and counts(c, "team") == (0, 0)
                      and not c.list("v1", "ConfigMap", "team").items
                      and not c.list("apps/v1", "Deployment", "team").items)
    assert eventually(lambda: counts(c, "default") == (1, 1))
