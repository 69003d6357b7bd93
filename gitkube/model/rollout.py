"""When is a workload done? The one home of that rule for every caller.

- ``rollout_status(obj)``: kubectl's rollout status viewers
  (kubectl/pkg/polymorphichelpers/rollout_status.go) for Deployments, DaemonSets and
  StatefulSets: kubectl's message, whether the rollout is done, and kubectl's error (a
  Deployment past its progress deadline; a DaemonSet or StatefulSet whose strategy is not
  RollingUpdate). ``gitkube rollout status`` prints it.
- ``convergence(obj)``: whether ``apply --wait`` counts an object as converged. For the three
  kinds above it is ``rollout_status(obj).done``, so ``apply --wait`` and ``rollout status``
  never disagree; gitkube's own additions on top:

  =====================  ============================================================
  Deployment             paused and observed: converged (nothing moves until resumed);
                         Progressing=False/ProgressDeadlineExceeded: failed
  DaemonSet, StatefulSet OnDelete (no rollout status): observed and every pod ready
  ReplicaSet             readyReplicas and availableReplicas >= spec.replicas
  Job                    Complete=True; Failed=True is a failure; suspended and marked
                         Suspended=True: converged
  Pod                    Ready=True, or phase Succeeded; phase Failed is a failure
  Namespace              phase Active
  anything else          it exists
  =====================  ============================================================

- ``deployment_complete(deploy, status)``: the Deployment controller's own "complete" (upstream's
  DeploymentComplete), which sets Progressing=True/NewReplicaSetAvailable and stops the
  progress deadline. Stricter than rollout status: every count equals spec.replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.model.pods import is_pod_ready
from gitkube.model.views import ObjectView, Pod, number, text
from gitkube.model.workloads import DaemonSet, Deployment, Job, ReplicaSet, StatefulSet

ROLLOUT_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


@dataclass(frozen=True)
class RolloutStatus:
    """kubectl's answer: ``message`` (without kubectl's newline), ``done``, and ``error``
    ("" when none; kubectl then exits non-zero)."""

    message: str
    done: bool
    error: str = ""


def _observed(obj: ObjectView) -> bool:
    return obj.metadata.generation <= obj.observed_generation


def deployment_rollout(obj: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer."""
    d = Deployment(obj)
    name = d.metadata.name
    if not _observed(d):
        return RolloutStatus("Waiting for deployment spec update to be observed...", False)
    progressing = d.condition("Progressing")
    if progressing is not None and progressing.reason == DEADLINE_EXCEEDED:
        return RolloutStatus("", False, f'deployment "{name}" exceeded its progress deadline')
    want, updated = d.replicas, d.updated_replicas
    total, available = d.status_replicas, d.available_replicas
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < want:
        return RolloutStatus(
            f"{waiting}{updated} out of {want} new replicas have been updated...", False)
    if total > updated:
        return RolloutStatus(
            f"{waiting}{total - updated} old replicas are pending termination...", False)
    if available < updated:
        return RolloutStatus(
            f"{waiting}{available} of {updated} updated replicas are available...", False)
    return RolloutStatus(f'deployment "{name}" successfully rolled out', True)


def _not_rolling() -> RolloutStatus:
    return RolloutStatus("", True, "rollout status is only available for RollingUpdate "
                                   "strategy type")


