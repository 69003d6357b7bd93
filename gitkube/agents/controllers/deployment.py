"""Deployment controller: Deployment -> ReplicaSets (one per pod template) -> pods.

Like upstream's (pkg/controller/deployment):

- The ReplicaSet for the current template is ``<deployment>-<pod-template-hash>``: the
  hash (fnv-32a of the template, SafeEncodeString'd, plus ``status.collisionCount``) is the
  label ``pod-template-hash`` on the ReplicaSet, its selector and its pod template. It has a
  controller ownerReference with the Deployment's uid and the annotation
  ``deployment.kubernetes.io/revision`` (max revision of the others + 1; a ReplicaSet whose
  template comes back, as after ``rollout undo``, gets a new revision). The "new" ReplicaSet
  is the one whose template equals the Deployment's, ignoring the hash label. ReplicaSets
  the selector matches that have no controller (left by an orphaning delete) are adopted.
- **RollingUpdate**: maxSurge rounds up, maxUnavailable rounds down (both 0 -> 1
  unavailable). The new ReplicaSet grows while the sum of every ReplicaSet's replicas stays
  <= replicas + maxSurge; old ReplicaSets shrink — unhealthy pods first — while the
  available pods stay >= replicas - maxUnavailable. Counts come from the ReplicaSets' spec
  and status, exactly the quantities upstream uses.
- **Recreate**: old ReplicaSets go to 0; the new one is scaled up once no old pod is active.
- ``revisionHistoryLimit``: the oldest empty old ReplicaSets beyond it are deleted.
- ``spec.paused``: no new ReplicaSet is made for a changed template and no rollout step is
  taken; only the replica count follows ``spec.replicas``: the newest active ReplicaSet takes
  new replicas, the oldest give theirs up first (upstream spreads both proportionally).
  Progressing is Unknown/DeploymentPaused, and the progress deadline does not run. When
  resumed, Progressing becomes True/DeploymentResumed and the rollout goes on.
- Status: replicas, updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas,
  observedGeneration, collisionCount, and conditions Available (MinimumReplicasAvailable /
  MinimumReplicasUnavailable) and Progressing (NewReplicaSetCreated, ReplicaSetUpdated,
  NewReplicaSetAvailable, ProgressDeadlineExceeded after ``progressDeadlineSeconds`` without
  progress) — what ``kubectl rollout status`` reads.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitkube.agents.controllers.common import (
    adoptable,
    index_orphans,
    is_controlled_by,
    owner_ref,
    scaled_value,
    semantic_template,
    template_hash,
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
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, Conflict, NotFound
from gitkube.model.conditions import find_condition, set_condition
from gitkube.model.pods import is_pod_active, is_terminating
from gitkube.model.rollout import DEADLINE_EXCEEDED, deployment_complete
from gitkube.model.times import parse_time, rfc3339

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.deployment")

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"


# --- pure decisions ------------------------------------------------------------------------


def replicas_of(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1) or 0)


def revision_of(rs: Obj) -> int:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except (TypeError, ValueError):
        return 0


def template_without_hash(template: Obj) -> Obj:
    return semantic_template(template, HASH_LABEL)


def find_new_rs(deploy: Obj, rss: list[Obj]) -> Obj | None:
    """The ReplicaSet whose template equals the Deployment's (hash label ignored, empty
    fields the same as absent ones, as upstream's EqualIgnoreHash); the oldest if several
    do (upstream's tie-break)."""
    want = template_without_hash((deploy.get("spec") or {}).get("template") or {})
    same = [rs for rs in rss
            if template_without_hash((rs.get("spec") or {}).get("template") or {}) == want]
    same.sort(key=lambda rs: (str(rs["metadata"].get("creationTimestamp")),
                              rs["metadata"]["name"]))
    return same[0] if same else None


def surge_and_unavailable(deploy: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers: surge rounded up, unavailable down; if both
    are 0, one pod may be unavailable (upstream's ResolveFenceposts). Recreate: (0, 0)."""
    spec = deploy.get("spec") or {}
    replicas = replicas_of(deploy)
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def spec_total(rss: list[Obj]) -> int:
    return sum(replicas_of(rs) for rs in rss)


def status_sum(rss: list[Obj], field: str) -> int:
    return sum(int((rs.get("status") or {}).get(field) or 0) for rs in rss)


def new_rs_replicas(deploy: Obj, all_rss: list[Obj], new_rs: Obj | None) -> int:
    """How many replicas the new ReplicaSet may have now (upstream's NewRSNewReplicas)."""
    replicas = replicas_of(deploy)
    current = replicas_of(new_rs) if new_rs is not None else 0
    if current >= replicas:
        return replicas
    surge, _ = surge_and_unavailable(deploy)
    room = replicas + surge - spec_total(all_rss)
    if room <= 0:
        return current
    return current + min(room, replicas - current)


def old_rs_scale_down(deploy: Obj, old_rss: list[Obj], new_rs: Obj | None) -> dict[str, int]:
    """New replica counts for old ReplicaSets (by name): first remove unhealthy old pods,
    then scale down while availability stays >= replicas - maxUnavailable."""
    if spec_total(old_rss) == 0:
        return {}
    replicas = replicas_of(deploy)
    _, unavailable = surge_and_unavailable(deploy)
    min_available = replicas - unavailable
    all_rss = [*old_rss, *([new_rs] if new_rs is not None else [])]
    new_unavailable = 0
    if new_rs is not None:
        new_unavailable = replicas_of(new_rs) - int((new_rs.get("status") or {})
                                                    .get("availableReplicas") or 0)
    max_down = spec_total(all_rss) - min_available - new_unavailable
    if max_down <= 0:
        return {}
    by_age = sorted(old_rss, key=lambda rs: (revision_of(rs),
                                             str(rs["metadata"].get("creationTimestamp"))))
    target = {rs["metadata"]["name"]: replicas_of(rs) for rs in by_age}
    # 1. unhealthy pods of old ReplicaSets cost nothing in availability
    budget = max_down
    for rs in by_age:
        if budget <= 0:
            break
        name = rs["metadata"]["name"]
        unhealthy = target[name] - int((rs.get("status") or {}).get("availableReplicas") or 0)
        if unhealthy <= 0:
            continue
        cut = min(budget, unhealthy)
        target[name] -= cut
        budget -= cut
    cleaned = max_down - budget
    # 2. available pods, as long as enough stay available
    available = status_sum(all_rss, "availableReplicas")
    down = available - min_available
    if down > 0:
        down = min(down, max_down - cleaned)
        for rs in by_age:
            if down <= 0:
                break
            name = rs["metadata"]["name"]
            cut = min(target[name], down)
            target[name] -= cut
            down -= cut
    return {n: v for n, v in target.items()
            if v != replicas_of(next(r for r in by_age if r["metadata"]["name"] == n))}


_COUNTS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
           "unavailableReplicas")


def compute_status(deploy: Obj, all_rss: list[Obj], new_rs: Obj | None, now: float) -> Obj:
    """Pure: the Deployment's status and conditions from its ReplicaSets at ``now``."""
    old = deploy.get("status") or {}
    replicas = replicas_of(deploy)
    available = status_sum(all_rss, "availableReplicas")
    status: Obj = {
        "observedGeneration": deploy["metadata"].get("generation"),
        "replicas": status_sum(all_rss, "replicas"),
        "updatedReplicas": int((new_rs.get("status") or {}).get("replicas") or 0)
        if new_rs is not None else 0,
        "readyReplicas": status_sum(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, spec_total(all_rss) - available),
    }
    if old.get("collisionCount"):
        status["collisionCount"] = old["collisionCount"]
    stamp = rfc3339(now)
    conditions: list[Obj] = list(old.get("conditions") or [])
    _, unavailable = surge_and_unavailable(deploy)
    if available >= replicas - unavailable:
        conditions = set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                                   "Deployment has minimum availability.", stamp,
                                   update_time=True)
    else:
        conditions = set_condition(conditions, "Available", "False",
                                   "MinimumReplicasUnavailable",
                                   "Deployment does not have minimum availability.", stamp,
                                   update_time=True)
    if (deploy.get("spec") or {}).get("paused"):
        conditions = set_condition(conditions, "Progressing", "Unknown", "DeploymentPaused",
                                   "Deployment is paused", stamp, update_time=True)
    else:
        current = find_condition({"status": {"conditions": conditions}}, "Progressing")
        if current is not None and current.reason == "DeploymentPaused":
            conditions = set_condition(conditions, "Progressing", "True", "DeploymentResumed",
                                       "Deployment is resumed", stamp, update_time=True)
            old = {**old, "conditions": conditions}
        conditions = _progressing(deploy, old, status, conditions, new_rs, now)
    status["conditions"] = conditions
    return status


def _progressing(deploy: Obj, old: Obj, status: Obj, conditions: list[Obj],
                 new_rs: Obj | None, now: float) -> list[Obj]:
    stamp = rfc3339(now)
    name = new_rs["metadata"]["name"] if new_rs is not None else deploy["metadata"]["name"]
    current = find_condition({"status": {"conditions": conditions}}, "Progressing")
    if deployment_complete(deploy, status):
        return set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                             f'ReplicaSet "{name}" has successfully progressed.', stamp,
                             update_time=True)
    moved = any(old.get(k) != status.get(k) for k in _COUNTS) or \
        old.get("observedGeneration") != status.get("observedGeneration")
    if current is not None and current.reason == DEADLINE_EXCEEDED and not moved:
        return conditions
    deadline = (deploy.get("spec") or {}).get("progressDeadlineSeconds")
    if current is not None and not moved and deadline is not None and \
            current.reason != "NewReplicaSetAvailable":
        last = parse_time(current.last_update_time)
        if last is not None and last + int(deadline) < now:
            return set_condition(conditions, "Progressing", "False",
                                 DEADLINE_EXCEEDED,
                                 f'ReplicaSet "{name}" has timed out progressing.', stamp,
                                 update_time=True)
    if current is not None and not moved and current.is_true:
        return conditions
    out = set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                        f'ReplicaSet "{name}" is progressing.', stamp, update_time=True)
    for c in out:
        if c.get("type") == "Progressing":
            c["lastUpdateTime"] = stamp
    return out


