"""What the scheduler computes on: precomputed views of pods and nodes (pure, no I/O).

``PodInfo`` is built once per pod (requests summed like upstream's ``computePodResourceRequest``,
host ports, tolerations, node affinity) so that plugins never re-parse quantities per node.
Tolerations, taints and node affinity are the shared model's (gitkube/model/scheduling.py),
the same rules the DaemonSet controller places its pods by.
``NodeInfo`` is one node plus the pods bound (or assumed) to it, with running totals of what
they request; the scheduler cache updates it incrementally and bumps ``generation`` on every
change, which is what lets the framework reuse a plugin's verdict for an unchanged node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.model.conditions import condition_status
from gitkube.model.quantity import parse_quantity
from gitkube.model.scheduling import (
    PreferredSchedulingTerms,
    RequiredNodeAffinity,
    Taint,
    Toleration,
    taints_of,
    tolerations_of,
)

Obj = dict[str, Any]

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL = "ephemeral-storage"
PODS = "pods"
# Upstream's defaults for containers that request nothing, used only for scoring
# (pkg/scheduler/util: DefaultMilliCPURequest, DefaultMemoryRequest).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def _milli(value: Any) -> int:
    try:
        return parse_quantity(value).milli
    except (ValueError, TypeError):
        return 0


def _whole(value: Any) -> int:
    try:
        return parse_quantity(value).to_int()
    except (ValueError, TypeError):
        return 0


@dataclass(slots=True)
class Resources:
    """An amount of every resource the scheduler accounts: cpu in millicores, memory and
    ephemeral storage in bytes, extended resources (``nvidia.com/gpu``, hugepages) by name."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None) -> Resources:
        out = cls()
        for name, value in (values or {}).items():
            out.set(str(name), value)
        return out

    def set(self, name: str, value: Any) -> None:
        if name == CPU:
            self.milli_cpu = _milli(value)
        elif name == MEMORY:
            self.memory = _whole(value)
        elif name == EPHEMERAL:
            self.ephemeral = _whole(value)
        elif name != PODS:
            self.scalar[name] = _whole(value)

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL:
            return self.ephemeral
        return self.scalar.get(name, 0)

    def add(self, other: Resources) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral += other.ephemeral
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + v

    def sub(self, other: Resources) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral -= other.ephemeral
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) - v

    def max_with(self, other: Resources) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral = max(self.ephemeral, other.ephemeral)
        for k, v in other.scalar.items():
            self.scalar[k] = max(self.scalar.get(k, 0), v)

    def copy(self) -> Resources:
        return Resources(self.milli_cpu, self.memory, self.ephemeral, dict(self.scalar))

    def key(self) -> tuple[int, int, int, tuple[tuple[str, int], ...]]:
        return (self.milli_cpu, self.memory, self.ephemeral, tuple(sorted(self.scalar.items())))


def _container_request(container: Mapping[str, Any], non_zero: bool) -> Resources:
    res = container.get("resources") or {}
    requests = res.get("requests") or {}
    limits = res.get("limits") or {}
    out = Resources()
    # A limit without a request is the request (API defaulting upstream).
    for name in {*limits, *requests}:
        value = requests.get(name, limits.get(name))
        if value is not None:
            out.set(str(name), value)
    if non_zero:
        if CPU not in requests and CPU not in limits:
            out.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if MEMORY not in requests and MEMORY not in limits:
            out.memory = DEFAULT_MEMORY_REQUEST
    return out


def pod_requests(spec: Mapping[str, Any], *, non_zero: bool = False) -> Resources:
    """What a pod requests, as upstream computes it: the sum over containers, against the
    largest init container (sidecar init containers — restartPolicy Always — keep running, so
    they add up), plus spec.overhead. ``non_zero`` substitutes upstream's scoring defaults
    (100m cpu, 200Mi memory) for containers that request nothing."""
    total = Resources()
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            total.add(_container_request(c, non_zero))
    sidecars = Resources()
    init_max = Resources()
    for c in spec.get("initContainers") or []:
        if not isinstance(c, dict):
            continue
        req = _container_request(c, non_zero)
        if c.get("restartPolicy") == "Always":
            total.add(req)
            sidecars.add(req)
            current = sidecars.copy()
        else:
            current = sidecars.copy()
            current.add(req)
        init_max.max_with(current)
    total.max_with(init_max)
    overhead = spec.get("overhead")
    if isinstance(overhead, dict):
        total.add(Resources.parse(overhead))
    return total


HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def _host_ports(spec: Mapping[str, Any]) -> tuple[HostPort, ...]:
    out: list[HostPort] = []
    for c in spec.get("containers") or []:
        for p in (c.get("ports") or []) if isinstance(c, dict) else []:
            if isinstance(p, dict) and isinstance(p.get("hostPort"), int) and p["hostPort"] > 0:
                out.append((str(p.get("hostIP") or "0.0.0.0"), str(p.get("protocol") or "TCP"),
                            p["hostPort"]))
    return tuple(out)


