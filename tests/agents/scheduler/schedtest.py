"""Builders for the scheduler tests: wire-form Nodes and Pods, NodeInfos from them, and a
cluster (a real SQLite store, its LocalClient and a Manager)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitkube.agents.manager import Manager
from gitkube.agents.scheduler.types import NodeInfo, PodInfo
from gitkube.api.local import LocalClient
from gitkube.store import open_store

Obj = dict[str, Any]


def node_obj(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
             labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
             ready: str | None = "True", unschedulable: bool = False) -> Obj:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": spec,
            "status": {"capacity": alloc, "allocatable": alloc, "conditions": conditions}}


def pod_obj(name: str, *, cpu: str | None = None, memory: str | None = None,
            node_selector: dict[str, str] | None = None, affinity: Obj | None = None,
            tolerations: list[Obj] | None = None, host_port: int | None = None,
            scheduler: str | None = None) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "c", "image": "pause:3"}
    if requests:
        container["resources"] = {"requests": requests}
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    spec: Obj = {"containers": [container]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = {"nodeAffinity": affinity}
    if tolerations:
        spec["tolerations"] = tolerations
    if scheduler:
        spec["schedulerName"] = scheduler
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def node_info(name: str = "n1", *, running: list[Obj] | None = None, **kw: Any) -> NodeInfo:
    info = NodeInfo(name)
    info.set_node(node_obj(name, **kw))
    for p in running or []:
        info.add_pod(PodInfo(p))
    return info


def required(*terms: Obj) -> Obj:
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}


def eventually(predicate: Callable[[], Any], timeout: float = 20.0, poll: float = 0.02) -> bool:
    """Poll ``predicate`` until it is truthy (True) or ``timeout`` seconds passed (False);
    an exception counts as "not yet"."""
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


class SchedCluster:
    """A real SQLite store at ``path``, its LocalClient and a Manager (not started)."""

    def __init__(self, path: Path):
        self.store = open_store(f"sqlite:///{path}")
        self.client = LocalClient(self.store)
        self.manager = Manager(self.client)

    def close(self) -> None:
        self.manager.stop()
        self.store.close()
