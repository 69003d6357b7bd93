"""ResourceQuota controller: keeps each quota's ``status.hard`` (its ``spec.hard``) and
``status.used`` (what its namespace holds now, ``gitkube/model/quota.py``), as upstream's
resource quota controller does. Admission (``gitkube/api/admission.py``) refuses writes over
the quota on its own; this status is what ``kubectl describe quota`` shows.

A pod change requeues the quotas of its namespace; object counts of other kinds are
refreshed on the periodic resync (``resync`` seconds, upstream's is 5 minutes).
"""

from __future__ import annotations

from typing import Any

from gitkube.agents.manager import Controller, Informer, Manager, Result
from gitkube.api.client import Client
from gitkube.model import kinds, quota

Obj = dict[str, Any]


def _counted_kinds(hard: Obj) -> list[kinds.ResourceType]:
    """The kinds (other than pods) whose objects ``hard`` counts."""
    out: list[kinds.ResourceType] = []
    for rt in kinds.RESOURCES:
        if rt.namespaced and rt.kind != "Pod" and \
                set(quota.object_usage(rt.plural, rt.group)) & set(hard):
            out.append(rt)
    return out


class QuotaReconciler:
    def __init__(self, client: Client, quotas: Informer, pods: Informer):
        self.client = client
        self.quotas = quotas
        self.pods = pods

    def reconcile(self, key: str) -> Result:
        q = self.quotas.get(key)
        if q is None:
            return Result()
        ns = str(q["metadata"].get("namespace") or "")
        hard: Obj = dict((q.get("spec") or {}).get("hard") or {})
        objects = [quota.pod_usage(p) for p in self.pods.by_index("namespace", ns)]
        for rt in _counted_kinds(hard):
            one = quota.object_usage(rt.plural, rt.group)
            objects.extend(one for _ in self.client.list(rt.api_version, rt.kind, ns).items)
        used = quota.usage(hard, objects)
        status = {"hard": hard, "used": {n: quota.render(n, v) for n, v in used.items()}}
        if status != (q.get("status") or {}):
            self.client.update_status({**q, "status": status})
        return Result()


def controller(manager: Manager, *, resync: float = 10.0) -> Controller:
    """The resource quota controller on ``manager``'s shared informers."""
    quotas = manager.informer("v1", "ResourceQuota")
    pods = manager.informer("v1", "Pod")
    ctl = Controller("resourcequota-controller", QuotaReconciler(manager.client, quotas, pods),
                     quotas, resync_period=resync)

    def quotas_of(pod: Obj) -> list[str]:
        ns = str((pod.get("metadata") or {}).get("namespace") or "")
        return [f"{ns}/{q['metadata']['name']}" for q in quotas.by_index("namespace", ns)]

    ctl.watches(pods, quotas_of)
    return ctl
