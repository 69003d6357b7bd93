"""Helpers shared by the agent tests: bounded polling and a stand-in for the node side."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

from gitkube.api.client import Client
from gitkube.errors import APIError

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
