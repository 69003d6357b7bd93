"""gRPC probes on real Podman: the kubelet asks a container's gRPC health service, at the
pod's address on the pod network, whether it is ready and alive.

The example image is busybox, which speaks no gRPC; the container runs this machine's own
Python with grpcio instead (the interpreter, its libraries and the virtualenv are mounted
read-only with hostPath volumes at the same paths), serving tests/agents/kubelet/
grpc_health_server.py.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from tests.agents.kubelet.kubelet_env import Node, ready

pytestmark = pytest.mark.podman

HERE = Path(__file__).resolve().parent
PORT = 50051
DOWN = "/tmp/down"  # the server answers NOT_SERVING while this file exists


def _python_mounts() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """hostPath volumes and mounts that let a container run this interpreter and import
    grpcio: /usr (the C library; /lib and /lib64, often links into /usr, for the dynamic
    loader), the interpreter's prefix, the virtualenv and this directory, each at its own
    path, read-only."""
    paths = {Path("/usr"), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(sysconfig.get_paths()["purelib"]).resolve(), HERE}
    wanted = {top: str(Path(top).resolve()) for top in ("/lib", "/lib64") if Path(top).is_dir()}
    for path in sorted(paths):
        if not any(path.is_relative_to(other) and path != other for other in paths):
            wanted[str(path)] = str(path)
    volumes, mounts = [], []
    for i, (inside, host) in enumerate(sorted(wanted.items())):
        volumes.append({"name": f"host-{i}", "hostPath": {"path": host, "type": "Directory"}})
        mounts.append({"name": f"host-{i}", "mountPath": inside, "readOnly": True})
    return volumes, mounts


def _server_pod(node: Node, name: str, **probes: Any) -> dict[str, Any]:
    volumes, mounts = _python_mounts()
    return node.pod(name, [{
        "name": "server",
        "command": [sys.executable, str(HERE / "grpc_health_server.py"), str(PORT), DOWN],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "ports": [{"containerPort": PORT, "name": "grpc"}],
        "volumeMounts": mounts,
        **probes,
    }], volumes=volumes)


def _container_id(pod: dict[str, Any]) -> str:
    return str(pod["status"]["containerStatuses"][0]["containerID"].split("://")[1])


def test_grpc_readiness_follows_the_health_service(node: Node) -> None:
    _server_pod(node, "grpc-ready", readinessProbe={
        "grpc": {"port": PORT}, "periodSeconds": 1, "failureThreshold": 1,
        "timeoutSeconds": 2})
    pod = node.wait("grpc-ready", ready, timeout=60)
    cid = _container_id(pod)
    assert node.runtime.exec(cid, ["touch", DOWN], timeout=10).exit_code == 0
    pod = node.wait("grpc-ready", lambda p: not ready(p), timeout=30)
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    assert node.kubelet is not None
    worker = node.kubelet.prober.state(pod["metadata"]["uid"], "server", "readiness")
    assert worker is not None
    assert worker.message == 'service unhealthy (responded with "NOT_SERVING")'
    assert node.runtime.exec(cid, ["rm", DOWN], timeout=10).exit_code == 0
    pod = node.wait("grpc-ready", ready, timeout=30)
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0


def test_grpc_liveness_for_an_unknown_service_restarts_the_container(node: Node) -> None:
    _server_pod(node, "grpc-sick", livenessProbe={
        "grpc": {"port": PORT, "service": "nosuch"}, "initialDelaySeconds": 1,
        "periodSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 2})
    pod = node.wait("grpc-sick", lambda p: p["status"].get("containerStatuses", [{}])[0].get(
        "restartCount", 0) >= 1, timeout=60)
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert node.kubelet is not None
    node.kubelet.recorder.flush()
    events = node.client.list("v1", "Event", "default",
                              field_selector="involvedObject.name=grpc-sick").items
    unhealthy = [e["message"] for e in events if e["reason"] == "Unhealthy"]
    assert any('NOT_FOUND: unknown service "nosuch"' in m for m in unhealthy), unhealthy
