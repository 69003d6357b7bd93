"""Resource fit and the resource scores: least allocated (spread), most allocated (bin
packing), balanced allocation.

The filter compares the pod's requests with the node's allocatable minus what its pods (bound
and assumed) already request, like upstream's ``fitsRequest``: "Too many pods" when the pod
count is full, "Insufficient <resource>" for each short resource. Scores follow upstream's
formulas (integer arithmetic, 0..100), computed on requests *including* the pod being placed;
least/most allocated use the non-zero requests (100m cpu / 200Mi for containers asking for
nothing), balanced allocation the real ones.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from gitkube.agents.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    SUCCESS,
    CycleState,
    Status,
)
from gitkube.agents.scheduler.types import CPU, MEMORY, NodeInfo, PodInfo, Resources

DEFAULT_RESOURCES: tuple[tuple[str, int], ...] = ((CPU, 1), (MEMORY, 1))


def insufficient(pod: Resources, node: NodeInfo) -> list[str]:
    """The reasons ``pod`` does not fit on ``node`` (empty: it fits)."""
    reasons: list[str] = []
    if len(node.pods) + 1 > node.facts.allowed_pods:
        reasons.append("Too many pods")
    alloc = node.facts.allocatable
    used = node.requested
    if pod.milli_cpu > 0 and pod.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
    if pod.memory > 0 and pod.memory > alloc.memory - used.memory:
        reasons.append("Insufficient memory")
    if pod.ephemeral > 0 and pod.ephemeral > alloc.ephemeral - used.ephemeral:
        reasons.append("Insufficient ephemeral-storage")
    for name, amount in pod.scalar.items():
        if amount > 0 and amount > alloc.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def _resource_weights(args: Mapping[str, Any] | None) -> tuple[tuple[str, int], ...]:
    strategy = (args or {}).get("scoringStrategy") or {}
    resources = (args or {}).get("resources") or strategy.get("resources")
    if not resources:
        return DEFAULT_RESOURCES
    return tuple((str(r["name"]), int(r.get("weight", 1))) for r in resources
                 if isinstance(r, dict) and r.get("name"))


def least_allocated_score(requested: int, allocatable: int) -> int:
    if allocatable == 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_NODE_SCORE // allocatable


def most_allocated_score(requested: int, allocatable: int) -> int:
    if allocatable == 0:
        return 0
    return min(requested, allocatable) * MAX_NODE_SCORE // allocatable


class _ResourceScorer:
    """Shared shape of the allocation scores: a weighted mean over resources of a per-resource
    score of (node's non-zero requests + the pod's, allocatable)."""

    name = ""

    def __init__(self, args: Mapping[str, Any] | None = None):
        self.resources = _resource_weights(args)

    def signature(self, pod: PodInfo) -> Hashable:
        return pod.non_zero.key()

    @staticmethod
    def resource_score(requested: int, allocatable: int) -> int:
        raise NotImplementedError

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        alloc = node_info.facts.allocatable
        used = node_info.non_zero_requested
        want = pod.non_zero
        total = 0
        weights = 0
        for name, weight in self.resources:
            a = alloc.get(name)
            if a == 0:
                continue  # upstream leaves out resources the node does not have
            total += self.resource_score(used.get(name) + want.get(name), a) * weight
            weights += weight
        return total // weights if weights else 0


class LeastAllocated(_ResourceScorer):
    """Score: prefer the emptiest node (spread)."""

    name = "NodeResourcesLeastAllocated"

    @staticmethod
    def resource_score(requested: int, allocatable: int) -> int:
        return least_allocated_score(requested, allocatable)


class MostAllocated(_ResourceScorer):
    """Score: prefer the fullest node that still fits (bin packing)."""

    name = "NodeResourcesMostAllocated"

    @staticmethod
    def resource_score(requested: int, allocatable: int) -> int:
        return most_allocated_score(requested, allocatable)


class BalancedAllocation:
    """Score: prefer nodes whose resources would be used in equal proportion:
    ``(1 - std(fractions)) * 100`` over cpu and memory (fractions capped at 1)."""

    name = "NodeResourcesBalancedAllocation"

    def __init__(self, args: Mapping[str, Any] | None = None):
        self.resources = _resource_weights(args)

    def signature(self, pod: PodInfo) -> Hashable:
        return pod.requests.key()

    def pre_score(self, state: CycleState, pod: PodInfo,
                  nodes: Sequence[NodeInfo]) -> Status:
        # Best-effort pods are not scored (upstream, kubernetes#129138): every empty node
        # would look perfectly balanced and attract them all.
        if all(pod.requests.get(name) == 0 for name, _ in self.resources):
            return SKIP
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        alloc = node_info.facts.allocatable
        used = node_info.requested
        fractions: list[float] = []
        for name, _weight in self.resources:
            a = alloc.get(name)
            if a == 0:
                continue
            fractions.append(min((used.get(name) + pod.requests.get(name)) / a, 1.0))
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE)


class NodeResourcesFit:
    """Filter: the pod's requests fit. Score (when enabled as a score): upstream's
    ``scoringStrategy.type`` — LeastAllocated (default) or MostAllocated."""

    name = "NodeResourcesFit"

    def __init__(self, args: Mapping[str, Any] | None = None):
        strategy = str(((args or {}).get("scoringStrategy") or {}).get("type")
                       or "LeastAllocated")
        if strategy not in ("LeastAllocated", "MostAllocated"):
            raise ValueError(f"NodeResourcesFit: unknown scoringStrategy.type {strategy!r}: "
                             "use LeastAllocated or MostAllocated")
        self._scorer: _ResourceScorer = (MostAllocated(args) if strategy == "MostAllocated"
                                         else LeastAllocated(args))

    def signature(self, pod: PodInfo) -> Hashable:
        return (pod.requests.key(), pod.non_zero.key())

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        # The common case inline (cpu, memory, pods), the general one in insufficient().
        want = pod.requests
        facts = node_info.facts
        used = node_info.requested
        if (len(node_info.pods) < facts.allowed_pods
                and want.milli_cpu <= facts.allocatable.milli_cpu - used.milli_cpu
                and want.memory <= facts.allocatable.memory - used.memory
                and not want.ephemeral and not want.scalar):
            return SUCCESS
        reasons = insufficient(want, node_info)
        return Status.unschedulable(*reasons) if reasons else SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        return self._scorer.score(state, pod, node_info)


__all__ = [
    "BalancedAllocation",
    "LeastAllocated",
    "MostAllocated",
    "NodeResourcesFit",
    "insufficient",
    "least_allocated_score",
    "most_allocated_score",
]
