"""The ``pods/eviction`` subresource: delete a pod unless a PodDisruptionBudget forbids it
now (upstream's eviction REST handler), over any Client.

- No budget selects the pod: it is deleted. More than one: 500, as upstream.
- The budget's verdict (``gitkube/model/disruption.py``) refuses: 429 TooManyRequests,
  "Cannot evict pod as it would violate the pod's disruption budget.", with the budget's
  numbers as a cause; kubectl drain retries.
- Allowed by spending a disruption: the budget's status is written first
  (``disruptionsAllowed`` - 1 and the pod in ``disruptedPods``, compare-and-swap on its
  resourceVersion, retried on Conflict), then the pod is deleted (graceful, with the
  eviction's deleteOptions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitkube.api.client import Client
from gitkube.api.codec import now_rfc3339
from gitkube.errors import APIError, Conflict, TooManyRequests
from gitkube.model.disruption import eviction_verdict
from gitkube.model.labels import selector_matches

Obj = dict[str, Any]
RETRIES = 5


def _selects(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:  # policy/v1: a nil selector selects nothing
        return False
    return selector_matches(selector, (pod.get("metadata") or {}).get("labels") or {})


def evict(client: Client, namespace: str, name: str, delete_options: Mapping[str, Any]
          | None = None) -> None:
    """Evict pod ``namespace/name`` (NotFound, TooManyRequests or APIError when refused)."""
    options = delete_options or {}
    for _ in range(RETRIES):
        pod = client.get("v1", "Pod", namespace, name)
        budgets = [p for p in client.list("policy/v1", "PodDisruptionBudget", namespace).items
                   if _selects(p, pod)]
        if len(budgets) > 1:
            raise APIError("This pod has more than one PodDisruptionBudget, which the "
                           "eviction subresource does not support.", kind="pods", name=name)
        if budgets:
            pdb = budgets[0]
            verdict = eviction_verdict(pdb, pod)
            if not verdict.allowed:
                raise TooManyRequests(
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    kind="pods", name=name,
                    causes=[{"reason": "DisruptionBudget", "message": verdict.message}],
                    hint="wait until more of its pods are ready, or change the "
                         f"PodDisruptionBudget {pdb['metadata']['name']}")
            if verdict.uses_budget:
                status = dict(pdb.get("status") or {})
                status["disruptionsAllowed"] = int(status.get("disruptionsAllowed") or 0) - 1
                status["disruptedPods"] = {**(status.get("disruptedPods") or {}),
                                           name: now_rfc3339()}
                try:
                    client.update_status({**pdb, "status": status})
                except Conflict:
                    continue  # the budget moved: decide again on its new state
        grace = options.get("gracePeriodSeconds")
        client.delete("v1", "Pod", namespace, name, uid=pod["metadata"].get("uid"),
                      grace_period_seconds=grace if isinstance(grace, int) else None)
        return
    raise TooManyRequests("Cannot evict pod: its disruption budget kept changing; try again",
                          kind="pods", name=name)


__all__ = ["evict"]
