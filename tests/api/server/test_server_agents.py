"""The agents (controllers, scheduler, simulated nodes) running unchanged over HTTPClient,
driven by the real kubectl: rollout status, set image, rollout undo, scale."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.agents.compose import CONTROLLERS, compose
from gitkube.agents.kubelet.simulate import SimulatedCluster
from gitkube.agents.manager import Manager
from gitkube.settings import Settings
from tests.api.server.kubectl_cli import KUBECTL, Kubectl
from tests.api.server.serving import Served

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


@pytest.fixture
def agents(served: Served) -> Iterator[Manager]:
    client = served.client()
    mgr = Manager(client)
    compose(mgr, Settings.from_env(os.environ), names=(*CONTROLLERS, "scheduler"))
    mgr.add(SimulatedCluster(client, nodes=2, heartbeat_interval=1.0, manager=mgr))
    mgr.start()
    try:
        yield mgr
    finally:
        mgr.stop()


def test_rollout_over_http_agents(served: Served, agents: Manager, tmp_path: Path) -> None:
    kubectl = Kubectl(served, tmp_path)
    kubectl.run("apply", "-f", str(kubectl.manifest(3)))
    status = kubectl.run("rollout", "status", "deploy/web", "--timeout=120s")
    assert 'deployment "web" successfully rolled out' in status.stdout
    pods = kubectl.run("get", "pods", "-l", "app=web", "-o",
                       "jsonpath={.items[*].status.phase}").stdout.split()
    assert pods == ["Running"] * 3
    nodes = kubectl.run("get", "nodes", "-o", "name").stdout.split()
    assert len(nodes) == 2
    kubectl.run("set", "image", "deploy/web", "main=nginx:1.26")
    kubectl.run("rollout", "status", "deploy/web", "--timeout=120s")
    assert "2" in kubectl.run("rollout", "history", "deploy/web").stdout
    kubectl.run("rollout", "undo", "deploy/web")
    kubectl.run("rollout", "status", "deploy/web", "--timeout=120s")
    image = kubectl.run("get", "deploy", "web", "-o",
                        "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "nginx:1.25"
    kubectl.run("scale", "deploy/web", "--replicas=1")
    kubectl.run("rollout", "status", "deploy/web", "--timeout=120s")
    kubectl.run("wait", "--for=delete", "pod", "-l", "app=web,pod-template-hash!=x",
                "--timeout=1s", check=False)  # exercises wait's watch; result not needed
    events = kubectl.run("get", "events", "-A").stdout
    assert "Scheduled" in events or "ScalingReplicaSet" in events
