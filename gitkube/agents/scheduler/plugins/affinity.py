"""NodeAffinity: spec.nodeSelector and nodeAffinity (required: filter; preferred: score).

Required terms are ORed; inside a term, matchExpressions and matchFields are ANDed; a term
with neither matches no node (upstream's rule). Operators: In, NotIn, Exists, DoesNotExist,
Gt, Lt (integer comparison of the label value); matchFields supports ``metadata.name`` with In
and NotIn.
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


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def requirement_matches(req: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One NodeSelectorRequirement against a node's labels."""
    key = str(req.get("key") or "")
    op = req.get("operator")
    values = [str(v) for v in req.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        have, want = _int(labels[key]), _int(values[0])
        if have is None or want is None:
            return False
        return have > want if op == "Gt" else have < want
    return False


def field_matches(req: Mapping[str, Any], node_name: str) -> bool:
    if req.get("key") != "metadata.name":
        return False
    values = [str(v) for v in req.get("values") or []]
    if req.get("operator") == "In":
        return node_name in values
    if req.get("operator") == "NotIn":
        return node_name not in values
    return False


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], node_name: str) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    return (all(isinstance(e, dict) and requirement_matches(e, labels) for e in exprs)
            and all(isinstance(f, dict) and field_matches(f, node_name) for f in fields))


def required_terms(pod: PodInfo) -> list[Mapping[str, Any]] | None:
    """The required nodeSelectorTerms (None: the pod has no required affinity)."""
    required = pod.affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return None
    return [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]


def pod_matches_node(pod: PodInfo, labels: Mapping[str, str], node_name: str) -> bool:
    """nodeSelector and required node affinity both hold (upstream's
    ``RequiredNodeAffinity.Match``)."""
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return False
    terms = required_terms(pod)
    if terms is None:
        return True
    return any(term_matches(t, labels, node_name) for t in terms)


def _preferred(pod: PodInfo) -> list[tuple[int, Mapping[str, Any]]]:
    out = []
    for p in pod.affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        if isinstance(p, dict) and isinstance(p.get("preference"), dict):
            weight = p.get("weight")
            if isinstance(weight, int) and weight > 0:
                out.append((weight, p["preference"]))
    return out


class NodeAffinity:
    name = "NodeAffinity"

    def __init__(self, args: Mapping[str, Any] | None = None):
        pass

    def signature(self, pod: PodInfo) -> Hashable:
        if not pod.node_selector and not pod.affinity:
            return None
        return json.dumps([pod.node_selector, pod.affinity], sort_keys=True)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        if not pod.node_selector and required_terms(pod) is None:
            return SKIP
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        if pod_matches_node(pod, node_info.facts.labels, node_info.name):
            return SUCCESS
        return Status.unschedulable(ERR_REASON_POD, resolvable=False)

    def pre_score(self, state: CycleState, pod: PodInfo,
                  nodes: Sequence[NodeInfo]) -> Status:
        preferred = _preferred(pod)
        if not preferred:
            return SKIP
        state["NodeAffinity.preferred"] = preferred
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        preferred = state.get("NodeAffinity.preferred") or _preferred(pod)
        labels = node_info.facts.labels
        return sum(w for w, term in preferred if term_matches(term, labels, node_info.name))

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> list[int]:
        return default_normalize(scores)


__all__ = ["ERR_REASON_POD", "NodeAffinity", "pod_matches_node", "requirement_matches",
           "term_matches"]
