"""NodeAffinity: spec.nodeSelector and nodeAffinity (required: filter; preferred: score).

The matching rules are the shared model's (gitkube/model/scheduling.py, upstream's
component-helpers ``nodeaffinity``), which the DaemonSet controller uses too: required terms
are ORed; inside a term, matchExpressions and matchFields are ANDed; a term with neither
matches no node, and so does a required affinity without a non-empty term. Operators: In,
NotIn, Exists, DoesNotExist, Gt, Lt (integer comparison of the label value); matchFields
supports ``metadata.name`` with In and NotIn. ``PodInfo`` parses both once per pod.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from gitkube.agents.scheduler.framework import (
    SKIP,
    SUCCESS,
    CycleState,
    Status,
    default_normalize,
)
from gitkube.agents.scheduler.types import NodeInfo, PodInfo

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"


class NodeAffinity:
    name = "NodeAffinity"

    def __init__(self, args: Mapping[str, Any] | None = None):
        pass

    def signature(self, pod: PodInfo) -> Hashable:
        if not pod.node_selector and not pod.affinity:
            return None
        return json.dumps([pod.node_selector, pod.affinity], sort_keys=True)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return SKIP if pod.required.empty else SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        if pod.required.matches(node_info.facts.labels, node_info.name):
            return SUCCESS
        return Status.unschedulable(ERR_REASON_POD, resolvable=False)

    def pre_score(self, state: CycleState, pod: PodInfo,
                  nodes: Sequence[NodeInfo]) -> Status:
        return SUCCESS if pod.preferred.terms else SKIP

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        return pod.preferred.score(node_info.facts.labels, node_info.name)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> list[int]:
        return default_normalize(scores)


__all__ = ["ERR_REASON_POD", "NodeAffinity"]
