"""DaemonSet controller end to end: following nodes, selectors, taints, rolling update."""

from __future__ import annotations

from typing import Any

from gitkube.agents.controllers import daemonset as dsc
from gitkube.api.client import Client
from gitkube.model.pods import is_pod_active
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, node

Obj = dict[str, Any]


def daemonset(name: str = "agent", **template_spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1"}],
                                           **template_spec}}}}


def placement(client: Client) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in client.list("v1", "Pod", "default").items:
        if is_pod_active(p):
            out[p["spec"]["nodeName"]] = out.get(p["spec"]["nodeName"], 0) + 1
    return out


def test_pure_eligibility() -> None:
    ds = daemonset(nodeSelector={"disk": "ssd"})
    assert dsc.should_run(ds, node("a", labels={"disk": "ssd"})) == (True, True)
    assert dsc.should_run(ds, node("b")) == (False, False)
    tainted = node("c", labels={"disk": "ssd"},
                   taints=[{"key": "gpu", "value": "x", "effect": "NoSchedule"}])
    assert dsc.should_run(ds, tainted) == (False, True)   # NoSchedule keeps existing pods
    evicting = node("d", labels={"disk": "ssd"},
                    taints=[{"key": "gpu", "effect": "NoExecute"}])
    assert dsc.should_run(ds, evicting) == (False, False)
    tolerant = daemonset(tolerations=[{"key": "gpu", "operator": "Exists"}])
    assert dsc.should_run(tolerant, evicting) == (True, True)
    unreachable = node("e", taints=[{"key": "node.kubernetes.io/unreachable",
                                     "effect": "NoExecute"}], ready=False)
    assert dsc.should_run(daemonset(), unreachable) == (True, True)


def test_daemonset_follows_nodes_and_taints(cluster: Cluster) -> None:
    c = cluster.client
    for name in ("n1", "n2"):
        c.create(node(name, labels={"disk": "ssd"}))
    c.create(node("n3", labels={"disk": "hdd"}))
    cluster.manager.add(dsc.controller(cluster.manager))
    FakeKubelet(cluster.manager, [], bind=False)
    cluster.manager.start()
    c.create(daemonset(nodeSelector={"disk": "ssd"}))
    assert eventually(lambda: placement(c) == {"n1": 1, "n2": 1})
    pod = c.list("v1", "Pod", "default").items[0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert any(t["key"] == "node.kubernetes.io/unreachable" for t in pod["spec"]["tolerations"])

    def status() -> Obj:
        status: Obj = c.get("apps/v1", "DaemonSet", "default", "agent")["status"]
        return status

    assert eventually(lambda: status()["numberReady"] == 2 and
                      status()["desiredNumberScheduled"] == 2)
    c.create(node("n4", labels={"disk": "ssd"}))                   # a new node gets its pod
    assert eventually(lambda: placement(c) == {"n1": 1, "n2": 1, "n4": 1})
    c.delete("v1", "Node", None, "n2")                              # a removed node's pod goes
    assert eventually(lambda: placement(c) == {"n1": 1, "n4": 1})
    n4 = c.get("v1", "Node", None, "n4")                            # NoExecute evicts
    n4["spec"]["taints"] = [{"key": "maintenance", "effect": "NoExecute"}]
    c.update(n4)
    assert eventually(lambda: placement(c) == {"n1": 1})
    n3 = c.get("v1", "Node", None, "n3")                            # label change: eligible
    n3["metadata"]["labels"]["disk"] = "ssd"
    c.update(n3)
    assert eventually(lambda: placement(c) == {"n1": 1, "n3": 1})
    assert eventually(lambda: status()["desiredNumberScheduled"] == 2 and
                      status()["numberAvailable"] == 2)


def test_daemonset_rolling_update_and_replacement(cluster: Cluster) -> None:
    c = cluster.client
    for name in ("n1", "n2", "n3"):
        c.create(node(name))
    cluster.manager.add(dsc.controller(cluster.manager))
    FakeKubelet(cluster.manager, [], bind=False)
    cluster.manager.start()
    c.create(daemonset())
    assert eventually(lambda: placement(c) == {"n1": 1, "n2": 1, "n3": 1})
    first = {p["metadata"]["uid"] for p in c.list("v1", "Pod", "default").items}
    ds = c.get("apps/v1", "DaemonSet", "default", "agent")
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"

    c.update(ds)

    def rolled() -> bool:
        pods = [p for p in c.list("v1", "Pod", "default").items if is_pod_active(p)]
        return (len(pods) == 3 and
                {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:2"} and
                not first & {p["metadata"]["uid"] for p in pods})

    assert eventually(rolled)
    assert eventually(lambda: c.get("apps/v1", "DaemonSet", "default", "agent")["status"]
                      ["updatedNumberScheduled"] == 3)
    victim = c.list("v1", "Pod", "default").items[0]
    c.delete("v1", "Pod", "default", victim["metadata"]["name"])
    assert eventually(lambda: placement(c) == {"n1": 1, "n2": 1, "n3": 1} and victim[
        "metadata"]["uid"] not in {p["metadata"]["uid"] for p in
                                   c.list("v1", "Pod", "default").items})


def test_empty_node_selector_terms_select_no_node_as_in_the_scheduler() -> None:
    """Upstream's node affinity: an empty term, and an empty list of terms, match no node.
    The DaemonSet controller and the scheduler's NodeAffinity filter decide alike."""
    from gitkube.agents.scheduler.framework import CycleState
    from gitkube.agents.scheduler.plugins import NodeAffinity
    from gitkube.agents.scheduler.types import NodeInfo, PodInfo

    target = node("a", labels={"disk": "ssd"})
    info = NodeInfo("a")
    info.set_node(target)
    all_terms: list[list[Obj]] = [[{}], [], [{"matchExpressions": []}]]
    for terms in all_terms:
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": terms}}}
        ds = daemonset(affinity=affinity)
        pod = {"metadata": {"name": "p", "namespace": "default"},
               "spec": ds["spec"]["template"]["spec"]}
        scheduled = NodeAffinity().filter(CycleState(), PodInfo(pod), info).ok
        assert (scheduled, dsc.should_run(ds, target)) == (False, (False, False)), terms
