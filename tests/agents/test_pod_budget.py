"""The pod budget: a typo like `replicas: 2147483647` cannot flood the machine. A workload
creates at most GITKUBE_POD_CREATE_RATE pods per second, and no controller creates pods
while the cluster holds GITKUBE_MAX_PODS; each says so with a FailedCreate Warning event.
Deleting the workload removes what was made (its ReplicaSets stop with it)."""

from __future__ import annotations

import dataclasses
import os

from gitkube.agents.compose import CONTROLLERS, compose
from gitkube.agents.controllers.budget import PodBudget
from gitkube.agents.kubelet.simulate import SimulatedCluster
from gitkube.settings import Settings
from tests.agents.agenttest import Cluster, eventually

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "typo", "namespace": "default"},
              "spec": {"replicas": 2147483647, "selector": {"matchLabels": {"app": "typo"}},
                       "template": {"metadata": {"labels": {"app": "typo"}},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def test_a_bucket_per_workload_and_a_cap_for_all() -> None:
    now = [0.0]
    pods = [0]
    budget = PodBudget(max_pods=100, rate=10, pods_now=lambda: pods[0], clock=lambda: now[0])
    first = budget.take("ReplicaSet default/a", 25)
    assert first.count == 10 and first.why is not None and "10 pods per second" in first.why
    assert first.retry_after == 1.0
    assert budget.take("ReplicaSet default/b", 3).count == 3  # another workload's bucket
    now[0] = 0.5
    assert budget.take("ReplicaSet default/a", 25).count == 5  # half a second refilled half
    now[0] = 10.0
    pods[0] = 95
    capped = budget.take("ReplicaSet default/a", 10)
    assert capped.count == 5
    assert capped.why == ("the cluster holds 95 pods, the most allowed is 100 "
                          "(GITKUBE_MAX_PODS); 5 pod(s) not created")
    assert budget.take("Job default/j", 0).count == 0


def test_a_huge_replica_count_stops_at_the_cap_and_goes_with_its_deployment(
        cluster: Cluster) -> None:
    c, mgr = cluster.client, cluster.manager
    settings = Settings.from_env(os.environ)
    settings = dataclasses.replace(settings, controllers=dataclasses.replace(
        settings.controllers, max_pods=40, pod_create_rate=25))
    compose(mgr, settings, names=(*CONTROLLERS, "scheduler"))
    mgr.add(SimulatedCluster(c, nodes=2, heartbeat_interval=1.0, manager=mgr))
    mgr.start()
    c.create(DEPLOYMENT)

    def pods() -> int:
        return len(c.list("v1", "Pod", "default").items)

    assert eventually(lambda: pods() == 40, timeout=30)
    assert not eventually(lambda: pods() > 40, timeout=1.5)  # and no more
    [rs] = c.list("apps/v1", "ReplicaSet", "default").items
    events = c.list("v1", "Event", "default",
                    field_selector=f"involvedObject.name={rs['metadata']['name']}").items
    assert any(e["reason"] == "FailedCreate" and "GITKUBE_MAX_PODS" in e["message"]
               and e["type"] == "Warning" for e in events), events
    assert any("GITKUBE_POD_CREATE_RATE" in e["message"] for e in events), events
    c.delete("apps/v1", "Deployment", "default", "typo")
    assert eventually(lambda: pods() == 0 and not c.list("apps/v1", "ReplicaSet",
                                                         "default").items, timeout=30)