def copied_annotations(deploy: Obj) -> dict[str, str]:
    """The Deployment's annotations a new ReplicaSet inherits (``kubernetes.io/change-cause``
    for ``rollout history``, say): not kubectl's last-applied, the deployment.kubernetes.io
    bookkeeping, nor gitkube's own (the ReplicaSet is not in git)."""
    out = {}
    for k, v in ((deploy.get("metadata") or {}).get("annotations") or {}).items():
        if k.startswith(("deployment.kubernetes.io/", "gitkube.io/")) or \
                k == "kubectl.kubernetes.io/last-applied-configuration":
            continue
        out[k] = v
    return out


def new_replicaset(deploy: Obj, pod_hash: str, revision: int, replicas: int) -> Obj:
    """The ReplicaSet object for the Deployment's current template."""
    spec = deploy.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
    surge, _ = surge_and_unavailable(deploy)
    rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deploy['metadata']['name']}-{pod_hash}",
            "namespace": deploy["metadata"]["namespace"],
            "labels": dict(tmeta["labels"]),
            "annotations": {**copied_annotations(deploy), REVISION: str(revision),
                            DESIRED_REPLICAS: str(replicas_of(deploy)),
                            MAX_REPLICAS: str(replicas_of(deploy) + surge)},
            "ownerReferences": [owner_ref(deploy)],
        },
        "spec": rs_spec,
    }


