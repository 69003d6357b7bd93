"""Every controller together (composed by agents/compose.py) with the scheduler and simulated
nodes."""

from __future__ import annotations

import os

from gitkube.agents.compose import CONTROLLERS, compose
from gitkube.agents.kubelet.simulate import SimulatedCluster
from gitkube.agents.scheduler import build_scheduler
from gitkube.model.rollout import deployment_complete
from gitkube.settings import Settings
from tests.agents.agenttest import Cluster, eventually


def test_full_stack_deployment_and_service(cluster: Cluster) -> None:
    c, mgr = cluster.client, cluster.manager
    made = compose(mgr, Settings.from_env(os.environ), names=CONTROLLERS)
    assert len(made) == len(CONTROLLERS)
    mgr.add(build_scheduler(c, manager=mgr))
    mgr.add(SimulatedCluster(c, nodes=3, heartbeat_interval=1.0, manager=mgr))
    mgr.start()
    c.create({"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{
                                        "name": "c", "image": "nginx:1",
                                        "ports": [{"name": "http", "containerPort": 80}]}]}}}})
    c.create({"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"selector": {"app": "web"},
                       "ports": [{"port": 8080, "targetPort": "http"}]}})

    def ready() -> bool:
        d = c.get("apps/v1", "Deployment", "default", "web")
        ep = c.get("v1", "Endpoints", "default", "web")
        addresses = [a for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
        return deployment_complete(d, d.get("status") or {}) and len(addresses) == 4

    assert eventually(ready)
    ep = c.get("v1", "Endpoints", "default", "web")
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    c.delete("apps/v1", "Deployment", "default", "web")
    assert eventually(lambda: not c.list("v1", "Pod", "default").items)
    assert eventually(lambda: not (c.get("v1", "Endpoints", "default", "web")
                                   .get("subsets")))
