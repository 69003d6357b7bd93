"""Node death end to end: NotReady -> pods Unknown -> eviction -> rescheduling elsewhere,
with the real scheduler and simulated nodes, time driven by a manual clock."""

from __future__ import annotations

import time
from typing import Any

from gitkube.agents.controllers import deployment as dep
from gitkube.agents.controllers import nodelifecycle as nlc
from gitkube.agents.controllers import replicaset as rsc
from gitkube.agents.kubelet.simulate import SimulatedCluster
from gitkube.agents.scheduler import build_scheduler
from gitkube.api.client import Client
from gitkube.model.conditions import condition_status
from gitkube.model.pods import is_pod_active, is_pod_ready
from gitkube.model.rollout import deployment_complete
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, node

Obj = dict[str, Any]


def test_pure_helpers() -> None:
    node = {"metadata": {"name": "n"}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-01-01T00:00:10Z"},
        {"type": "MemoryPressure", "status": "False"}]}}
    assert nlc.heartbeat_of(node) == 1704067210.0
    conds = nlc.unknown_conditions(node, 1704067300.0)
    assert {c["status"] for c in conds} == {"Unknown"}
    assert conds[0]["lastHeartbeatTime"] == "2024-01-01T00:00:10Z"
    assert conds[0]["reason"] == "NodeStatusUnknown"
    assert nlc.toleration_seconds({"spec": {}}, 300) == 300
    assert nlc.toleration_seconds({"spec": {"tolerations": [
        {"key": nlc.UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 5}]}}, 300) == 5
    assert nlc.toleration_seconds({"spec": {"tolerations": [
        {"operator": "Exists"}]}}, 300) is None


def pods_by_node(client: Client) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for p in client.list("v1", "Pod", "default").items:
        out.setdefault(p["spec"].get("nodeName") or "", []).append(p)
    return out


def test_node_death_evicts_and_reschedules(cluster: Cluster) -> None:
    c, mgr, clock = cluster.client, cluster.manager, cluster.clock
    for make in (rsc.controller, dep.controller):
        mgr.add(make(mgr))
    mgr.add(nlc.controller(mgr, grace_period=40, eviction_timeout=60, monitor_period=0.05))
    mgr.add(build_scheduler(c, manager=mgr))
    sim = SimulatedCluster(c, nodes=3, heartbeat_interval=0.1, manager=mgr)
    mgr.add(sim)
    mgr.start()

    failed = [""]

    def advance(seconds: float, step: float = 5.0) -> None:
        """Move the clock in steps, letting the live nodes heartbeat after each one."""
        while seconds > 0:
            clock.advance(min(step, seconds))
            seconds -= step
            target = clock() - 1
            for name in sim.node_names:
                if name == failed[0]:
                    continue

                def beat(n: str = name, t: float = target) -> bool:
                    return (nlc.heartbeat_of(c.get("v1", "Node", None, n)) or 0) >= t

                assert eventually(beat, timeout=10)

    c.create({"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c",
                                                             "image": "nginx:1"}]}}}})

    def converged() -> bool:
        d = c.get("apps/v1", "Deployment", "default", "web")
        return deployment_complete(d, d.get("status") or {})

    assert eventually(converged)
    placed = pods_by_node(c)
    victim = max(sim.node_names, key=lambda n: len(placed.get(n, [])))
    doomed = {p["metadata"]["uid"] for p in placed[victim]}
    assert doomed
    sim.fail_node(victim)
    failed[0] = victim
    time.sleep(0.3)  # let a heartbeat already in flight land before time moves
    advance(45)

    def node_ready(name: str) -> str:
        return condition_status(c.get("v1", "Node", None, name), "Ready")

    assert eventually(lambda: node_ready(victim) == "Unknown")
    node = c.get("v1", "Node", None, victim)
    assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
        (nlc.UNREACHABLE, "NoSchedule"), (nlc.UNREACHABLE, "NoExecute")}
    assert all(node_ready(n) == "True" for n in sim.node_names if n != victim)
    assert eventually(lambda: all(
        p["status"]["phase"] == "Unknown" and not is_pod_ready(p)
        for p in pods_by_node(c).get(victim, [])) and pods_by_node(c).get(victim))
    # not evicted before the timeout
    assert {p["metadata"]["uid"] for p in pods_by_node(c)[victim]} == doomed
    advance(65)
    assert eventually(lambda: victim not in pods_by_node(c))

    def replaced() -> bool:
        pods = [p for p in c.list("v1", "Pod", "default").items if is_pod_active(p)]
        return (len(pods) == 6 and all(is_pod_ready(p) for p in pods)
                and all(p["spec"]["nodeName"] != victim for p in pods)
                and not doomed & {p["metadata"]["uid"] for p in pods})

    assert eventually(replaced)
    assert eventually(converged)
    mgr.flush_events()
    reasons = {e["reason"] for e in c.list("v1", "Event", None).items}
    assert {"NodeNotReady", "TaintManagerEviction"} <= reasons

    # heartbeats resume: the node is Ready again and loses the taints
    sim.revive_node(victim)
    assert eventually(lambda: node_ready(victim) == "True" and not (
        c.get("v1", "Node", None, victim).get("spec") or {}).get("taints"))


def test_pods_of_a_deleted_node_are_replaced(cluster: Cluster) -> None:
    c, mgr = cluster.client, cluster.manager
    for name in ("n1", "n2"):
        c.create(node(name))
    for make in (rsc.controller, dep.controller):
        mgr.add(make(mgr))
    mgr.add(nlc.controller(mgr, monitor_period=0.05))
    fake = FakeKubelet(mgr, ["n1", "n2"])
    mgr.start()
    c.create({"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c",
                                                             "image": "nginx:1"}]}}}})

    def settled() -> bool:
        d = c.get("apps/v1", "Deployment", "default", "web")
        return deployment_complete(d, d.get("status") or {})

    assert eventually(settled)
    placed = pods_by_node(c)
    victim = max(("n1", "n2"), key=lambda n: len(placed.get(n, [])))
    other = "n2" if victim == "n1" else "n1"
    had = len(placed[victim])
    fake.nodes = [other]
    c.delete("v1", "Node", None, victim)
    assert eventually(lambda: victim not in pods_by_node(c) and settled()
                      and len(pods_by_node(c).get(other, [])) == 4)
    mgr.flush_events()
    gone = [e for e in c.list("v1", "Event", "default").items if e["reason"] == "NodeNotFound"]
    assert len(gone) == had