def history_to_delete(deploy: Obj, old_rss: list[Obj]) -> list[Obj]:
    """Old, empty ReplicaSets beyond ``revisionHistoryLimit``, oldest first."""
    limit = (deploy.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None:
        return []
    empty = [rs for rs in old_rss if replicas_of(rs) == 0 and
             int((rs.get("status") or {}).get("replicas") or 0) == 0 and not is_terminating(rs)]
    extra = len(empty) - int(limit)
    if extra <= 0:
        return []
    return sorted(empty, key=revision_of)[:extra]


# --- the reconciler ------------------------------------------------------------------------


@dataclass
class _State:
    deploy: Obj
    rss: list[Obj]
    new_rs: Obj | None
    old_rss: list[Obj]


def _recreates(deploy: Obj) -> bool:
    """Whether the Deployment's strategy is Recreate (else RollingUpdate)."""
    return ((deploy.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate"


class DeploymentReconciler:
    def __init__(self, client: Client, deployments: Informer, replicasets: Informer,
                 pods: Informer, recorder: EventRecorder, clock: Callable[[], float]):
        self.client = client
        self.deployments = deployments
        self.replicasets = replicasets
        self.pods = pods
        self.recorder = recorder
        self.clock = clock

    def _adopt(self, deploy: Obj) -> bool:
        """Take over orphan ReplicaSets the selector matches (after an orphaning delete and
        a re-apply, say), as upstream does. True if any."""
        orphans = adoptable(deploy, self.replicasets.by_index(
            "orphans", deploy["metadata"]["namespace"]))
        for rs in orphans:
            with contextlib.suppress(NotFound, Conflict):
                self.client.update(with_controller(rs, deploy))
        return bool(orphans)

    def _state(self, deploy: Obj) -> _State:
        uid = deploy["metadata"]["uid"]
        rss = [rs for rs in self.replicasets.by_index("owner", uid) if is_controlled_by(rs, uid)]
        new_rs = find_new_rs(deploy, rss)
        old = [rs for rs in rss if new_rs is None or rs["metadata"]["uid"] !=
               new_rs["metadata"]["uid"]]
        return _State(deploy, rss, new_rs, old)

    def reconcile(self, key: str) -> Result:
        cached = self.deployments.get(key)
        if cached is None or is_terminating(cached):
            return Result()
        deploy = copy.deepcopy(cached)  # steps below update its metadata and status
        if self._adopt(deploy):
            return Result()  # the cache will show them as ours
        st = self._state(deploy)
        if (deploy.get("spec") or {}).get("paused"):
            self._scale_paused(st)
            self._write_status(st)
            return Result()
        if st.new_rs is None:
            st.new_rs = self._create_new_rs(st, _recreates(deploy))
            if st.new_rs is None:
                return Result()
            st.rss.append(st.new_rs)
            changed = True
        else:
            changed = self._advance(st)
        status = self._write_status(st)
        if changed:
            return Result()
        deadline = (deploy.get("spec") or {}).get("progressDeadlineSeconds")
        if deadline is not None and not deployment_complete(deploy, status):
            return Result(requeue_after=min(float(deadline), 30.0))
        return Result()

    def _advance(self, st: _State) -> bool:
        """With the new ReplicaSet in place: make it the newest revision, else take one
        step of the rollout, else delete the history beyond the limit."""
        if self._bump_revision(st):
            return True
        if self._recreate(st) if _recreates(st.deploy) else self._rolling(st):
            return True
        for rs in history_to_delete(st.deploy, st.old_rss):
            self._delete_rs(rs)
        return False

    def _write_status(self, st: _State) -> Obj:
        """The Deployment's status now, written when it changed."""
        status = compute_status(st.deploy, st.rss, st.new_rs, self.clock())
        if status != (st.deploy.get("status") or {}):
            self.client.update_status({**st.deploy, "status": status})
        return status

    # steps: each returns True when it wrote something (then wait for the caches)

    def _create_new_rs(self, st: _State, recreate: bool) -> Obj | None:
        deploy = st.deploy
        collisions = int((deploy.get("status") or {}).get("collisionCount") or 0)
        pod_hash = template_hash((deploy.get("spec") or {}).get("template") or {}, collisions)
        revision = max((revision_of(rs) for rs in st.rss), default=0) + 1
        if recreate:
            replicas = 0 if spec_total(st.old_rss) or self._old_pods_active(st) \
                else replicas_of(deploy)
        else:
            replicas = new_rs_replicas(deploy, st.rss, None)
        rs = new_replicaset(deploy, pod_hash, revision, replicas)
        try:
            created = self.client.create(rs)
        except AlreadyExists:
            existing = self.client.get("apps/v1", "ReplicaSet", rs["metadata"]["namespace"],
                                       rs["metadata"]["name"])
            if is_controlled_by(existing, deploy["metadata"]["uid"]) and \
                    find_new_rs(deploy, [existing]) is not None:
                return None  # ours: the cache had not shown it yet
            status = {**(deploy.get("status") or {}), "collisionCount": collisions + 1}
            self.client.update_status({**deploy, "status": status})
            return None
        self.recorder.normal(deploy, "ScalingReplicaSet",
                             f"Scaled up replica set {rs['metadata']['name']} from 0 to "
                             f"{replicas}")
        stamp = rfc3339(self.clock())
        conditions = set_condition(list((deploy.get("status") or {}).get("conditions") or []),
                                   "Progressing", "True", "NewReplicaSetCreated",
                                   f'Created new replica set "{rs["metadata"]["name"]}"',
                                   stamp, update_time=True)
        deploy["status"] = {**(deploy.get("status") or {}), "conditions": conditions}
        self._annotate_revision(deploy, revision)
        return created

    def _annotate_revision(self, deploy: Obj, revision: int) -> None:
        annotations = deploy["metadata"].get("annotations") or {}
        if annotations.get(REVISION) == str(revision):
            return
        fresh = copy.deepcopy(self.client.get("apps/v1", "Deployment",
                                              deploy["metadata"]["namespace"],
                                              deploy["metadata"]["name"]))
        fresh["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        updated = self.client.update(fresh)
        deploy["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
        deploy["metadata"]["annotations"] = updated["metadata"].get("annotations")

    def _bump_revision(self, st: _State) -> bool:
        """A template that came back (rollout undo) makes its ReplicaSet the newest
        revision again."""
        assert st.new_rs is not None
        top = max((revision_of(rs) for rs in st.old_rss), default=0)
        mine = revision_of(st.new_rs)
        if mine > top and (st.deploy["metadata"].get("annotations") or {}).get(REVISION) \
                == str(mine):
            return False
        if mine <= top:
            rs = copy.deepcopy(st.new_rs)
            rs["metadata"].setdefault("annotations", {})[REVISION] = str(top + 1)
            self.client.update(rs)
            mine = top + 1
        self._annotate_revision(st.deploy, mine)
        return True

    def _rolling(self, st: _State) -> bool:
        assert st.new_rs is not None
        want = new_rs_replicas(st.deploy, st.rss, st.new_rs)
        if want != replicas_of(st.new_rs):
            return self._scale(st.deploy, st.new_rs, want)
        targets = old_rs_scale_down(st.deploy, st.old_rss, st.new_rs)
        wrote = False
        for rs in st.old_rss:
            name = rs["metadata"]["name"]
            if name in targets:
                wrote = self._scale(st.deploy, rs, targets[name]) or wrote
        return wrote

    def _scale_paused(self, st: _State) -> bool:
        """Paused: only the replica count follows the Deployment (upstream's ``sync``)."""
        if not st.rss:
            return False
        active = sorted((rs for rs in st.rss if replicas_of(rs) > 0), key=revision_of)
        want, total = replicas_of(st.deploy), sum(replicas_of(rs) for rs in active)
        if total == want:
            return False
        if total < want:  # the newest (active) ReplicaSet takes the new replicas
            newest = active[-1] if active else max(st.rss, key=revision_of)
            return self._scale(st.deploy, newest, replicas_of(newest) + want - total)
        wrote, excess = False, total - want
        for rs in active:  # fewer: the oldest ReplicaSets give theirs up first
            take = min(excess, replicas_of(rs))
            wrote = self._scale(st.deploy, rs, replicas_of(rs) - take) or wrote
            excess -= take
        return wrote

    def _old_pods_active(self, st: _State) -> bool:
        for rs in st.old_rss:
            uid = rs["metadata"]["uid"]
            if any(is_pod_active(p) or is_terminating(p)
                   for p in self.pods.by_index("owner", uid) if is_controlled_by(p, uid)):
                return True
        return False

    def _recreate(self, st: _State) -> bool:
        assert st.new_rs is not None
        wrote = False
        for rs in st.old_rss:
            if replicas_of(rs):
                wrote = self._scale(st.deploy, rs, 0) or wrote
        if wrote or self._old_pods_active(st) or status_sum(st.old_rss, "replicas"):
            return wrote
        want = replicas_of(st.deploy)
        if replicas_of(st.new_rs) != want:
            return self._scale(st.deploy, st.new_rs, want)
        return False

    def _scale(self, deploy: Obj, rs: Obj, replicas: int) -> bool:
        old = replicas_of(rs)
        if old == replicas:
            return False
        surge, _ = surge_and_unavailable(deploy)
        out = copy.deepcopy(rs)
        out["spec"]["replicas"] = replicas
        ann = out["metadata"].setdefault("annotations", {})
        ann[DESIRED_REPLICAS] = str(replicas_of(deploy))
        ann[MAX_REPLICAS] = str(replicas_of(deploy) + surge)
        self.client.update(out)  # resourceVersion precondition: a stale cache gets Conflict
        verb = "up" if replicas > old else "down"
        self.recorder.normal(deploy, "ScalingReplicaSet",
                             f"Scaled {verb} replica set {rs['metadata']['name']} from {old} "
                             f"to {replicas}")
        return True

    def _delete_rs(self, rs: Obj) -> None:
        with contextlib.suppress(NotFound):
            self.client.delete("apps/v1", "ReplicaSet", rs["metadata"]["namespace"],
                               rs["metadata"]["name"], uid=rs["metadata"]["uid"])


def controller(manager: Manager) -> Controller:
    """The Deployment controller on ``manager``'s shared informers."""
    deploys = manager.informer("apps/v1", "Deployment")
    rss = manager.informer("apps/v1", "ReplicaSet")
    pods = manager.informer("v1", "Pod")
    rss.add_index("owner", index_by_owner_uid)
    rss.add_index("orphans", index_orphans)
    pods.add_index("owner", index_by_owner_uid)
    rec = DeploymentReconciler(manager.client, deploys, rss, pods,
                               manager.recorder("deployment-controller"), manager.clock)
    ctl = Controller("deployment-controller", rec, deploys)
    ctl.watches(rss, owner_mapper("Deployment"))
    ctl.watches(rss, lambda rs: [key_of(d) for d in deploys.list(rs["metadata"].get("namespace"))
                                 if index_orphans(rs) and adoptable(d, [rs])])

    def pod_to_deployment(pod: Obj) -> list[str]:
        # only Recreate waits on pods: map a pod to its ReplicaSet's owner
        ref = next((r for r in (pod.get("metadata") or {}).get("ownerReferences") or []
                    if r.get("controller") and r.get("kind") == "ReplicaSet"), None)
        if ref is None:
            return []
        rs = rss.get_by(pod["metadata"].get("namespace"), ref["name"])
        if rs is None:
            return []
        return list(owner_mapper("Deployment")(rs))

    def pod_deleted(pod: Obj) -> None:
        for k in pod_to_deployment(pod):
            d = deploys.get(k)
            if d is not None and ((d.get("spec") or {}).get("strategy") or {}).get("type") \
                    == "Recreate":
                ctl.enqueue(key_of(d))

    pods.add_handler(on_delete=pod_deleted)
    return ctl
