"""DaemonSet controller: one pod on every eligible node.

A node is eligible when the pod template's ``nodeSelector`` and required node affinity
select it and every NoSchedule/NoExecute taint on it is tolerated, by the same rules the
scheduler applies (gitkube/model/scheduling.py: an empty node selector term selects no node).
Node Ready is not required: a DaemonSet pod may be what makes the node ready, as upstream.
DaemonSet pods get
upstream's automatic tolerations (not-ready and unreachable NoExecute; disk/memory/pid
pressure and unschedulable NoSchedule), so node lifecycle taints never evict them.

Placement: **gitkube pins a DaemonSet pod with ``spec.nodeName``** (upstream sets a required
node affinity on ``metadata.name`` and lets the scheduler bind it; pinning directly is
simpler, skips the scheduler, and gives the same result for the filters gitkube knows).

A new node gets its pod; a removed node's pod goes; a pod on a node that stops being
eligible goes only if a NoExecute taint or the selector says so (an untolerated NoSchedule
taint keeps an existing pod, as upstream). Finished pods are replaced. A changed template
rolls out node by node within ``rollingUpdate.maxUnavailable`` (pods carry the label
``controller-revision-hash``); ``OnDelete`` replaces a pod only when it is deleted.
Each revision is kept as a ControllerRevision ``<daemonset>-<hash>`` (history.py), so
``kubectl rollout history|undo ds/X`` work.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gitkube.agents.controllers.budget import PodBudget
from gitkube.agents.controllers.common import (
    Expectations,
    is_controlled_by,
    pod_from_template,
    random_suffix,
    scaled_value,
    template_hash,
)
from gitkube.agents.controllers.history import HistoryWriter
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
from gitkube.api.client import Client
from gitkube.errors import NotFound
from gitkube.model.pods import (
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    pod_phase,
)
from gitkube.model.scheduling import (
    Toleration,
    node_matches,
    taints_of,
    untolerated_taints,
)
from gitkube.model.views import ObjectView, Pod

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.daemonset")
REVISION_LABEL = "controller-revision-hash"

AUTO_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
     "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)


def daemon_tolerations(template_spec: Obj) -> list[Obj]:
    tols = [t for t in template_spec.get("tolerations") or [] if isinstance(t, dict)]
    for auto in AUTO_TOLERATIONS:
        if not any(t.get("key") == auto["key"] and t.get("effect") == auto["effect"]
                   for t in tols):
            tols.append(dict(auto))
    return tols


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should a new pod be placed on ``node``, may an existing pod stay there): the
    scheduler's rules for node affinity and taints (gitkube/model/scheduling.py)."""
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    if not node_matches(spec, node):
        return False, False
    tols = [Toleration.of(t) for t in daemon_tolerations(spec)]
    taints = taints_of(node)
    if untolerated_taints(tols, taints, ("NoExecute",)):
        return False, False
    return not untolerated_taints(tols, taints, ("NoSchedule",)), True


def _revision_of(pod: Obj) -> str | None:
    return ObjectView(pod).metadata.labels.get(REVISION_LABEL)


@dataclass
class DaemonPlan:
    create_on: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def plan_daemon(ds: Obj, nodes: list[Obj], pods: list[Obj], revision: str,
                now: float) -> DaemonPlan:
    """Pure: which nodes get a pod and which pods go (see the module docstring)."""
    plan = DaemonPlan()
    by_node = _pods_by_node(pods)
    names = {n["metadata"]["name"] for n in nodes}
    for node_name, node_pods in by_node.items():
        if node_name not in names:
            plan.delete += node_pods  # the node is gone
    spec = ds.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    strategy = spec.get("updateStrategy") or {}
    outdated: list[Obj] = []
    unavailable = 0
    desired = 0
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        run, stay = should_run(ds, node)
        desired += 1 if run else 0
        here = by_node.get(name, [])
        finished = [p for p in here if pod_phase(p) in ("Failed", "Succeeded")]
        plan.delete += finished
        active = sorted([p for p in here if is_pod_active(p)],
                        key=lambda p: str(p["metadata"].get("creationTimestamp")))
        if not stay:
            plan.delete += active
            continue
        if not active:
            if run:
                plan.create_on.append(name)
                unavailable += 1
            continue
        plan.delete += active[1:]
        pod = active[0]
        if not is_pod_available(pod, min_ready, now):
            unavailable += 1
        if _revision_of(pod) != revision:
            outdated.append(pod)
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and outdated:
        plan.delete += _rolled(outdated, strategy, desired, unavailable, min_ready, now)
    return plan


