"""StatefulSet controller: pods ``NAME-0`` .. ``NAME-(N-1)`` with stable names and storage.

- Each pod has ``spec.hostname`` = its name, ``spec.subdomain`` = ``spec.serviceName`` and
  the labels ``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
  ``controller-revision-hash`` (the update revision ``<sts>-<template hash>``).
- ``volumeClaimTemplates`` make one PersistentVolumeClaim per pod and template,
  ``<template>-<sts>-<ordinal>``, created before the pod and **not owned by it**, so a
  replacement pod of the same ordinal mounts the same claim.
- ``persistentVolumeClaimRetentionPolicy`` (upstream's, through ownerReferences and the
  garbage collector): ``whenDeleted: Delete`` creates the claims owned by the StatefulSet, so
  they go with it; ``whenScaled: Delete`` makes the claims of an ordinal removed by a scale
  down owned by its pod (instead of the StatefulSet) just before the pod is deleted, so
  they go with it. ``Retain`` (the
  default for both): the claims outlive both. A policy set later applies to the claims
  created and the pods removed from then on.
- ``OrderedReady`` (default): one step per pass — the lowest missing ordinal is created only
  when every lower one is Running and Ready; surplus pods are removed highest ordinal first,
  one at a time, only while the others are healthy; a finished pod (Failed/Succeeded) is
  deleted and recreated under the same name. ``Parallel``: every missing pod at once.
- ``RollingUpdate``: pods not at the update revision are replaced from the highest ordinal
  down to ``partition``, one at a time, each after the rest are Running and Ready.
  ``OnDelete``: only pods deleted by someone else are recreated at the new revision.
- Each revision is kept as a ControllerRevision named like it (history.py), so
  ``kubectl rollout history|undo sts/X`` work; ``status.currentRevision`` is the revision of
  the pods before a rolling update, ``updateRevision`` the template's.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from gitkube.agents.controllers.budget import PodBudget
from gitkube.agents.controllers.common import is_controlled_by, owner_ref, template_hash
from gitkube.agents.controllers.history import HistoryWriter
from gitkube.agents.events import EventRecorder
from gitkube.agents.manager import (
    Controller,
    Informer,
    Manager,
    Result,
    index_by_owner_uid,
    owner_mapper,
)
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, NotFound
from gitkube.model.pods import is_pod_available, is_pod_ready, is_terminating, pod_phase
from gitkube.model.views import ObjectView

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.statefulset")
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(sts_name: str, pod: Obj) -> int | None:
    name = str(pod["metadata"]["name"])
    prefix = f"{sts_name}-"
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


def update_revision(sts: Obj) -> str:
    template = (sts.get("spec") or {}).get("template") or {}
    return f"{sts['metadata']['name']}-{template_hash(template, drop_label=REVISION_LABEL)}"


def _revision_of(pod: Obj) -> str | None:
    return ObjectView(pod).metadata.labels.get(REVISION_LABEL)


def claim_name(template_name: str, sts_name: str, ordinal: int) -> str:
    return f"{template_name}-{sts_name}-{ordinal}"


def healthy(pod: Obj) -> bool:
    return pod_phase(pod) == "Running" and is_pod_ready(pod) and not is_terminating(pod)


@dataclass(frozen=True)
class Step:
    """One action: create the pod of ``ordinal``, delete ``pod``, or wait."""

    action: Literal["create", "delete", "wait", "none"]
    ordinal: int = -1
    pod: Obj | None = None


def plan_steps(sts: Obj, pods: dict[int, Obj], revision: str) -> list[Step]:
    """Pure: what to do next (OrderedReady: at most one step; Parallel: many)."""
    spec = sts.get("spec") or {}
    replicas = int(spec.get("replicas", 1) or 0)
    parallel = spec.get("podManagementPolicy") == "Parallel"
    steps: list[Step] = []
    for i in range(replicas):
        step = _replica_step(i, pods.get(i))
        if step is None:
            continue
        steps.append(step)
        if not parallel:
            return steps
    condemned = sorted((i for i in pods if i >= replicas), reverse=True)
    for i in condemned:
        pod = pods[i]
        steps.append(Step("wait", i) if is_terminating(pod) else Step("delete", i, pod))
        if not parallel:
            return steps
    if steps:
        return steps
    return _update_step(spec, pods, revision, replicas)


def _replica_step(ordinal: int, pod: Obj | None) -> Step | None:
    """What the pod of a wanted ``ordinal`` needs; None when it is healthy."""
    if pod is None:
        return Step("create", ordinal)
    if is_terminating(pod):
        return Step("wait", ordinal)
    if pod_phase(pod) in ("Failed", "Succeeded"):
        return Step("delete", ordinal, pod)
    if not healthy(pod):
        return Step("wait", ordinal)
    return None


def _update_step(spec: Obj, pods: dict[int, Obj], revision: str, replicas: int) -> list[Step]:
    """A rolling update's next step: delete the highest outdated pod at or above the
    partition (nothing under OnDelete)."""
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return []
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    for i in range(replicas - 1, partition - 1, -1):
        pod = pods.get(i)
        if pod is not None and _revision_of(pod) != revision:
            return [Step("delete", i, pod)]
    return []


def stateful_pod(sts: Obj, ordinal: int, revision: str) -> Obj:
    spec = sts.get("spec") or {}
    name = f"{sts['metadata']['name']}-{ordinal}"
    template = copy.deepcopy(spec.get("template") or {})
    tmeta = template.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), POD_NAME_LABEL: name,
              POD_INDEX_LABEL: str(ordinal), REVISION_LABEL: revision}
    meta: Obj = {"name": name, "namespace": sts["metadata"]["namespace"], "labels": labels,
                 "ownerReferences": [owner_ref(sts)]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    pod_spec = template.get("spec") or {}
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    volumes = [v for v in pod_spec.get("volumes") or []]
    for claim in spec.get("volumeClaimTemplates") or []:
        cname = (claim.get("metadata") or {}).get("name")
        volumes = [v for v in volumes if v.get("name") != cname]
        volumes.append({"name": cname, "persistentVolumeClaim": {
            "claimName": claim_name(str(cname), sts["metadata"]["name"], ordinal)}})
    if volumes:
        pod_spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


def retention(sts: Obj, when: str) -> str:
    """``Retain`` or ``Delete`` for ``whenDeleted``/``whenScaled``."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return str(policy.get(when) or "Retain")


