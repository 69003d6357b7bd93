"""Remote agents: two `gitkube agent kubelet --server URL --token ...` processes (simulated
runtime) with different node names against one daemon's HTTPS API; a Deployment's pods
spread across both nodes and run."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

from gitkube.api.http_client import HTTPClient
from tests.daemon.daemon_env import gitkube_cmd, start_daemon, wait_for

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "spread", "namespace": "default"},
    "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "spread"}},
             "template": {"metadata": {"labels": {"app": "spread"}},
                          "spec": {"containers": [{"name": "c", "image": "localhost/x:1",
                                                   "imagePullPolicy": "Never"}]}}},
}


def test_two_remote_kubelets_share_a_deployment(_isolated_state_dir: Path,
                                                tmp_path: Path) -> None:
    daemon = start_daemon(_isolated_state_dir, "--no-kubelet", "--listen", "127.0.0.1:0")
    kubelets: list[subprocess.Popen[bytes]] = []
    try:
        assert daemon.info.url and daemon.info.ca_file
        token_file = tmp_path / "token"
        token_file.write_text(daemon.token("admin"))
        token_file.chmod(0o600)
        for node in ("remote-a", "remote-b"):
            # each kubelet gets its own state directory, like a kubelet on another machine
            env = {**os.environ, "GITKUBE_STATE_DIR": str(tmp_path / node)}
            log = (tmp_path / f"{node}.log").open("wb")
            kubelets.append(subprocess.Popen(
                gitkube_cmd("agent", "kubelet", "--server", daemon.info.url,
                            "--token-file", str(token_file),
                            "--certificate-authority", daemon.info.ca_file,
                            "--node-name", node, "--runtime", "simulated"),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env))
        client = HTTPClient(daemon.info.url, token=daemon.token("admin"),
                            ca=daemon.info.ca_file)

        def ready_nodes() -> set[str]:
            return {n["metadata"]["name"] for n in client.list("v1", "Node").items
                    if any(c.get("type") == "Ready" and c.get("status") == "True"
                           for c in (n.get("status") or {}).get("conditions") or [])}

        assert wait_for(lambda: ready_nodes() == {"remote-a", "remote-b"}, timeout=60), \
            ready_nodes()
        client.create(DEPLOYMENT)

        def running_by_node() -> Counter[str]:
            pods = client.list("v1", "Pod", "default", label_selector="app=spread").items
            return Counter(p["spec"].get("nodeName") for p in pods
                           if (p.get("status") or {}).get("phase") == "Running")

        assert wait_for(lambda: sum(running_by_node().values()) == 6, timeout=60), \
            running_by_node()
        spread = running_by_node()
        assert set(spread) == {"remote-a", "remote-b"}, spread  # both nodes run pods
        deploy = client.get("apps/v1", "Deployment", "default", "spread")
        assert wait_for(lambda: client.get("apps/v1", "Deployment", "default", "spread")
                        ["status"].get("availableReplicas") == 6, timeout=30), deploy
    finally:
        for proc in kubelets:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in kubelets:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        daemon.stop()
    assert all(p.returncode == 0 for p in kubelets), [p.returncode for p in kubelets]
