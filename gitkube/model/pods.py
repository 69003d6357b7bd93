"""Pod state rules every layer shares (upstream's ``podutil``): phase, readiness,
availability, being active or terminating, the grace period a deletion gives a pod,
restarts, and why a pod is not ready.

What the STATUS/READY/RESTARTS columns print is ``model/printers.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitkube.model.times import parse_time
from gitkube.model.views import ObjectView, Pod

TERMINAL_PHASES = ("Succeeded", "Failed")
DEFAULT_TERMINATION_GRACE = 30  # seconds: spec.terminationGracePeriodSeconds' default


def pod_phase(pod: Mapping[str, Any]) -> str:
    """``status.phase``; "Pending" while unset."""
    return Pod(pod).status.phase


def is_terminating(obj: Mapping[str, Any]) -> bool:
    """The object is being deleted (it has a deletionTimestamp)."""
    return bool(ObjectView(obj).metadata.deletion_timestamp)


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """The Ready condition is True (upstream's IsPodReady): what Services, ReplicaSets and
    ``apply --wait`` count as ready."""
    ready = Pod(pod).condition("Ready")
    return ready is not None and ready.is_true


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready, and for at least ``min_ready_seconds`` by the Ready condition's
    lastTransitionTime (upstream's IsPodAvailable)."""
    ready = Pod(pod).condition("Ready")
    if ready is None or not ready.is_true:
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(ready.last_transition_time)
    return since is not None and since + min_ready_seconds <= now


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Not finished and not being deleted (upstream's FilterActivePods)."""
    return pod_phase(pod) not in TERMINAL_PHASES and not is_terminating(pod)


def termination_grace_period(pod: Mapping[str, Any]) -> int:
    """``spec.terminationGracePeriodSeconds``: the seconds the pod's containers are given to
    stop (30 when not set)."""
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return DEFAULT_TERMINATION_GRACE if not isinstance(value, int) or isinstance(value, bool) \
        else value


def deletion_grace_period(pod: Mapping[str, Any], requested: int | None) -> int:
    """The grace period a deletion gives a pod (upstream's pod CheckGracefulDelete): the
    ``requested`` one, or the pod's own (``termination_grace_period``) when the request has
    none; 0 — removed at once — for a pod no kubelet runs (not bound to a node) or that has
    finished (Succeeded, Failed): nothing is left to stop."""
    if not Pod(pod).spec.node_name or pod_phase(pod) in TERMINAL_PHASES:
        return 0
    return termination_grace_period(pod) if requested is None else requested


def restart_count(pod: Mapping[str, Any]) -> int:
    """The restarts of every container, init containers included."""
    status = Pod(pod).status
    return sum(cs.restart_count
               for cs in [*status.init_container_statuses, *status.container_statuses])


def pod_problem(pod: Mapping[str, Any]) -> str:
    """Why a pod is not ready, in one line (upstream's wording where there is one): the
    scheduler's refusal, a waiting reason other than ContainerCreating, a failed exit, a
    running container that is not ready, or else the phase."""
    view = Pod(pod)
    scheduled = view.condition("PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        return f"{scheduled.reason or 'Unschedulable'}: {scheduled.message}".strip()
    if not view.spec.node_name:
        return "not scheduled yet"
    status = view.status
    for cs in [*status.init_container_statuses, *status.container_statuses]:
        state = cs.state
        if state.waiting and state.reason != "ContainerCreating":
            return f"container {cs.name}: {state.reason or None}: {state.message}"
        if state.terminated and state.exit_code:
            return (f"container {cs.name} exited {state.exit_code} "
                    f"({state.reason or None})")
        if state.running and not cs.ready:
            return f"container {cs.name} running but not ready (readiness probe)"
    return f"phase {status.phase}"


__all__ = ["DEFAULT_TERMINATION_GRACE", "TERMINAL_PHASES", "deletion_grace_period",
           "is_pod_active", "is_pod_available", "is_pod_ready",
           "is_terminating", "pod_phase", "pod_problem", "restart_count",
           "termination_grace_period"]