def claims_for(sts: Obj, ordinal: int) -> list[Obj]:
    spec = sts.get("spec") or {}
    labels = dict((spec.get("selector") or {}).get("matchLabels") or {})
    out = []
    for claim in spec.get("volumeClaimTemplates") or []:
        cmeta = claim.get("metadata") or {}
        meta: Obj = {"name": claim_name(cmeta["name"], sts["metadata"]["name"], ordinal),
                     "namespace": sts["metadata"]["namespace"],
                     "labels": {**(cmeta.get("labels") or {}), **labels}}
        if retention(sts, "whenDeleted") == "Delete":  # goes with the StatefulSet
            meta["ownerReferences"] = [owner_ref(sts, controller=False)]
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                    "spec": copy.deepcopy(claim.get("spec") or {})})
    return out


def compute_status(sts: Obj, pods: dict[int, Obj], revision: str, now: float) -> Obj:
    spec = sts.get("spec") or {}
    replicas = int(spec.get("replicas", 1) or 0)
    min_ready = int(spec.get("minReadySeconds") or 0)
    live = [p for p in pods.values() if not is_terminating(p)]
    old = sts.get("status") or {}
    updated = sum(1 for p in live if _revision_of(p) == revision)
    current_revision = old.get("currentRevision") or revision
    if updated == replicas == len(live):
        current_revision = revision
    current = sum(1 for p in live if _revision_of(p) == current_revision)
    return {
        "observedGeneration": sts["metadata"].get("generation"),
        "replicas": len(live),
        "readyReplicas": sum(1 for p in live if is_pod_ready(p)),
        "availableReplicas": sum(1 for p in live if is_pod_available(p, min_ready, now)),
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": revision,
        "collisionCount": int(old.get("collisionCount") or 0),
    }


