"""ReplicaSet controller: exactly ``spec.replicas`` active pods, and the ReplicaSet's status.

Pods belong to a ReplicaSet through a controller ownerReference with its uid; active pods
the selector matches that have no controller are adopted (the reference is added), as
upstream.
A pod that finished (Failed, or Succeeded) is deleted and replaced by a new pod with a new
name and uid (gitkube has no separate pod garbage collector, so the ReplicaSet removes its
finished pods itself). Surplus pods are deleted in upstream's order: unscheduled, pending,
not ready and newest first. Creations go out in slow-start batches (1, 2, 4, ...), each
batch one api transaction; ``Expectations`` keep a reconcile on a stale cache from
creating the same pods twice.

The same controller runs ReplicationControllers (``controller(kind="ReplicationController")``):
the one difference is their selector, a plain map of labels (``label_selector_of``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitkube.agents.controllers.budget import PodBudget
from gitkube.agents.controllers.common import (
    Expectations,
    active_pod_rank,
    adoptable,
    index_orphans,
    is_controlled_by,
    label_selector_of,
    pod_from_template,
    random_suffix,
    selects,
    with_controller,
)
from gitkube.agents.events import EventRecorder
from gitkube.agents.manager import (
    Controller,
    Informer,
    Manager,
    Result,
    index_by_owner_uid,
    key_of,
    owner_mapper,
)
from gitkube.api.client import Client, CreateOp
from gitkube.errors import APIError, Conflict, NotFound
from gitkube.model.conditions import find_condition
from gitkube.model.pods import (
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    pod_phase,
)
from gitkube.model.times import parse_time
from gitkube.model.views import ObjectView

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.replicaset")
BATCH_MAX = 512


@dataclass(frozen=True)
class PodPlan:
    """What to do about a ReplicaSet's pods: how many to create, which to delete."""

    create: int
    delete: list[Obj]


def plan_pods(replicas: int, pods: list[Obj]) -> PodPlan:
    """Pure: given the ReplicaSet's pods, finished ones go, and the active count is brought
    to ``replicas`` (surplus chosen by ``active_pod_rank``)."""
    finished = [p for p in pods if not is_terminating(p) and pod_phase(p) in
                ("Failed", "Succeeded")]
    active = [p for p in pods if is_pod_active(p)]
    diff = len(active) - replicas
    if diff < 0:
        return PodPlan(-diff, finished)
    surplus = sorted(active, key=active_pod_rank)[:diff]
    return PodPlan(0, finished + surplus)


def compute_status(rs: Obj, pods: list[Obj], now: float) -> Obj:
    """Pure: the ReplicaSet status for its (owned) pods at time ``now``."""
    spec = rs.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    active = [p for p in pods if is_pod_active(p)]
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    status: Obj = {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(
            1 for p in active
            if all(ObjectView(p).metadata.labels.get(k) == v
                   for k, v in template_labels.items())),
        "readyReplicas": sum(1 for p in active if is_pod_ready(p)),
        "availableReplicas": sum(1 for p in active if is_pod_available(p, min_ready, now)),
        "observedGeneration": (rs.get("metadata") or {}).get("generation", 1),
    }
    old = rs.get("status") or {}
    if old.get("conditions"):
        status["conditions"] = old["conditions"]
    return status