def daemonset_rollout(obj: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's DaemonSetStatusViewer."""
    ds = DaemonSet(obj)
    if ds.strategy_type != "RollingUpdate":
        return _not_rolling()
    if not _observed(ds):
        return RolloutStatus("Waiting for daemon set spec update to be observed...", False)
    name, desired = ds.metadata.name, ds.desired
    waiting = f'Waiting for daemon set "{name}" rollout to finish: '
    if ds.updated < desired:
        return RolloutStatus(
            f"{waiting}{ds.updated} out of {desired} new pods have been updated...", False)
    if ds.available < desired:
        return RolloutStatus(
            f"{waiting}{ds.available} of {desired} updated pods are available...", False)
    return RolloutStatus(f'daemon set "{name}" successfully rolled out', True)


def statefulset_rollout(obj: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's StatefulSetStatusViewer. With a ``rollingUpdate`` (the API always sets one
    for RollingUpdate, partition 0 by default) done means enough pods are updated; without
    one, that the current revision is the update revision."""
    sts = StatefulSet(obj)
    if sts.strategy_type != "RollingUpdate":
        return _not_rolling()
    if sts.observed_generation == 0 or not _observed(sts):
        return RolloutStatus("Waiting for statefulset spec update to be observed...", False)
    want, ready, updated = sts.replicas, sts.ready_replicas, sts.updated_replicas
    if ready < want:
        return RolloutStatus(f"Waiting for {want - ready} pods to be ready...", False)
    partition = sts.partition
    if partition is not None:
        if updated < want - partition:
            return RolloutStatus(f"Waiting for partitioned roll out to finish: {updated} out "
                                 f"of {want - partition} new pods have been updated...", False)
        return RolloutStatus(f"partitioned roll out complete: {updated} new pods have been "
                             "updated...", True)
    if sts.update_revision != sts.current_revision:
        return RolloutStatus(f"waiting for statefulset rolling update to complete {updated} "
                             f"pods at revision {sts.update_revision}...", False)
    return RolloutStatus(f"statefulset rolling update complete {sts.current_replicas} pods "
                         f"at revision {sts.current_revision}...", True)


_VIEWERS = {"Deployment": deployment_rollout, "DaemonSet": daemonset_rollout,
            "StatefulSet": statefulset_rollout}


def rollout_status(obj: Mapping[str, Any]) -> RolloutStatus | None:
    """kubectl's rollout status of ``obj``; None for a kind it has none for."""
    viewer = _VIEWERS.get(text(obj, "kind"))
    return viewer(obj) if viewer is not None else None


def deployment_complete(deploy: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Upstream's DeploymentComplete: ``status`` (the one about to be written) has every
    replica updated and available, no old one left, and the generation observed."""
    want = Deployment(deploy).replicas
    return (number(status, "updatedReplicas") == want
            and number(status, "availableReplicas") == want
            and number(status, "replicas") == want
            and number(status, "observedGeneration") >= Deployment(deploy).metadata.generation)


# --- apply --wait -------------------------------------------------------------------------


@dataclass(frozen=True)
class Convergence:
    """``done``; ``detail``: "2/2 available, 2/2 updated", or why not; ``failed``: waiting
    will not help (a failed Job, a Deployment past its deadline)."""

    done: bool
    detail: str
    failed: bool = False


def _deployment(obj: Mapping[str, Any]) -> Convergence:
    d = Deployment(obj)
    want = d.replicas
    counts = f"{d.available_replicas}/{want} available, {d.updated_replicas}/{want} updated"
    if d.paused and _observed(d):
        return Convergence(True, f"paused ({counts})")
    progressing = d.condition("Progressing")
    if progressing is not None and progressing.reason == DEADLINE_EXCEEDED:
        return Convergence(False, f"progress deadline exceeded: {progressing.message}",
                           failed=True)
    return Convergence(deployment_rollout(obj).done, counts)


def _daemonset(obj: Mapping[str, Any]) -> Convergence:
    ds = DaemonSet(obj)
    counts = f"{ds.available}/{ds.desired} available, {ds.updated}/{ds.desired} updated"
    if ds.strategy_type != "RollingUpdate":
        seen = _observed(ds) and ds.has_desired
        return Convergence(seen and ds.ready >= ds.desired, f"{ds.ready}/{ds.desired} ready")
    return Convergence(daemonset_rollout(obj).done, counts)


def _statefulset(obj: Mapping[str, Any]) -> Convergence:
    sts = StatefulSet(obj)
    want = sts.replicas
    counts = f"{sts.ready_replicas}/{want} ready"
    if sts.strategy_type != "RollingUpdate":
        return Convergence(_observed(sts) and sts.ready_replicas >= want, counts)
    return Convergence(statefulset_rollout(obj).done,
                       f"{counts}, {sts.updated_replicas}/{want} updated")


def _job(obj: Mapping[str, Any]) -> Convergence:
    job = Job(obj)
    failed = job.condition("Failed")
    if failed is not None and failed.is_true:
        return Convergence(False, f"failed: {failed.reason} {failed.message}".strip(),
                           failed=True)
    complete = job.condition("Complete")
    progress = f"{job.succeeded}/{job.completions or 1} complete"
    suspended = job.condition("Suspended")
    if job.suspend and suspended is not None and suspended.is_true:
        return Convergence(True, f"suspended ({progress})")
    return Convergence(complete is not None and complete.is_true, progress)


def _replicaset(obj: Mapping[str, Any]) -> Convergence:
    rs = ReplicaSet(obj)
    want, ready = rs.replicas, rs.ready_replicas
    return Convergence(ready >= want and rs.available_replicas >= want, f"{ready}/{want} ready")


def _pod(obj: Mapping[str, Any]) -> Convergence:
    phase = Pod(obj).status.phase
    if phase == "Failed":
        return Convergence(False, "pod failed", failed=True)
    return Convergence(is_pod_ready(obj) or phase == "Succeeded", phase)


def _namespace(obj: Mapping[str, Any]) -> Convergence:
    phase = text(ObjectView(obj).status_raw, "phase", "Active")
    return Convergence(phase == "Active", phase)


_CONVERGENCE = {"Deployment": _deployment, "DaemonSet": _daemonset,
                "StatefulSet": _statefulset, "Job": _job, "ReplicaSet": _replicaset,
                "Pod": _pod, "Namespace": _namespace}


def convergence(obj: Mapping[str, Any]) -> Convergence:
    """Whether ``apply --wait`` counts ``obj`` as converged (the module docstring). Pure."""
    rule = _CONVERGENCE.get(text(obj, "kind"))
    return rule(obj) if rule is not None else Convergence(True, "present")


__all__ = ["DEADLINE_EXCEEDED", "ROLLOUT_KINDS", "Convergence", "RolloutStatus",
           "convergence", "daemonset_rollout", "deployment_complete", "deployment_rollout",
           "rollout_status", "statefulset_rollout"]
