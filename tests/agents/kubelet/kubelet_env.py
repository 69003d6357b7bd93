"""A real kubelet on real Podman, over an in-memory store, labelled per test run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
from gitkube.agents.manager import Manager
from gitkube.api.local import LocalClient
from gitkube.runtime.base import ContainerRuntime
from gitkube.store import open_store
from tests.support.containers import EXAMPLE_IMAGE, podman_for_tests, podman_missing, sweep

RUN_LABEL = {"io.gitkube.test-run": f"kl-{uuid.uuid4().hex[:8]}"}
Obj = dict[str, Any]


@pytest.fixture(scope="session")
def podman_runtime() -> Iterator[ContainerRuntime]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    with podman_for_tests("gk-kl-", RUN_LABEL, "kubelet tests") as rt:
        yield rt


class Node:
    """A store, a Manager and a kubelet on Podman; ``restart()`` replaces the kubelet."""

    def __init__(self, runtime: ContainerRuntime, root: Path):
        self.runtime = runtime
        self.root = root
        self.client = LocalClient(open_store("memory://"))
        self.name = f"node-{uuid.uuid4().hex[:6]}"
        self.manager: Manager | None = None
        self.kubelet: Kubelet | None = None
        self.start()

    def start(self) -> None:
        self.manager = Manager(self.client)
        self.kubelet = Kubelet(self.manager, self.runtime, KubeletConfig(
            node_name=self.name, root_dir=self.root, runtime_labels=dict(RUN_LABEL),
            backoff_base=0.2, backoff_max=5.0, relist_period=0.2, resync_period=2.0,
            heartbeat_interval=1.0))
        self.manager.add(self.kubelet)
        self.manager.start()

    def stop(self) -> None:
        if self.manager is not None:
            self.manager.stop()
            self.manager = None

    def pod(self, name: str, containers: list[Obj], **spec: Any) -> Obj:
        for c in containers + list(spec.get("initContainers") or []):
            c.setdefault("image", EXAMPLE_IMAGE)
            c.setdefault("imagePullPolicy", "IfNotPresent")
        body: Obj = {"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": "default"},
                     "spec": {"nodeName": self.name, "terminationGracePeriodSeconds": 1,
                              "containers": containers, **spec}}
        return self.client.create(body)

    def get(self, name: str) -> Obj:
        return self.client.get("v1", "Pod", "default", name)

    def wait(self, name: str, check: Callable[[Obj], bool], timeout: float = 30.0) -> Obj:
        deadline = time.monotonic() + timeout
        while True:
            pod = self.get(name)
            if check(pod):
                return pod
            assert time.monotonic() < deadline, f"pod {name} never got there: {pod['status']}"
            time.sleep(0.05)

    def gone(self, name: str, timeout: float = 30.0) -> None:
        """Wait until the pod object ``name`` is removed from the store."""
        from gitkube.errors import NotFound

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get(name)
            except NotFound:
                return
            assert time.monotonic() < deadline, f"pod {name} was not removed"
            time.sleep(0.05)

    def containers(self, pod: Obj) -> list[Any]:
        return self.runtime.list_containers({"io.gitkube.pod-uid": pod["metadata"]["uid"]})


def ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions") or [])


def phase(value: str) -> Callable[[Obj], bool]:
    return lambda pod: pod["status"].get("phase") == value


@pytest.fixture
def node(podman_runtime: ContainerRuntime, tmp_path: Path) -> Iterator[Node]:
    n = Node(podman_runtime, tmp_path / "kubelet")
    yield n
    n.stop()
    sweep(podman_runtime, {**RUN_LABEL, "io.gitkube.node": n.name})