class StatefulSetReconciler:
    def __init__(self, client: Client, statefulsets: Informer, pods: Informer,
                 recorder: EventRecorder, clock: Callable[[], float],
                 budget: PodBudget | None = None, revisions: Informer | None = None):
        self.client = client
        self.budget = budget
        self.revisions = revisions
        self.history = HistoryWriter(client)
        self.statefulsets = statefulsets
        self.pods = pods
        self.recorder = recorder
        self.clock = clock

    def reconcile(self, key: str) -> Result:
        sts = self.statefulsets.get(key)
        if sts is None:
            return Result()
        uid = sts["metadata"]["uid"]
        name = sts["metadata"]["name"]
        pods: dict[int, Obj] = {}
        for p in self.pods.by_index("owner", uid):
            i = ordinal_of(name, p)
            if i is not None and is_controlled_by(p, uid):
                pods[i] = p
        revision = update_revision(sts)
        if not is_terminating(sts):
            self._sync_history(sts, pods, revision)
            steps = [s for s in plan_steps(sts, pods, revision) if s.action in
                     ("create", "delete")]
            creates = sum(1 for s in steps if s.action == "create")
            if creates and self.budget is not None:
                grant = self.budget.take(f"StatefulSet {key}", creates)
                if grant.why is not None:
                    self.recorder.warning(sts, "FailedCreate", grant.why)
                    allowed = iter(range(grant.count))
                    steps = [s for s in steps
                             if s.action == "delete" or next(allowed, None) is not None]
                    for step in steps:
                        self._do(sts, step, revision)
                    return Result(requeue_after=grant.retry_after)
            for step in steps:
                self._do(sts, step, revision)
            if steps:
                return Result()
        status = compute_status(sts, pods, revision, self.clock())
        if status != {k: v for k, v in (sts.get("status") or {}).items() if k in status}:
            self.client.update_status({**sts, "status": {**(sts.get("status") or {}),
                                                         **status}})
        return Result()

    def _sync_history(self, sts: Obj, pods: dict[int, Obj], revision: str) -> None:
        if self.revisions is None:
            return
        uid = sts["metadata"]["uid"]
        owned = [r for r in self.revisions.by_index("owner", uid) if is_controlled_by(r, uid)]
        keep = {str((sts.get("status") or {}).get("currentRevision") or ""),
                *(str(_revision_of(p)) for p in pods.values())}
        self.history.sync(sts, owned, revision, revision.rpartition("-")[2], keep)

    def _do(self, sts: Obj, step: Step, revision: str) -> None:
        ns = sts["metadata"]["namespace"]
        if step.action == "delete":
            assert step.pod is not None
            replicas = int((sts.get("spec") or {}).get("replicas", 1))
            if step.ordinal >= replicas and retention(sts, "whenScaled") == "Delete":
                self._condemn_claims(sts, step.pod, step.ordinal)
            with contextlib.suppress(NotFound):
                self.client.delete("v1", "Pod", ns, step.pod["metadata"]["name"],
                                   uid=step.pod["metadata"]["uid"])
                self.recorder.normal(sts, "SuccessfulDelete",
                                     f"delete Pod {step.pod['metadata']['name']} in "
                                     f"StatefulSet {sts['metadata']['name']} successful")
            return
        for claim in claims_for(sts, step.ordinal):
            try:
                self.client.create(claim)
                self.recorder.normal(sts, "SuccessfulCreate",
                                     f"create Claim {claim['metadata']['name']} Pod "
                                     f"{sts['metadata']['name']}-{step.ordinal} in "
                                     f"StatefulSet {sts['metadata']['name']} success")
            except AlreadyExists:
                pass  # the claim outlives pods: reuse it
        pod = stateful_pod(sts, step.ordinal, revision)
        try:
            self.client.create(pod)
        except AlreadyExists:
            return  # the cache had not shown it yet
        self.recorder.normal(sts, "SuccessfulCreate",
                             f"create Pod {pod['metadata']['name']} in StatefulSet "
                             f"{sts['metadata']['name']} successful")


    def _condemn_claims(self, sts: Obj, pod: Obj, ordinal: int) -> None:
        """Scaled away with ``whenScaled: Delete``: the ordinal's claims become the pod's
        dependents (the garbage collector deletes them once the pod is gone)."""
        ns = sts["metadata"]["namespace"]
        ref = owner_ref(pod, controller=False)
        for claim in claims_for(sts, ordinal):
            name = claim["metadata"]["name"]
            with contextlib.suppress(NotFound):
                live = copy.deepcopy(self.client.get("v1", "PersistentVolumeClaim", ns, name))
                # the pod's alone, as upstream: a reference to the live StatefulSet would
                # keep the claim (a dependent goes once all its owners are gone)
                refs = [r for r in live["metadata"].get("ownerReferences") or []
                        if r.get("uid") not in (ref["uid"], sts["metadata"]["uid"])]
                if live["metadata"].get("ownerReferences") == [*refs, ref]:
                    continue
                live["metadata"]["ownerReferences"] = [*refs, ref]
                self.client.update(live)


def controller(manager: Manager, *, budget: PodBudget | None = None) -> Controller:
    """The StatefulSet controller on ``manager``'s shared informers."""
    stss = manager.informer("apps/v1", "StatefulSet")
    pods = manager.informer("v1", "Pod")
    pods.add_index("owner", index_by_owner_uid)
    revisions = manager.informer("apps/v1", "ControllerRevision")
    revisions.add_index("owner", index_by_owner_uid)
    rec = StatefulSetReconciler(manager.client, stss, pods,
                                manager.recorder("statefulset-controller"), manager.clock,
                                budget, revisions)
    ctl = Controller("statefulset-controller", rec, stss)
    ctl.watches(pods, owner_mapper("StatefulSet"))
    ctl.watches(revisions, owner_mapper("StatefulSet"))
    return ctl
