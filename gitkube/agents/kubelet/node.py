"""The kubelet's Node object: registration and heartbeats.

``node_object`` builds the Node a kubelet registers (capacity and allocatable cpu, memory,
pods; labels ``kubernetes.io/hostname``, ``kubernetes.io/os``, ``kubernetes.io/arch``;
addresses; nodeInfo; condition Ready=True). ``register`` creates it or refreshes an existing
one; ``heartbeat`` moves ``lastHeartbeatTime`` of every condition (the node-lifecycle
controller reads Ready's) and sets Ready=True again.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any

from gitkube import __version__
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, NotFound
from gitkube.model import leases
from gitkube.model.times import rfc3339

Obj = dict[str, Any]


def host_capacity() -> tuple[str, str]:
    """This machine's cpu count and memory (as Kubernetes quantities)."""
    cpu = str(os.cpu_count() or 1)
    memory = "1Gi"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1])}Ki"
                    break
    except OSError:
        pass
    return cpu, memory


def conditions(now: float, *, ready: bool = True, since: Mapping[str, str] | None = None) -> list[
        Obj]:
    """The node's conditions; ``since`` keeps lastTransitionTime per type when unchanged."""
    stamp = rfc3339(now)
    out = []
    for type_, status, reason, message in (
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady",
         "kubelet is posting ready status" if ready else "kubelet is not ready"),
    ):
        key = f"{type_}={status}"
        out.append({"type": type_, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": (since or {}).get(key, stamp)})
    return out


def node_object(name: str, *, cpu: str, memory: str, pods: int, address: str, now: float,
                labels: Mapping[str, str] | None = None, runtime_version: str = "") -> Obj:
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch, **dict(labels or {})}},
        "spec": {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": conditions(now),
            "addresses": [{"type": "InternalIP", "address": address},
                          {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "architecture": arch, "operatingSystem": "linux",
                "kernelVersion": platform.release(), "osImage": platform.platform(),
                "containerRuntimeVersion": runtime_version,
                "kubeletVersion": f"gitkube-{__version__}",
                "kubeProxyVersion": f"gitkube-{__version__}",
                "machineID": "", "systemUUID": "", "bootID": "",
            },
        },
    }
    return node


def register(client: Client, node: Obj) -> Obj:
    """Create the Node, or refresh labels and status of an existing one."""
    try:
        return client.create(node)
    except AlreadyExists:
        pass
    name = node["metadata"]["name"]
    current = client.get("v1", "Node", None, name)
    labels = dict(current["metadata"].get("labels") or {})
    labels.update(node["metadata"]["labels"])
    if labels != current["metadata"].get("labels"):
        client.patch("v1", "Node", None, name, {"metadata": {"labels": labels}})
    return client.patch("v1", "Node", None, name, {"status": node["status"]},
                        subresource="status")


def heartbeat(client: Client, name: str, now: float, current: Obj | None = None) -> Obj:
    """Move every condition's lastHeartbeatTime to ``now`` and report Ready=True."""
    since = {}
    for c in ((current or {}).get("status") or {}).get("conditions") or []:
        since[f"{c.get('type')}={c.get('status')}"] = str(c.get("lastTransitionTime") or "")
    return client.patch("v1", "Node", None, name,
                        {"status": {"conditions": conditions(now, since=since)}},
                        subresource="status")


def renew_lease(client: Client, node: Obj, now: float) -> Obj:
    """Create or renew ``node``'s heartbeat Lease in ``kube-node-lease`` (upstream's node
    lease: renewTime every heartbeat, owned by the Node)."""
    name = node["metadata"]["name"]
    try:
        return client.patch(leases.API_VERSION, "Lease", leases.NODE_LEASE_NAMESPACE, name,
                            {"spec": {"holderIdentity": name,
                                      "leaseDurationSeconds": leases.NODE_LEASE_DURATION,
                                      "renewTime": leases.micro_time(now)}})
    except NotFound:
        return client.create(leases.node_lease(name, now,
                                               node_uid=node["metadata"].get("uid")))