def next_available_in(pods: list[Obj], min_ready: int, now: float) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod becomes available."""
    if min_ready <= 0:
        return None
    waits = []
    for p in pods:
        if is_pod_active(p) and is_pod_ready(p) and not is_pod_available(p, min_ready, now):
            ready = find_condition(p, "Ready")
            since = parse_time(ready.last_transition_time) if ready is not None else None
            if since is not None:
                waits.append(max(0.05, since + min_ready - now))
    return min(waits) if waits else None


class ReplicaSetReconciler:
    def __init__(self, client: Client, replicasets: Informer, pods: Informer,
                 recorder: EventRecorder, clock: Callable[[], float],
                 pod_delete_grace: int | None = None, budget: PodBudget | None = None,
                 kind: str = "ReplicaSet"):
        self.client = client
        self.kind = kind
        self.budget = budget
        self.replicasets = replicasets
        self.pods = pods
        self.recorder = recorder
        self.clock = clock
        self.expectations = Expectations()
        self.pod_delete_grace = pod_delete_grace

    def owned_pods(self, rs: Obj) -> list[Obj]:
        uid = rs["metadata"]["uid"]
        return [p for p in self.pods.by_index("owner", uid) if is_controlled_by(p, uid)]

    def adopt(self, rs: Obj) -> bool:
        """Take over orphan pods the selector matches (as upstream); True if any."""
        orphans = adoptable(rs, self.pods.by_index("orphans", rs["metadata"]["namespace"]))
        for pod in orphans:
            with contextlib.suppress(NotFound, Conflict):
                self.client.update(with_controller(pod, rs))
        return bool(orphans)

    def reconcile(self, key: str) -> Result:
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.forget(key)
            if self.budget is not None:
                self.budget.forget(f"{self.kind} {key}")
            return Result()
        pods = self.owned_pods(rs)
        if not self.expectations.satisfied(key, self.pods.get):
            return Result(requeue_after=1.0)
        if not is_terminating(rs):
            if self.adopt(rs):
                return Result()  # the cache will show them as ours
            plan = plan_pods(int((rs.get("spec") or {}).get("replicas", 1)), pods)
            self._delete(key, rs, plan.delete)
            create = plan.create
            retry: float | None = None
            if create and self.budget is not None:
                grant = self.budget.take(f"{self.kind} {key}", create)
                if grant.why is not None:
                    self.recorder.warning(rs, "FailedCreate", grant.why)
                create, retry = grant.count, grant.retry_after
            if create:
                self._create(key, rs, create)
            if create or plan.delete or retry is not None:
                return Result(requeue_after=retry)  # the cache shows the change: we run again
        now = self.clock()
        self._write_status(rs, compute_status(rs, pods, now))
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        return Result(requeue_after=next_available_in(pods, min_ready, now))

    def _create(self, key: str, rs: Obj, count: int) -> None:
        template = (rs.get("spec") or {}).get("template") or {}
        if not selects(label_selector_of(rs), template):
            self.recorder.warning(rs, "FailedCreate",
                                  "the selector does not match the template's labels")
            return
        name = rs["metadata"]["name"]
        batch = 1
        while count > 0:
            n = min(batch, count, BATCH_MAX)
            pods = [pod_from_template(rs, template, f"{name}-{random_suffix()}")
                    for _ in range(n)]
            for p in pods:
                p["metadata"]["generateName"] = f"{name}-"
            keys = [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods]
            self.expectations.expect_creations(key, keys)
            try:
                self.client.transaction([CreateOp(p) for p in pods])
            except APIError as e:
                self.expectations.forget(key)
                self.recorder.warning(rs, "FailedCreate", f"Error creating: {e.message}")
                raise
            for p in pods:
                self.recorder.normal(rs, "SuccessfulCreate",
                                     f"Created pod: {p['metadata']['name']}")
            count -= n
            batch *= 2

    def _delete(self, key: str, rs: Obj, pods: list[Obj]) -> None:
        if not pods:
            return
        self.expectations.expect_deletions(
            key, [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods])
        for p in pods:
            meta = p["metadata"]
            try:
                self.client.delete("v1", "Pod", meta["namespace"], meta["name"],
                                   uid=meta["uid"],
                                   grace_period_seconds=self.pod_delete_grace)
            except NotFound:
                continue
            self.recorder.normal(rs, "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    def _write_status(self, rs: Obj, status: Obj) -> None:
        if status == (rs.get("status") or {}):
            return
        self.client.update_status({**rs, "status": status})


def controller(manager: Manager, *, pod_delete_grace: int | None = None,
               budget: PodBudget | None = None, kind: str = "ReplicaSet") -> Controller:
    """The ReplicaSet controller on ``manager``'s shared informers; ``budget`` bounds the
    pods it creates (budget.py). ``kind="ReplicationController"``: the same for those."""
    api_version = "v1" if kind == "ReplicationController" else "apps/v1"
    name = "replication-controller" if kind == "ReplicationController" \
        else "replicaset-controller"
    rs_inf = manager.informer(api_version, kind)
    pod_inf = manager.informer("v1", "Pod")
    pod_inf.add_index("owner", index_by_owner_uid)
    pod_inf.add_index("orphans", index_orphans)
    rec = ReplicaSetReconciler(manager.client, rs_inf, pod_inf, manager.recorder(name),
                               manager.clock, pod_delete_grace, budget, kind)
    ctl = Controller(name, rec, rs_inf)
    ctl.watches(pod_inf, owner_mapper(kind))

    def orphan_to_replicasets(pod: Obj) -> list[str]:
        if index_orphans(pod) == [] or is_terminating(pod):
            return []
        ns = pod["metadata"].get("namespace")
        return [key_of(rs) for rs in rs_inf.list(ns) if adoptable(rs, [pod])]

    ctl.watches(pod_inf, orphan_to_replicasets)
    return ctl