def _pods_by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    """The pods not being deleted, by the node they are bound to."""
    by_node: dict[str, list[Obj]] = {}
    for p in pods:
        if not is_terminating(p):
            by_node.setdefault(Pod(p).spec.node_name, []).append(p)
    return by_node


def _rolled(outdated: list[Obj], strategy: Obj, desired: int, unavailable: int,
            min_ready: int, now: float) -> list[Obj]:
    """The outdated pods a rolling update replaces now: every unavailable one, and
    available ones while no more than ``maxUnavailable`` of the ``desired`` pods would be
    unavailable (``unavailable`` of them are already)."""
    rolling = strategy.get("rollingUpdate") or {}
    budget = max(1, scaled_value(rolling.get("maxUnavailable", 1), desired,
                                 round_up=True)) - unavailable
    # not-ready outdated pods first: replacing them costs no availability
    deleted: list[Obj] = []
    for pod in sorted(outdated, key=lambda p: is_pod_ready(p)):
        if is_pod_available(pod, min_ready, now):
            if budget <= 0:
                break
            budget -= 1
        deleted.append(pod)
    return deleted


def compute_status(ds: Obj, nodes: list[Obj], pods: list[Obj], revision: str,
                   now: float) -> Obj:
    spec = ds.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    node_by_name = {n["metadata"]["name"]: n for n in nodes}
    desired = scheduled = misscheduled = ready = available = updated = 0
    on_node: dict[str, Obj] = {}
    for p in pods:
        if is_pod_active(p):
            on_node.setdefault(Pod(p).spec.node_name, p)
    for name, node in node_by_name.items():
        run, _ = should_run(ds, node)
        pod = on_node.get(name)
        if run:
            desired += 1
        if pod is None:
            continue
        if run:
            scheduled += 1
            ready += 1 if is_pod_ready(pod) else 0
            available += 1 if is_pod_available(pod, min_ready, now) else 0
            updated += 1 if _revision_of(pod) == revision else 0
        else:
            misscheduled += 1
    return {
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "numberAvailable": available,
        "numberUnavailable": max(0, desired - available),
        "updatedNumberScheduled": updated,
        "observedGeneration": ObjectView(ds).metadata.generation,
    }


def daemon_pod(ds: Obj, node_name: str, revision: str) -> Obj:
    template = (ds.get("spec") or {}).get("template") or {}
    pod = pod_from_template(ds, template, f"{ds['metadata']['name']}-{random_suffix()}",
                            extra_labels={REVISION_LABEL: revision})
    pod["metadata"]["generateName"] = f"{ds['metadata']['name']}-"
    pod["spec"]["nodeName"] = node_name
    pod["spec"]["tolerations"] = daemon_tolerations(copy.deepcopy(pod["spec"]))
    return pod


