"""Pod status as Kubernetes defines it, computed from what the kubelet observed. Pure.

``container_views`` makes one ``ContainerView`` per spec container (and init container) from
what the runtime holds, the reasons containers wait for, the probes' results and the
termination messages; ``compute_status`` turns a pod, its views and the pod IP into the pod's
``status``: ``phase`` (Pending, Running, Succeeded, Failed),
conditions PodScheduled, Initialized, ContainersReady, Ready (with lastTransitionTime kept
while a condition holds), ``podIP``/``podIPs``, ``hostIP``, ``startTime``, and
``containerStatuses``/``initContainerStatuses``/``ephemeralContainerStatuses`` with every
field the official clients require (name, image, imageID, ready, restartCount, state,
lastState, started, containerID). Ephemeral containers count for neither the phase nor
readiness (they are never ready, as upstream).

Phase rules (upstream's kubelet ``getPhase``):

- an init container that failed under restartPolicy Never: Failed; init not done: Pending;
- any container waiting to start for the first time (not created, image errors): Pending;
- one running: Running;
- all stopped: Always -> Running (it restarts); all exited 0 -> Succeeded; OnFailure with a
  failure -> Running (it restarts); Never with a failure -> Failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitkube.agents.kubelet.actions import attempt_of, is_sidecar, succeeded
from gitkube.model.conditions import transition_time
from gitkube.model.times import rfc3339
from gitkube.runtime.base import ContainerInfo

Obj = dict[str, Any]


@dataclass(frozen=True)
class ContainerView:
    """What the kubelet knows about one spec container right now."""

    name: str
    image: str
    info: ContainerInfo | None = None  # the latest attempt, if any
    previous: ContainerInfo | None = None  # the attempt before it (lastState)
    restart_count: int = 0
    waiting_reason: str = ""  # e.g. CrashLoopBackOff, ErrImagePull, ContainerCreating
    waiting_message: str = ""
    ready: bool = False
    started: bool = False
    runtime: str = "podman"
    # terminationMessagePath's content (or the log's tail) per terminated container id
    messages: Mapping[str, str] = field(default_factory=dict)
    sidecar: bool = False  # an init container with restartPolicy Always

    @property
    def init_done(self) -> bool:
        """As an init container: it succeeded, or (a sidecar) it has started."""
        if self.sidecar:
            return self.info is not None and (self.started or self.restart_count > 0)
        return self.info is not None and self.info.state == "exited" and \
            self.info.exit_code == 0


@dataclass(frozen=True)
class ProbeResults:
    """What a container's startup and readiness probes say now (True: passing, or none)."""

    startup: bool = True
    readiness: bool = True


def container_views(pod: Obj, history: Mapping[str, Sequence[ContainerInfo]], *,
                    init: bool | None, waiting: Mapping[str, tuple[str, str]],
                    probes: Mapping[str, ProbeResults], messages: Mapping[str, str],
                    runtime: str) -> list[ContainerView]:
    """One view per init container (``init``), container (not ``init``) or ephemeral
    container (``init`` None) of ``pod``, from every instance the runtime holds
    (``history``, oldest first), the reasons containers wait for, the probes' results and
    the termination messages (by container id)."""
    spec = pod.get("spec") or {}
    inits = spec.get("initContainers") or []
    chosen = inits if init else spec.get("containers") or []
    if init is None:
        chosen = spec.get("ephemeralContainers") or []
    views = []
    for c in chosen:
        name = str(c["name"])
        hist = history.get(name, ())
        latest = hist[-1] if hist else None
        reason, message = waiting.get(name, ("", ""))
        running = latest is not None and latest.state == "running"
        if running:
            reason, message = "", ""
        elif latest is None and init is False and not reason and not all(
                is_sidecar(i) or succeeded(history.get(str(i["name"]), ())) for i in inits):
            reason = "PodInitializing"  # upstream's wording while init containers run
        result = probes.get(name, ProbeResults())
        started = running and result.startup
        previous = hist[-2] if len(hist) > 1 else None
        views.append(ContainerView(
            name=name, image=str(c.get("image")), info=latest, previous=previous,
            restart_count=attempt_of(latest) if latest else 0,
            waiting_reason=reason, waiting_message=message,
            ready=running and (init is False or (init is True and is_sidecar(c))) and started
            and not reason and result.readiness,
            started=started, runtime=runtime, sidecar=bool(init) and is_sidecar(c),
            messages={i.id: messages.get(i.id, "") for i in (latest, previous)
                      if i is not None and i.state == "exited"}))
    return views


def _terminated(info: ContainerInfo, runtime: str, messages: Mapping[str, str]) -> Obj:
    out: Obj = {"exitCode": info.exit_code if info.exit_code is not None else 0,
                "reason": info.reason or ("Completed" if info.exit_code == 0 else "Error"),
                "containerID": f"{runtime}://{info.id}"}
    if messages.get(info.id):
        out["message"] = messages[info.id]
    if info.started_at:
        out["startedAt"] = rfc3339(info.started_at)
    if info.finished_at:
        out["finishedAt"] = rfc3339(info.finished_at)
    return out


