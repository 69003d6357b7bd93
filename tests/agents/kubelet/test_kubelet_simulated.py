"""The kubelet's rules on the simulated runtime (no Podman needed): image pull reasons,
config errors, init containers, phases."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
from gitkube.agents.manager import Manager
from gitkube.api.local import LocalClient
from gitkube.runtime.base import LABEL_POD_UID
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.store import open_store

Obj = dict[str, Any]
MISSING = "localhost/missing:1"


class Env:
    def __init__(self, root: Path):
        self.client = LocalClient(open_store("memory://"))
        self.runtime = SimulatedRuntime(missing_images=[MISSING])
        self.manager = Manager(self.client)
        self.kubelet = Kubelet(self.manager, self.runtime, KubeletConfig(
            node_name="n1", root_dir=root, backoff_base=0.1, relist_period=0.05))
        self.manager.add(self.kubelet)
        self.manager.start()

    def pod(self, name: str, containers: list[Obj], **spec: Any) -> Obj:
        for c in containers + list(spec.get("initContainers") or []):
            c.setdefault("image", "localhost/x:1")
        return self.client.create({"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": name, "namespace": "default"},
                                   "spec": {"nodeName": "n1", "containers": containers,
                                            **spec}})

    def wait(self, name: str, check: Callable[[Obj], bool], timeout: float = 20) -> Obj:
        deadline = time.monotonic() + timeout
        while True:
            pod = self.client.get("v1", "Pod", "default", name)
            if check(pod):
                return pod
            assert time.monotonic() < deadline, pod["status"]
            time.sleep(0.02)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path / "kubelet")
    yield e
    e.manager.stop()


def _waiting(pod: Obj, key: str = "containerStatuses") -> str:
    return str(((pod["status"].get(key) or [{}])[0].get("state") or {}).get(
        "waiting", {}).get("reason", ""))


def test_image_pull_failures_back_off(env: Env) -> None:
    env.pod("pull", [{"name": "c", "image": MISSING, "imagePullPolicy": "IfNotPresent"}])
    seen: set[str] = set()

    def both(pod: Obj) -> bool:
        seen.add(_waiting(pod))
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    pod = env.wait("pull", both)
    assert pod["status"]["phase"] == "Pending"
    env.pod("never", [{"name": "c", "image": MISSING, "imagePullPolicy": "Never"}])
    env.wait("never", lambda p: _waiting(p) == "ErrImageNeverPull")


def test_missing_config_map_is_a_config_error_until_it_exists(env: Env) -> None:
    env.pod("cfg", [{"name": "c", "envFrom": [{"configMapRef": {"name": "later"}}]}])
    env.wait("cfg", lambda p: _waiting(p) == "CreateContainerConfigError")
    env.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "later", "namespace": "default"},
                       "data": {"A": "1"}})
    pod = env.wait("cfg", lambda p: p["status"]["phase"] == "Running")
    assert pod["status"]["containerStatuses"][0]["ready"]


def test_init_containers_run_in_order_first(env: Env) -> None:
    pod = env.pod("init", [{"name": "app"}], initContainers=[{"name": "one"}, {"name": "two"}])
    uid = pod["metadata"]["uid"]

    def names() -> list[str]:
        return sorted(i.labels["io.gitkube.container"] for i in
                      env.runtime.list_containers({LABEL_POD_UID: uid}))

    deadline = time.monotonic() + 10
    while names() != ["one"]:
        assert time.monotonic() < deadline, names()
        time.sleep(0.02)
    status = env.wait("init", lambda p: _waiting(p) == "PodInitializing")["status"]
    assert status["phase"] == "Pending"
    (one,) = env.runtime.list_containers({LABEL_POD_UID: uid})
    env.runtime.fail_container(one.id, 0)  # the first init container completes
    while names() != ["one", "two"]:
        assert time.monotonic() < deadline, names()
        time.sleep(0.02)
    two = next(i for i in env.runtime.list_containers({LABEL_POD_UID: uid})
               if i.labels["io.gitkube.container"] == "two")
    env.runtime.fail_container(two.id, 0)
    pod = env.wait("init", lambda p: p["status"]["phase"] == "Running")
    assert [c["state"]["terminated"]["exitCode"] for c in pod["status"][
        "initContainerStatuses"]] == [0, 0]
    assert any(c["type"] == "Initialized" and c["status"] == "True"
               for c in pod["status"]["conditions"])


def test_failed_init_container_fails_a_never_pod(env: Env) -> None:
    pod = env.pod("initfail", [{"name": "app"}], restartPolicy="Never",
                  initContainers=[{"name": "setup"}])
    uid = pod["metadata"]["uid"]
    deadline = time.monotonic() + 10
    while not env.runtime.list_containers({LABEL_POD_UID: uid}):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (setup,) = env.runtime.list_containers({LABEL_POD_UID: uid})
    env.runtime.fail_container(setup.id, 7)
    pod = env.wait("initfail", lambda p: p["status"]["phase"] == "Failed")
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 7
    assert len(env.runtime.list_containers({LABEL_POD_UID: uid})) == 1  # app never started


def test_on_failure_restarts_failures_and_succeeds_on_zero(env: Env) -> None:
    pod = env.pod("job", [{"name": "c"}], restartPolicy="OnFailure")
    uid = pod["metadata"]["uid"]
    env.wait("job", lambda p: p["status"]["phase"] == "Running")
    (first,) = env.runtime.list_containers({LABEL_POD_UID: uid})
    env.runtime.fail_container(first.id, 1)
    pod = env.wait("job", lambda p: p["status"]["containerStatuses"][0]["restartCount"] == 1
                   and p["status"]["phase"] == "Running")
    latest = max(env.runtime.list_containers({LABEL_POD_UID: uid}),
                 key=lambda i: int(i.labels["io.gitkube.attempt"]))
    env.runtime.fail_container(latest.id, 0)
    pod = env.wait("job", lambda p: p["status"]["phase"] == "Succeeded")
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 1


def test_a_changed_image_replaces_the_container(env: Env) -> None:
    pod = env.pod("img", [{"name": "c", "image": "localhost/x:1"}])
    env.wait("img", lambda p: p["status"]["phase"] == "Running")
    pod = env.client.get("v1", "Pod", "default", "img")
    pod["spec"]["containers"][0]["image"] = "localhost/x:2"
    env.client.update(pod)
    pod = env.wait("img", lambda p: p["status"]["containerStatuses"][0]["image"] ==
                   "localhost/x:2" and p["status"]["containerStatuses"][0]["ready"])
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 1


def test_node_heartbeat_lease_in_kube_node_lease(tmp_path: Path) -> None:
    client = LocalClient(open_store("memory://"))
    manager = Manager(client)
    manager.add(Kubelet(manager, SimulatedRuntime(), KubeletConfig(
        node_name="n-lease", root_dir=tmp_path / "k", heartbeat_interval=0.2)))
    manager.start()
    try:
        lease = client.get("coordination.k8s.io/v1", "Lease", "kube-node-lease", "n-lease")
        node = client.get("v1", "Node", None, "n-lease")
        assert lease["spec"]["holderIdentity"] == "n-lease"
        assert lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
        first = lease["spec"]["renewTime"]
        deadline = time.monotonic() + 10
        while client.get("coordination.k8s.io/v1", "Lease", "kube-node-lease",
                         "n-lease")["spec"]["renewTime"] == first:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.05)
    finally:
        manager.stop()
