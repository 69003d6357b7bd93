"""PodDisruptionBudget rules (upstream's disruption controller and eviction REST handler),
pure: the status a budget has for the pods it selects, and whether one eviction is allowed.

- ``expectedPods``: with an integer ``minAvailable``, the number of selected pods; with a
  percentage or ``maxUnavailable``, the replicas their controllers ask for (``scale``,
  computed by the caller from the owners), as upstream.
- ``desiredHealthy``: ``minAvailable`` (a percentage of expectedPods, rounded up), or
  expectedPods minus ``maxUnavailable`` (a percentage rounded up), never below 0.
- ``currentHealthy``: selected pods Ready and not being deleted.
- ``disruptionsAllowed``: currentHealthy - desiredHealthy, at least 0 (0 when no pod is
  expected). Condition ``DisruptionAllowed``: True/SufficientPods or False/InsufficientPods.
- An eviction of a pod that is not Running (Pending, Succeeded, Failed) is always allowed;
  of a Running pod that is not Ready, allowed under ``unhealthyPodEvictionPolicy:
  AlwaysAllow``, or when currentHealthy >= desiredHealthy (IfHealthyBudget, the default);
  of a healthy pod, only while disruptionsAllowed > 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.model.pods import is_pod_ready, is_terminating, pod_phase

Obj = dict[str, Any]


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def uses_scale(pdb: Mapping[str, Any]) -> bool:
    """Whether the expected pod count comes from the pods' controllers (a percentage or
    ``maxUnavailable``) rather than from the pods themselves."""
    spec = pdb.get("spec") or {}
    return spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str)


def healthy(pod: Mapping[str, Any]) -> bool:
    return is_pod_ready(pod) and not is_terminating(pod)


def budget_status(pdb: Mapping[str, Any], pods: list[Obj], scale: int | None, *,
                  now: str) -> Obj:
    """The budget's status for the ``pods`` it selects; ``scale``: what their controllers
    ask for (used when ``uses_scale``; None: count the pods)."""
    spec = pdb.get("spec") or {}
    old = pdb.get("status") or {}
    # evicted pods not yet seen deleting stay out of the count (upstream's disruptedPods)
    names = {str((p.get("metadata") or {}).get("name")): p for p in pods}
    disrupted = {k: v for k, v in (old.get("disruptedPods") or {}).items()
                 if k in names and not is_terminating(names[k])}
    current = sum(1 for n, p in names.items() if healthy(p) and n not in disrupted)
    expected = scale if uses_scale(pdb) and scale is not None else len(pods)
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected  # neither: upstream's default minAvailable is 1 on v1beta1 only
    allowed = max(0, current - desired) if expected > 0 else 0
    meta = pdb.get("metadata") or {}
    ok = allowed > 0
    cond_status, reason = ("True", "SufficientPods") if ok else ("False", "InsufficientPods")
    before = next((c for c in old.get("conditions") or []
                   if isinstance(c, dict) and c.get("type") == "DisruptionAllowed"), None)
    since = before.get("lastTransitionTime") if before and before.get("status") == \
        cond_status else now
    return {
        **({"disruptedPods": disrupted} if disrupted else {}),
        "observedGeneration": meta.get("generation"),
        "currentHealthy": current, "desiredHealthy": desired, "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "conditions": [{"type": "DisruptionAllowed", "status": cond_status, "reason": reason,
                        "message": "", "observedGeneration": meta.get("generation"),
                        "lastTransitionTime": since}],
    }


@dataclass(frozen=True)
class EvictionVerdict:
    allowed: bool
    uses_budget: bool  # allowed by spending one disruption of the budget
    message: str = ""


def eviction_verdict(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> EvictionVerdict:
    """Whether ``pod`` may be evicted under ``pdb`` now (its status as last written)."""
    status = pdb.get("status") or {}
    if pod_phase(pod) != "Running":
        return EvictionVerdict(True, False)
    if not healthy(pod):
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
        if policy == "AlwaysAllow" or int(status.get("currentHealthy") or 0) >= \
                int(status.get("desiredHealthy") or 0):
            return EvictionVerdict(True, False)
    meta = pdb.get("metadata") or {}
    if meta.get("generation") != status.get("observedGeneration"):
        return EvictionVerdict(False, False, "The disruption budget "
                               f"{meta.get('name')} is still being processed by the server.")
    if int(status.get("disruptionsAllowed") or 0) > 0:
        return EvictionVerdict(True, True)
    return EvictionVerdict(False, False, (
        f"The disruption budget {meta.get('name')} needs {status.get('desiredHealthy', 0)} "
        f"healthy pods and has {status.get('currentHealthy', 0)} currently"))


__all__ = ["EvictionVerdict", "budget_status", "eviction_verdict", "healthy", "uses_scale"]