def container_status(view: ContainerView) -> Obj:
    """One entry of containerStatuses."""
    info = view.info
    state: Obj
    last: Obj = {}
    if view.waiting_reason:
        waiting: Obj = {"reason": view.waiting_reason}
        if view.waiting_message:
            waiting["message"] = view.waiting_message
        state = {"waiting": waiting}
        if info is not None and info.state == "exited":
            last = {"terminated": _terminated(info, view.runtime, view.messages)}
        elif view.previous is not None and view.previous.state == "exited":
            last = {"terminated": _terminated(view.previous, view.runtime, view.messages)}
    elif info is None or info.state in ("created", "unknown"):
        state = {"waiting": {"reason": "ContainerCreating"}}
    elif info.state == "running":
        state = {"running": {"startedAt": rfc3339(info.started_at or 0)}}
        if view.previous is not None and view.previous.state == "exited":
            last = {"terminated": _terminated(view.previous, view.runtime, view.messages)}
    else:
        state = {"terminated": _terminated(info, view.runtime, view.messages)}
        if view.previous is not None and view.previous.state == "exited":
            last = {"terminated": _terminated(view.previous, view.runtime, view.messages)}
    out: Obj = {
        "name": view.name,
        "image": view.image,
        "imageID": info.image_id if info is not None and info.image_id else "",
        "ready": view.ready,
        "restartCount": view.restart_count,
        "started": bool(info is not None and info.state == "running" and view.started),
        "state": state,
        "lastState": last,
    }
    if info is not None:
        out["containerID"] = f"{view.runtime}://{info.id}"
    return out


def _is_succeeded(view: ContainerView) -> bool:
    return view.info is not None and view.info.state == "exited" and view.info.exit_code == 0


def phase(restart_policy: str, init_views: Sequence[ContainerView],
          views: Sequence[ContainerView]) -> str:
    """The pod phase from the containers' states (see the module docstring)."""
    for v in init_views:
        if v.init_done:
            continue
        init_failed = v.info is not None and v.info.state == "exited"
        if init_failed and restart_policy == "Never":
            return "Failed"
        return "Pending"
    states = Counter(_state(v) for v in views)
    if states["waiting"]:
        return "Pending"
    if states["running"]:
        return "Running"
    if not states["succeeded"] and not states["failed"]:
        return "Pending"
    if restart_policy == "Always":
        return "Running"
    if not states["failed"]:
        return "Succeeded"
    return "Failed" if restart_policy == "Never" else "Running"


def _state(v: ContainerView) -> str:
    """What a container counts as for the phase: running, succeeded, failed or waiting."""
    info = v.info
    if info is not None and info.state == "running" and not v.waiting_reason:
        return "running"
    if info is not None and info.state == "exited":
        return "succeeded" if info.exit_code == 0 else "failed"
    if v.waiting_reason and v.previous is not None:
        return "failed"  # restarting: counts as stopped, like upstream
    return "waiting"


def _condition(old: Mapping[str, Obj], type_: str, status: bool, now: float,
               reason: str = "") -> Obj:
    value = "True" if status else "False"
    cond: Obj = {"type": type_, "status": value,
                 "lastTransitionTime": transition_time(old.get(type_), value, rfc3339(now))}
    if reason and not status:
        cond["reason"] = reason
    return cond


def compute_status(pod: Obj, init_views: Sequence[ContainerView],
                   views: Sequence[ContainerView], *, pod_ip: str, host_ip: str,
                   now: float, ephemeral_views: Sequence[ContainerView] = ()) -> Obj:
    """The pod's new ``status`` (see the module docstring)."""
    spec = pod.get("spec") or {}
    old_status = pod.get("status") or {}
    old: dict[str, Obj] = {str(c.get("type")): c for c in old_status.get("conditions") or []
                           if isinstance(c, dict)}
    the_phase = phase(str(spec.get("restartPolicy") or "Always"), init_views, views)
    initialized = all(v.init_done for v in init_views)
    sidecars = [v for v in init_views if v.sidecar]
    ready = the_phase == "Running" and all(v.ready for v in [*sidecars, *views])
    unready = [v.name for v in [*sidecars, *views] if not v.ready]
    reason = "PodCompleted" if the_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    scheduled = old.get("PodScheduled") or {
        "type": "PodScheduled", "status": "True",
        "lastTransitionTime": rfc3339(now)}
    conditions = [
        _condition(old, "Initialized", initialized or the_phase in ("Succeeded", "Failed"),
                   now, "ContainersNotInitialized"),
        _condition(old, "Ready", ready, now, reason),
        _condition(old, "ContainersReady", ready, now, reason),
        scheduled,
    ]
    for cond in conditions[1:3]:
        if not ready and the_phase not in ("Succeeded", "Failed") and unready:
            cond["message"] = f"containers with unready status: [{' '.join(unready)}]"
    status: Obj = {
        "phase": the_phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "startTime": old_status.get("startTime") or rfc3339(now),
        "containerStatuses": [container_status(v) for v in views],
        "qosClass": old_status.get("qosClass") or _qos_class(spec),
    }
    if host_ip:
        status["hostIPs"] = [{"ip": host_ip}]
    if init_views:
        status["initContainerStatuses"] = [container_status(v) for v in init_views]
    if ephemeral_views:
        status["ephemeralContainerStatuses"] = [container_status(v) for v in ephemeral_views]
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def _qos_class(spec: Mapping[str, Any]) -> str:
    containers = list(spec.get("containers") or [])
    requests = [((c.get("resources") or {}).get("requests") or {}) for c in containers]
    limits = [((c.get("resources") or {}).get("limits") or {}) for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu") and lim.get("memory") and req.get("cpu", lim["cpu"]) == lim["cpu"]
        and req.get("memory", lim["memory"]) == lim["memory"]
        for req, lim in zip(requests, limits, strict=True))
    return "Guaranteed" if guaranteed else "Burstable"
