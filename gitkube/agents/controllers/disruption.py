"""Disruption controller: keeps each PodDisruptionBudget's status (currentHealthy,
desiredHealthy, expectedPods, disruptionsAllowed, the DisruptionAllowed condition) true to
the pods it selects, as upstream's disruption controller does; the ``pods/eviction``
subresource (``gitkube/api/eviction.py``) reads that status to allow or refuse.

The rules are ``gitkube/model/disruption.py``'s. With a percentage or ``maxUnavailable``
the expected count is what the selected pods' controllers ask for: a ReplicaSet's replicas
(its Deployment's when it has one), a StatefulSet's; a pod without a controller counts
one. A pod change requeues the budgets of its namespace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from gitkube.agents.manager import Controller, Informer, Manager, Result, index_by_namespace
from gitkube.api.client import Client
from gitkube.errors import NotFound
from gitkube.model.disruption import budget_status, uses_scale
from gitkube.model.labels import selector_matches
from gitkube.model.times import rfc3339

Obj = dict[str, Any]


def _replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return value if isinstance(value, int) else 1


def controller_scale(client: Client, pods: list[Obj]) -> int:
    """The replicas the controllers of ``pods`` ask for, summed once per controller."""
    seen: dict[tuple[str, str], int] = {}
    loose = 0
    for pod in pods:
        ns = pod["metadata"].get("namespace")
        ref = next((r for r in pod["metadata"].get("ownerReferences") or []
                    if r.get("controller") is True), None)
        if ref is None:
            loose += 1
            continue
        key = (str(ref.get("kind")), str(ref.get("name")))
        if key in seen:
            continue
        seen[key] = 1
        with contextlib.suppress(NotFound):
            if ref.get("kind") == "ReplicaSet":
                rs = client.get("apps/v1", "ReplicaSet", ns, str(ref["name"]))
                top = next((r for r in rs["metadata"].get("ownerReferences") or []
                            if r.get("controller") is True and r.get("kind") == "Deployment"),
                           None)
                if top is not None:
                    dkey = ("Deployment", str(top["name"]))
                    seen[key] = 0
                    if dkey not in seen:
                        seen[dkey] = _replicas(client.get("apps/v1", "Deployment", ns,
                                                          str(top["name"])))
                else:
                    seen[key] = _replicas(rs)
            elif ref.get("kind") == "StatefulSet":
                seen[key] = _replicas(client.get("apps/v1", "StatefulSet", ns,
                                                 str(ref["name"])))
    return loose + sum(seen.values())


class DisruptionReconciler:
    def __init__(self, client: Client, budgets: Informer, pods: Informer,
                 clock: Callable[[], float]):
        self.client = client
        self.budgets = budgets
        self.pods = pods
        self.clock = clock

    def reconcile(self, key: str) -> Result:
        pdb = self.budgets.get(key)
        if pdb is None:
            return Result()
        ns = str(pdb["metadata"].get("namespace") or "")
        selector = (pdb.get("spec") or {}).get("selector")
        pods = [] if selector is None else [
            p for p in self.pods.by_index("namespace", ns)
            if selector_matches(selector, p["metadata"].get("labels") or {})]
        scale = controller_scale(self.client, pods) if uses_scale(pdb) else None
        status = budget_status(pdb, pods, scale, now=rfc3339(self.clock()))
        if status != (pdb.get("status") or {}):
            self.client.update_status({**pdb, "status": status})
        return Result()


def controller(manager: Manager) -> Controller:
    """The disruption controller on ``manager``'s shared informers."""
    budgets = manager.informer("policy/v1", "PodDisruptionBudget")
    budgets.add_index("namespace", index_by_namespace)
    pods = manager.informer("v1", "Pod")
    pods.add_index("namespace", index_by_namespace)
    rec = DisruptionReconciler(manager.client, budgets, pods, manager.clock)
    ctl = Controller("disruption-controller", rec, budgets)

    def budgets_of(pod: Obj) -> list[str]:
        ns = str((pod.get("metadata") or {}).get("namespace") or "")
        return [f"{ns}/{b['metadata']['name']}" for b in budgets.by_index("namespace", ns)]

    ctl.watches(pods, budgets_of)
    return ctl
