"""Helpers shared by the agent tests: bounded polling and a stand-in for the node side."""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitkube.agents.manager import Manager, ManualClock
from gitkube.api.client import Client
from gitkube.api.local import LocalClient
from gitkube.errors import APIError
from gitkube.store import open_store

Obj = dict[str, Any]


def eventually(predicate: Callable[[], Any], timeout: float = 20.0, poll: float = 0.02) -> bool:
    """Poll ``predicate`` until it is truthy (True) or ``timeout`` seconds passed (False).
    Exceptions from the predicate count as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except Exception:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def node(name: str, *, labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None, ready: bool = True,
         heartbeat: str = "2030-01-01T00:00:00Z") -> Obj:
    """A Node object with allocatable resources and a Ready condition."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints} if taints else {},
        "status": {
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "200"},
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "200"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            "reason": "KubeletReady", "lastHeartbeatTime": heartbeat,
                            "lastTransitionTime": heartbeat}],
        },
    }


def pods_of(client: Client, ns: str = "default", selector: str | None = None) -> list[Obj]:
    return client.list("v1", "Pod", ns, label_selector=selector).items


def mark_running(client: Client, pod: Obj, *, ready: bool = True,
                 node_name: str | None = None) -> Obj | None:
    """Play the kubelet: bind (if asked and unbound) and mark a pod Running (and Ready)."""
    try:
        if node_name and not (pod.get("spec") or {}).get("nodeName"):
            pod = client.bind(pod["metadata"]["namespace"], pod["metadata"]["name"], node_name)
        status = dict(pod.get("status") or {})
        status["phase"] = "Running"
        status["podIP"] = status.get("podIP") or _ip(pod["metadata"]["name"])
        conds = [c for c in status.get("conditions") or [] if c.get("type") not in
                 ("Ready", "ContainersReady")]
        flag = "True" if ready else "False"
        conds += [{"type": "Ready", "status": flag}, {"type": "ContainersReady", "status": flag}]
        status["conditions"] = conds
        pod = {**pod, "status": status}
        return client.update_status(pod)
    except APIError:
        return None


def _ip(name: str) -> str:
    n = zlib.crc32(name.encode())
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def set_phase(client: Client, pod: Obj, phase: str, *, restarts: int | None = None) -> Obj:
    status = dict(pod.get("status") or {})
    status["phase"] = phase
    if phase in ("Succeeded", "Failed"):
        status["conditions"] = [c for c in status.get("conditions") or []
                                if c.get("type") != "Ready"] + [
            {"type": "Ready", "status": "False"}]
    if restarts is not None:
        status["containerStatuses"] = [{"name": c["name"], "image": c["image"],
                                        "imageID": "", "ready": False,
                                        "restartCount": restarts}
                                       for c in pod["spec"]["containers"]]
    return client.update_status({**pod, "status": status})


# --- a stand-in for the node side -------------------------------------------------------


class FakeKubelet:
    """Plays the scheduler and every node's kubelet until the real agents are wired in:
    binds unbound pods to a live node (stable choice by name), marks bound pods Running and
    Ready (when ``auto_ready``), and finishes graceful deletions. Nodes in ``dead`` are
    skipped (their pods are left alone: a dead node reports nothing)."""

    def __init__(self, manager: Any, nodes: list[str], *, auto_ready: bool = True,
                 bind: bool = True):
        from gitkube.agents.manager import Controller, Result

        self.client = manager.client
        self.nodes = list(nodes)
        self.dead: set[str] = set()
        self.auto_ready = auto_ready
        self.bind = bind
        self.pods = manager.informer("v1", "Pod")
        self._result = Result
        self.controller = Controller("fake-kubelet", self, self.pods, resync_period=0.5)
        self.name = "fake-kubelet"
        manager.add(self)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def _node_for(self, name: str) -> str | None:
        live = [n for n in self.nodes if n not in self.dead]
        if not live:
            return None
        return live[zlib.crc32(name.encode()) % len(live)]

    def reconcile(self, key: str) -> Any:
        pod = self.pods.get(key)
        if pod is None:
            return self._result()
        meta, spec = pod["metadata"], pod.get("spec") or {}
        node_name = spec.get("nodeName")
        if node_name in self.dead:
            return self._result()
        if meta.get("deletionTimestamp"):
            if meta.get("deletionGracePeriodSeconds"):
                with contextlib.suppress(APIError):
                    self.client.delete("v1", "Pod", meta["namespace"], meta["name"],
                                       grace_period_seconds=0)
            return self._result()
        if not node_name:
            if not self.bind:
                return self._result()
            node_name = self._node_for(meta["name"])
            if node_name is None:
                return self._result()
            pod = self.client.bind(meta["namespace"], meta["name"], node_name)
        if self.auto_ready and (pod.get("status") or {}).get("phase") == "Pending":
            mark_running(self.client, pod)
        return self._result()


# --- a store, a client and a manager for one test ------------------------------------


class Cluster:
    def __init__(self, path: Path):
        self.store = open_store(f"sqlite:///{path}")
        self.client = LocalClient(self.store)
        self.clock = ManualClock()
        self.manager = Manager(self.client, clock=self.clock)

    def close(self) -> None:
        self.manager.stop()
        self.store.close()
