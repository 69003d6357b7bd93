"""Sidecars (init containers with restartPolicy Always) on real Podman through the daemon:
the app starts after its sidecar, a pod whose app finishes completes while the sidecar ran,
and on deletion the sidecar is stopped after the app, within the one grace period."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.http_client import HTTPClient
from gitkube.errors import NotFound
from tests.daemon.daemon_env import RunningDaemon, start_daemon, wait_for
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing

pytestmark = [pytest.mark.podman, pytest.mark.slow]
# each process records its SIGTERM in the shared host directory (the app after a second)
LOOP = "while true; do sleep 0.2; done"


def _script(name: str, delay: str) -> list[str]:
    return ["sh", "-c", f'trap "{delay}echo {name} >> /shared/order; exit 0" TERM; '
            f"echo {name} > /shared/{name}-up; {LOOP}"]


def _pod(name: str, shared: Path, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 20,
                     "volumes": [{"name": "shared", "hostPath": {"path": str(shared)}}],
                     **spec}}


def _container(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": command, "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            **extra}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    state = tmp_path_factory.mktemp("sidecar-state")
    d = start_daemon(state, "--listen", "127.0.0.1:0", "--node-name", "sidecar-node",
                     env={"GITKUBE_PODMAN_LINGER": "1"})
    try:
        yield d
    finally:
        client = HTTPClient(d.info.socket)
        for pod in client.list("v1", "Pod", "default").items:
            with contextlib.suppress(Exception):
                client.delete("v1", "Pod", "default", pod["metadata"]["name"],
                              grace_period_seconds=0)
        d.stop(timeout=60)


def _gone(client: HTTPClient, name: str) -> bool:
    try:
        client.get("v1", "Pod", "default", name)
    except NotFound:
        return True
    return False


def test_the_sidecar_stops_after_the_app(daemon: RunningDaemon, tmp_path: Path) -> None:
    client = HTTPClient(daemon.info.socket)
    shared = tmp_path / "shared"
    shared.mkdir()
    client.create(_pod("ordered", shared,
                       initContainers=[_container("proxy", _script("proxy", ""),
                                                  restartPolicy="Always")],
                       containers=[_container("app", _script("app", "sleep 1; "))]))
    assert wait_for(lambda: (shared / "app-up").exists(), timeout=90), daemon.log_text()[-3000:]
    assert (shared / "proxy-up").exists()
    pod = client.get("v1", "Pod", "default", "ordered")
    assert wait_for(lambda: (client.get("v1", "Pod", "default", "ordered").get("status")
                             or {}).get("phase") == "Running", timeout=30), pod
    status = client.get("v1", "Pod", "default", "ordered")["status"]
    assert status["initContainerStatuses"][0]["state"].get("running"), status
    client.delete("v1", "Pod", "default", "ordered")
    assert wait_for(lambda: _gone(client, "ordered"), timeout=40)
    # the app took a second to go; the sidecar got its SIGTERM only then
    assert (shared / "order").read_text().split() == ["app", "proxy"]


def test_a_finished_app_completes_the_pod_and_stops_the_sidecar(daemon: RunningDaemon,
                                                                tmp_path: Path) -> None:
    client = HTTPClient(daemon.info.socket)
    shared = tmp_path / "shared"
    shared.mkdir()
    client.create(_pod("job-like", shared, restartPolicy="Never",
                       initContainers=[_container("proxy", _script("proxy", ""),
                                                  restartPolicy="Always")],
                       containers=[_container("app", ["sh", "-c", "sleep 1; echo done"])]))
    assert wait_for(lambda: (client.get("v1", "Pod", "default", "job-like").get("status")
                             or {}).get("phase") == "Succeeded", timeout=90), \
        client.get("v1", "Pod", "default", "job-like").get("status")
    # the sidecar was stopped once the app was done
    assert wait_for(lambda: (shared / "order").exists(), timeout=30)
    assert (shared / "order").read_text().split() == ["proxy"]
    client.delete("v1", "Pod", "default", "job-like", grace_period_seconds=0)
    assert wait_for(lambda: _gone(client, "job-like"), timeout=30)