def ports_conflict(a: HostPort, b: HostPort) -> bool:
    """Same protocol and port, and the addresses overlap (0.0.0.0 overlaps every address)."""
    return (a[1] == b[1] and a[2] == b[2]
            and (a[0] == b[0] or a[0] == "0.0.0.0" or b[0] == "0.0.0.0"))


class PodInfo:
    """A pod as the scheduler sees it, computed once. ``obj`` is the wire object (shared with
    the informer cache: never mutate it)."""

    __slots__ = ("affinity", "host_ports", "key", "name", "namespace", "node_selector",
                 "non_zero", "obj", "preferred", "priority", "requests", "required",
                 "tolerations", "uid")

    def __init__(self, obj: Obj):
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        self.obj = obj
        self.namespace = str(meta.get("namespace") or "default")
        self.name = str(meta.get("name") or "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid = str(meta.get("uid") or "")
        self.requests = pod_requests(spec)
        self.non_zero = pod_requests(spec, non_zero=True)
        self.host_ports = _host_ports(spec)
        self.tolerations: tuple[Toleration, ...] = tolerations_of(spec)
        selector = spec.get("nodeSelector")
        self.node_selector: dict[str, str] = (
            {str(k): str(v) for k, v in selector.items()} if isinstance(selector, dict) else {})
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity")
        self.affinity: Obj = node_affinity if isinstance(node_affinity, dict) else {}
        self.required = RequiredNodeAffinity.of(spec)
        self.preferred = PreferredSchedulingTerms.of(spec)
        priority = spec.get("priority")
        self.priority = priority if isinstance(priority, int) else 0


@dataclass(slots=True)
class NodeFacts:
    """The parts of a Node object scheduling depends on, parsed once per node change."""

    name: str
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    unschedulable: bool
    ready: str  # the Ready condition's status: "True", "False", "Unknown" or ""
    allocatable: Resources
    allowed_pods: int

    @classmethod
    def of(cls, node: Obj) -> NodeFacts:
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        labels = meta.get("labels") or {}
        return cls(
            name=str(meta.get("name") or ""),
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict)
            else {},
            taints=taints_of(node),
            unschedulable=bool(spec.get("unschedulable")),
            ready=condition_status(node, "Ready"),
            allocatable=Resources.parse(alloc if isinstance(alloc, dict) else {}),
            allowed_pods=_whole(alloc.get(PODS, 0)) if isinstance(alloc, dict) else 0,
        )


class NodeInfo:
    """One node and the pods on it (bound or assumed), with running totals.

    ``requested`` sums the pods' requests; ``non_zero_requested`` the same with upstream's
    scoring defaults. ``generation`` changes whenever anything here changes. ``node`` is None
    while pods name a node the scheduler has not seen (yet)."""

    __slots__ = ("facts", "generation", "memo", "name", "node", "non_zero_requested", "pods",
                 "requested", "used_ports")

    def __init__(self, name: str):
        self.name = name
        self.node: Obj | None = None
        self.facts = NodeFacts(name, {}, (), False, "", Resources(), 0)
        self.pods: dict[str, PodInfo] = {}
        self.requested = Resources()
        self.non_zero_requested = Resources()
        self.used_ports: list[HostPort] = []
        self.generation = 0
        self.memo: dict[Any, Any] = {}  # the framework's per-pod-signature verdicts

    def _changed(self) -> None:
        self.generation += 1
        self.memo = {}

    def set_node(self, node: Obj | None, facts: NodeFacts | None = None) -> None:
        self.node = node
        if node is not None:
            self.facts = facts or NodeFacts.of(node)
        self._changed()

    def add_pod(self, pod: PodInfo) -> None:
        old = self.pods.get(pod.key)
        if old is not None:
            self._remove(old)
        self.pods[pod.key] = pod
        self.requested.add(pod.requests)
        self.non_zero_requested.add(pod.non_zero)
        self.used_ports.extend(pod.host_ports)
        self._changed()

    def remove_pod(self, key: str) -> PodInfo | None:
        pod = self.pods.get(key)
        if pod is not None:
            self._remove(pod)
            self._changed()
        return pod

    def _remove(self, pod: PodInfo) -> None:
        del self.pods[pod.key]
        self.requested.sub(pod.requests)
        self.non_zero_requested.sub(pod.non_zero)
        for port in pod.host_ports:
            if port in self.used_ports:
                self.used_ports.remove(port)


class NodeList(list[NodeInfo]):
    """The nodes a cycle looks at, as kept by the scheduler cache: a list plus what lets the
    framework refresh only what changed. ``epoch`` names this list's membership and order;
    ``log`` holds the index of every node changed since (appended by the cache). A plain
    list of NodeInfos works too, it just cannot be refreshed incrementally."""

    epoch: int = 0

    def __init__(self, nodes: list[NodeInfo], epoch: int):
        super().__init__(nodes)
        self.epoch = epoch
        self.log: list[int] = []
        self.positions = {info.name: i for i, info in enumerate(nodes)}


__all__ = [
    "CPU",
    "EPHEMERAL",
    "MEMORY",
    "PODS",
    "HostPort",
    "NodeFacts",
    "NodeInfo",
    "NodeList",
    "PodInfo",
    "Resources",
    "pod_requests",
    "ports_conflict",
]
