"""Node-level filters: schedulable (spec.unschedulable), Ready, taints and tolerations.

Reasons are upstream's strings, so FailedScheduling messages read as on Kubernetes. A node
that is not Ready fails the way upstream's ``node.kubernetes.io/not-ready`` (or, for an
Unknown/absent condition, ``unreachable``) NoSchedule taint makes it fail, and a pod that
tolerates that taint (DaemonSet pods do) may still go there.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from gitkube.agents.scheduler.framework import (
    SUCCESS,
    CycleState,
    Status,
    default_normalize,
)
from gitkube.agents.scheduler.types import NodeInfo, PodInfo
from gitkube.model.scheduling import (
    HARD_EFFECTS,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    Taint,
    tolerated,
    untolerated_taints,
)

ERR_UNSCHEDULABLE = "node(s) were unschedulable"
_UNSCHEDULABLE_TAINT = Taint(TAINT_UNSCHEDULABLE, "", "NoSchedule")
_NOT_READY_TAINT = Taint(TAINT_NOT_READY, "", "NoSchedule")
_UNREACHABLE_TAINT = Taint(TAINT_UNREACHABLE, "", "NoSchedule")


def untolerated_taint_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


class NodeUnschedulable:
    """Filter: a cordoned node (spec.unschedulable) takes only pods tolerating
    ``node.kubernetes.io/unschedulable:NoSchedule``."""

    name = "NodeUnschedulable"

    def __init__(self, args: Mapping[str, Any] | None = None):
        pass

    def signature(self, pod: PodInfo) -> Hashable:
        return pod.tolerations

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        if not node_info.facts.unschedulable or tolerated(pod.tolerations,
                                                          _UNSCHEDULABLE_TAINT):
            return SUCCESS
        return Status.unschedulable(ERR_UNSCHEDULABLE, resolvable=False)


class NodeReady:
    """Filter: the node's Ready condition is True, unless the pod tolerates the taint
    upstream puts on such a node (not-ready for False, unreachable for Unknown or absent)."""

    name = "NodeReady"

    def __init__(self, args: Mapping[str, Any] | None = None):
        pass

    def signature(self, pod: PodInfo) -> Hashable:
        return pod.tolerations

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        ready = node_info.facts.ready
        if ready == "True":
            return SUCCESS
        taint = _NOT_READY_TAINT if ready == "False" else _UNREACHABLE_TAINT
        if tolerated(pod.tolerations, taint):
            return SUCCESS
        return Status.unschedulable(untolerated_taint_reason(taint), resolvable=False)


class TaintToleration:
    """Filter: every NoSchedule/NoExecute taint of the node is tolerated. Score: fewer
    untolerated PreferNoSchedule taints is better (normalized, reversed)."""

    name = "TaintToleration"

    def __init__(self, args: Mapping[str, Any] | None = None):
        pass

    def signature(self, pod: PodInfo) -> Hashable:
        return pod.tolerations

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        for taint in untolerated_taints(pod.tolerations, node_info.facts.taints, HARD_EFFECTS):
            return Status.unschedulable(untolerated_taint_reason(taint), resolvable=False)
        return SUCCESS

    def pre_score(self, state: CycleState, pod: PodInfo,
                  nodes: Sequence[NodeInfo]) -> Status:
        state["TaintToleration.prefer"] = tuple(
            t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule"))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        prefer = state.get("TaintToleration.prefer", ())
        return len(untolerated_taints(prefer, node_info.facts.taints, ("PreferNoSchedule",)))

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> list[int]:
        return default_normalize(scores, reverse=True)


__all__ = ["ERR_UNSCHEDULABLE", "NodeReady", "NodeUnschedulable", "TaintToleration",
           "untolerated_taint_reason"]