class DaemonSetReconciler:
    def __init__(self, client: Client, daemonsets: Informer, pods: Informer, nodes: Informer,
                 recorder: EventRecorder, clock: Callable[[], float],
                 budget: PodBudget | None = None, revisions: Informer | None = None):
        self.client = client
        self.budget = budget
        self.revisions = revisions
        self.history = HistoryWriter(client)
        self.daemonsets = daemonsets
        self.pods = pods
        self.nodes = nodes
        self.recorder = recorder
        self.clock = clock
        self.expectations = Expectations()

    def reconcile(self, key: str) -> Result:
        ds = self.daemonsets.get(key)
        if ds is None:
            self.expectations.forget(key)
            return Result()
        uid = ds["metadata"]["uid"]
        pods = [p for p in self.pods.by_index("owner", uid) if is_controlled_by(p, uid)]
        nodes = self.nodes.list()
        revision = template_hash((ds.get("spec") or {}).get("template") or {},
                                 drop_label=REVISION_LABEL)
        now = self.clock()
        if not is_terminating(ds) and self.revisions is not None:
            owned = [r for r in self.revisions.by_index("owner", uid)
                     if is_controlled_by(r, uid)]
            name = ds["metadata"]["name"]
            keep = {f"{name}-{(p['metadata'].get('labels') or {}).get(REVISION_LABEL)}"
                    for p in pods}
            self.history.sync(ds, owned, f"{name}-{revision}", revision, keep)
        if not is_terminating(ds) and self.expectations.satisfied(key, self.pods.get):
            plan = plan_daemon(ds, nodes, pods, revision, now)
            retry: float | None = None
            if plan.create_on and self.budget is not None:
                grant = self.budget.take(f"DaemonSet {key}", len(plan.create_on))
                if grant.why is not None:
                    self.recorder.warning(ds, "FailedCreate", grant.why)
                    plan = replace(plan, create_on=plan.create_on[:grant.count])
                    retry = grant.retry_after
            if plan.create_on or plan.delete or retry is not None:
                self._apply(key, ds, plan, revision)
                return Result(requeue_after=retry)
        status = compute_status(ds, nodes, pods, revision, now)
        if status != {k: v for k, v in (ds.get("status") or {}).items() if k in status}:
            self.client.update_status({**ds, "status": {**(ds.get("status") or {}),
                                                        **status}})
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and status["numberAvailable"] < status["numberReady"]:
            return Result(requeue_after=1.0)
        return Result()

    def _apply(self, key: str, ds: Obj, plan: DaemonPlan, revision: str) -> None:
        ns = ds["metadata"]["namespace"]
        if plan.delete:
            self.expectations.expect_deletions(
                key, [f"{ns}/{p['metadata']['name']}" for p in plan.delete])
        for pod in plan.delete:
            try:
                self.client.delete("v1", "Pod", ns, pod["metadata"]["name"],
                                   uid=pod["metadata"]["uid"])
            except NotFound:
                continue
            self.recorder.normal(ds, "SuccessfulDelete",
                                 f"Deleted pod: {pod['metadata']['name']}")
        for node_name in plan.create_on:
            pod = daemon_pod(ds, node_name, revision)
            self.expectations.expect_creations(key, [f"{ns}/{pod['metadata']['name']}"])
            try:
                self.client.create(pod)
            except Exception as e:
                self.expectations.forget(key)
                self.recorder.warning(ds, "FailedCreate", f"Error creating: {e}")
                raise
            self.recorder.normal(ds, "SuccessfulCreate",
                                 f"Created pod: {pod['metadata']['name']}")


def controller(manager: Manager, *, budget: PodBudget | None = None) -> Controller:
    """The DaemonSet controller on ``manager``'s shared informers."""
    dss = manager.informer("apps/v1", "DaemonSet")
    pods = manager.informer("v1", "Pod")
    nodes = manager.informer("v1", "Node")
    pods.add_index("owner", index_by_owner_uid)
    revisions = manager.informer("apps/v1", "ControllerRevision")
    revisions.add_index("owner", index_by_owner_uid)
    rec = DaemonSetReconciler(manager.client, dss, pods, nodes,
                              manager.recorder("daemonset-controller"), manager.clock,
                              budget, revisions)
    ctl = Controller("daemonset-controller", rec, dss)
    ctl.watches(pods, owner_mapper("DaemonSet"))
    ctl.watches(revisions, owner_mapper("DaemonSet"))
    ctl.watches(nodes, lambda _node: [key_of(d) for d in dss.list()])
    return ctl
