"""A daemon with its kubelet on real Podman, killed with SIGKILL in the middle of a rolling
update: restarted, it adopts the containers that kept running and finishes the rollout with
exactly the replicas asked for, every pod of the new template and Ready."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.kubelet.config import cluster_id
from gitkube.api.http_client import HTTPClient
from gitkube.api.local import LocalClient
from gitkube.runtime.base import LABEL_CLUSTER
from gitkube.store import open_store
from tests.daemon.daemon_env import gitkube_cmd, start_daemon, wait_for
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep

pytestmark = [pytest.mark.podman, pytest.mark.slow]
NS = "crash"


def deployment(version: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{
                             "name": "httpd", "image": EXAMPLE_IMAGE,
                             "imagePullPolicy": "Never",
                             "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                             "env": [{"name": "VERSION", "value": version}],
                             "readinessProbe": {"tcpSocket": {"port": 8080},
                                                "periodSeconds": 1}}]}}}}


def rolled_out(client: HTTPClient, version: str) -> bool:
    d = client.get("apps/v1", "Deployment", NS, "web")
    st = d.get("status") or {}
    pods = [p for p in client.list("v1", "Pod", NS, label_selector="app=web").items
            if not p["metadata"].get("deletionTimestamp")]
    return (all(st.get(k) == 3 for k in ("updatedReplicas", "availableReplicas", "replicas",
                                          "readyReplicas"))
            and (st.get("observedGeneration") or 0) >= d["metadata"]["generation"]
            and len(pods) == 3
            and all(p["spec"]["containers"][0]["env"][0]["value"] == version for p in pods))


def test_sigkill_of_a_podman_daemon_during_a_rolling_update(_isolated_state_dir: Path) -> None:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    state = _isolated_state_dir
    args = ("--listen", "none", "--node-name", "crash-podman")
    daemon = start_daemon(state, *args)
    try:
        client = HTTPClient(daemon.info.socket)
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        client.create(deployment("1"))
        assert wait_for(lambda: rolled_out(client, "1"), timeout=120)
        client.patch("apps/v1", "Deployment", NS, "web",
                     {"spec": {"template": {"spec": {"containers": [
                         {"name": "httpd", "env": [{"name": "VERSION", "value": "2"}]}]}}}},
                     "strategic")
        assert wait_for(lambda: len(client.list("apps/v1", "ReplicaSet", NS).items) == 2,
                        timeout=30)
        time.sleep(0.5)  # the new ReplicaSet is growing
        os.kill(daemon.proc.pid, signal.SIGKILL)  # this PID only
        daemon.proc.wait(30)
        daemon = start_daemon(state, *args)
        client = HTTPClient(daemon.info.socket)
        assert wait_for(lambda: rolled_out(client, "2"), timeout=180), \
            client.get("apps/v1", "Deployment", NS, "web")["status"]
        replicasets = client.list("apps/v1", "ReplicaSet", NS).items
        assert sorted(int(rs["spec"]["replicas"]) for rs in replicasets) == [0, 3]
    finally:
        env = {**os.environ, "GITKUBE_STATE_DIR": str(state)}
        subprocess.run(gitkube_cmd("delete", "namespace", NS, "--timeout", "120",
                                   "--ignore-not-found"), env=env, capture_output=True,
                       timeout=180)
        daemon.stop(timeout=90)
        from gitkube.runtime.podman import PodmanRuntime

        store = open_store(f"sqlite:///{state / 'state.db'}")
        runtime = PodmanRuntime(base_dir=state / "podman")
        try:
            left = sweep(runtime, {LABEL_CLUSTER: cluster_id(LocalClient(store))})
        finally:
            runtime.close()
            store.close()
        assert left == 0, f"{left} containers or pods were left"
