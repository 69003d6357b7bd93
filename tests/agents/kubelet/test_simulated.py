"""Simulated nodes: registration, heartbeats, pods Running and Ready, failure injection."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from gitkube.agents.kubelet.simulate import EXIT_CODE, RUN_SECONDS, NodeTemplate, SimulatedCluster
from gitkube.api.local import LocalClient
from gitkube.errors import StoreUnavailable
from gitkube.store import open_store

Obj = dict[str, Any]


def _client() -> LocalClient:
    return LocalClient(open_store("memory://"))


def _pod(client: LocalClient, name: str, node: str, *, policy: str = "Always",
         annotations: dict[str, str] | None = None) -> Obj:
    return client.create({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": {"nodeName": node, "restartPolicy": policy,
                 "containers": [{"name": "c", "image": "localhost/x:1"}]}})


def _wait(client: LocalClient, name: str, check: Callable[[Obj], bool],
          timeout: float = 20) -> Obj:
    deadline = time.monotonic() + timeout
    while True:
        pod = client.get("v1", "Pod", "default", name)
        if check(pod):
            return pod
        assert time.monotonic() < deadline, pod["status"]
        time.sleep(0.02)


def _ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions") or [])


@pytest.mark.parametrize("mode", ["light", "full"])
def test_nodes_register_and_pods_become_ready(mode: str) -> None:
    client = _client()
    with SimulatedCluster(client, nodes=3, template=NodeTemplate(cpu="4", memory="8Gi", pods=20),
                          mode=mode, heartbeat_interval=0.2) as cluster:
        names = [n["metadata"]["name"] for n in client.list("v1", "Node").items]
        assert names == sorted(cluster.node_names)
        node = client.get("v1", "Node", None, "sim-node-1")
        assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi", "pods": "20"}
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "sim-node-1"
        first_beat = node["status"]["conditions"][-1]["lastHeartbeatTime"]
        _pod(client, "p", "sim-node-1")
        pod = _wait(client, "p", _ready)
        cs = pod["status"]["containerStatuses"][0]
        assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"]
        assert {"name", "image", "imageID", "ready", "restartCount"} <= set(cs)
        _pod(client, "elsewhere", "real-node")  # not a simulated node: left alone
        _wait(client, "p", lambda p: True)
        assert client.get("v1", "Pod", "default", "elsewhere")["status"]["phase"] == "Pending"
        deadline = time.monotonic() + 10
        while client.get("v1", "Node", None, "sim-node-1")["status"]["conditions"][-1][
                "lastHeartbeatTime"] == first_beat:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.05)


@pytest.mark.parametrize("mode", ["light", "full"])
def test_fail_pod(mode: str) -> None:
    client = _client()
    with SimulatedCluster(client, nodes=1, mode=mode) as cluster:
        _pod(client, "job", "sim-node-0", policy="Never")
        _wait(client, "job", _ready)
        cluster.fail_pod("default", "job", exit_code=3)
        pod = _wait(client, "job", lambda p: p["status"]["phase"] == "Failed")
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_light_mode_runs_jobs_and_restarts() -> None:
    client = _client()
    with SimulatedCluster(client, nodes=1, start_delay=0.05):
        _pod(client, "done", "sim-node-0", policy="Never",
             annotations={RUN_SECONDS: "0.1"})
        _pod(client, "flaky", "sim-node-0", annotations={RUN_SECONDS: "0.1", EXIT_CODE: "1"})
        _wait(client, "done", lambda p: p["status"]["phase"] == "Succeeded")
        _wait(client, "flaky", lambda p: p["status"]["phase"] == "Running" and
              p["status"]["containerStatuses"][0]["restartCount"] >= 2)


def test_fail_node_stops_heartbeats_and_pods() -> None:
    client = _client()
    with SimulatedCluster(client, nodes=2, heartbeat_interval=0.1) as cluster:
        cluster.fail_node("sim-node-0")
        time.sleep(0.3)  # let an in-flight heartbeat land; not an assertion on speed
        beat = client.get("v1", "Node", None, "sim-node-0")["status"]["conditions"][-1][
            "lastHeartbeatTime"]
        _pod(client, "stuck", "sim-node-0")
        _pod(client, "fine", "sim-node-1")
        _wait(client, "fine", _ready)
        assert client.get("v1", "Pod", "default", "stuck")["status"]["phase"] == "Pending"
        cluster.revive_node("sim-node-0")
        _wait(client, "stuck", _ready)
        assert client.get("v1", "Node", None, "sim-node-0")["status"]["conditions"][-1][
            "lastHeartbeatTime"] >= beat


def test_many_nodes_register_quickly_in_batches() -> None:
    client = _client()
    with SimulatedCluster(client, nodes=1000, heartbeat_interval=60):
        assert len(client.list("v1", "Node").items) == 1000


def test_a_mounted_claim_is_reported_bound() -> None:
    client = _client()
    client.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data", "namespace": "default"},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}})
    with SimulatedCluster(client, nodes=1, mode="full"):
        client.create({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "db", "namespace": "default"},
                       "spec": {"nodeName": "sim-node-0", "containers": [
                           {"name": "c", "image": "localhost/x:1",
                            "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                           "volumes": [{"name": "d", "persistentVolumeClaim": {
                               "claimName": "data"}}]}})
        _wait(client, "db", _ready)
        pvc = client.get("v1", "PersistentVolumeClaim", "default", "data")
        assert pvc["status"]["phase"] == "Bound"
        assert pvc["status"]["capacity"] == {"storage": "1Gi"}


class _Unavailable(LocalClient):
    """The api as a restarting daemon looks to a client: the next ``failures`` status
    writes cannot reach it (the store itself is real)."""

    def __init__(self, failures: int):
        super().__init__(open_store("memory://"))
        self.failures = failures

    def update_status(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("cannot reach the API server: connection refused")
        return super().update_status(obj, field_manager=field_manager)


def test_a_light_node_retries_a_pod_the_api_could_not_take() -> None:
    """Before, one failed write (not a Conflict) dropped the pod for good: after a daemon
    restart a rollout stayed stuck."""
    client = _Unavailable(failures=4)
    with SimulatedCluster(client, nodes=1):
        _pod(client, "web", "sim-node-0")
        pod = _wait(client, "web", _ready, timeout=30)
    assert pod["status"]["phase"] == "Running"
    assert client.failures == 0
