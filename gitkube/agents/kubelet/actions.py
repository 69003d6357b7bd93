"""What to do with one pod's containers, decided purely (upstream's ``computePodActions``).

``compute_pod_actions(pod, observed, state, now, backoff=...)`` reads the pod, what the
runtime holds for it (every instance of every container, oldest first, and the probes'
verdicts on the running ones) and the kubelet's bookkeeping, and returns ``PodActions``:
containers to kill, containers to start, which running ones to probe, the waiting reasons
to show, back-off events, and when to look again. The executor (executor.py) carries them
out; nothing here touches the runtime or the clock.

The rules, as upstream:

- init containers run one at a time, in order, each to success (restartPolicy Never: an
  init container is not restarted; otherwise it is restarted on failure); the pod's
  containers start only once every init container succeeded;
- a container never started is started (attempt 0);
- a running container whose image changed is killed and started again at once ("definition
  changed"); one whose liveness or startup probe failed is killed (with the probe's own
  ``terminationGracePeriodSeconds`` when it has one), and restarted on a later sync;
- an exited container (or one created but never started: a start error) is restarted per
  ``restartPolicy`` (Always; OnFailure when it failed), after a back-off that doubles with
  each restart from ``backoff.base`` to ``backoff.max`` (CrashLoopBackOff meanwhile) and
  starts over once a container ran for more than twice ``backoff.max``;
- a sidecar (an init container with ``restartPolicy: Always``) starts in the init sequence,
  and the next one starts once it runs (its startup probe passed); it is restarted whenever
  it exits, with the same back-off, and runs beside the containers;
- an ephemeral container (``kubectl debug``) is started once, whatever the init containers
  do (upstream starts them first so that a pod stuck in its init containers can be
  debugged), and never restarted nor probed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gitkube.agents.kubelet.probes import ProbeVerdict
from gitkube.runtime.base import LABEL_ATTEMPT, LABEL_IMAGE, ContainerInfo

Obj = dict[str, Any]
Container = Mapping[str, Any]
KillReason = Literal["changed", "liveness", "startup"]


@dataclass
class PodState:
    """What the kubelet remembers of one pod between syncs (the executor writes it;
    ``compute_pod_actions`` only reads it)."""

    exited_seen: dict[str, float] = field(default_factory=dict)  # container id -> first seen
    pull_failures: dict[str, int] = field(default_factory=dict)  # container name -> count
    pull_retry_at: dict[str, float] = field(default_factory=dict)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (reason, msg)
    backoff_noted: set[str] = field(default_factory=set)  # ids a BackOff event was made for
    start_errors: dict[str, str] = field(default_factory=dict)  # container id -> error
    # emptyDir and claim volumes already given to the pod's fsGroup (done once per pod)
    owned_volumes: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Backoff:
    """Restart back-off: ``base`` seconds doubling per restart, at most ``max``."""

    base: float = 10.0
    max: float = 300.0


@dataclass(frozen=True)
class Observed:
    """What the runtime holds for one pod: every instance of each container (by name,
    oldest attempt first) and the probes' verdicts on the running ones (by name)."""

    containers: Mapping[str, Sequence[ContainerInfo]] = field(default_factory=dict)
    probes: Mapping[str, ProbeVerdict] = field(default_factory=dict)
    # whether each running sidecar's startup probe passed (by name; no probe: not listed)
    started: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerToStart:
    container: Container
    attempt: int
    init: bool
    # the instances before this one (a restart), or None (a first start)
    previous: tuple[ContainerInfo, ...] | None = None
    ephemeral: bool = False


@dataclass(frozen=True)
class ContainerToKill:
    container: Container
    info: ContainerInfo
    reason: KillReason
    grace: float | None = None  # the probe's own grace period; None: the pod's
    message: str = ""  # why the probe failed


@dataclass(frozen=True)
class PodActions:
    """What to do now (see the module docstring). ``waiting`` maps a container name to the
    reason it waits for (None: it waits for nothing any more)."""

    kill: tuple[ContainerToKill, ...] = ()
    start: tuple[ContainerToStart, ...] = ()
    probe: tuple[tuple[Container, ContainerInfo], ...] = ()  # running instances to probe
    stop_probing: tuple[str, ...] = ()  # container names not running any more
    waiting: Mapping[str, tuple[str, str] | None] = field(default_factory=dict)
    back_off_events: tuple[tuple[str, str], ...] = ()  # (name, container id), new back-offs
    exited_seen: Mapping[str, float] = field(default_factory=dict)  # newly seen exited ids
    requeue_after: float | None = None  # when to look again (None: on a change only)


def attempt_of(info: ContainerInfo) -> int:
    """The restart count an instance carries in its labels."""
    try:
        return int(info.labels.get(LABEL_ATTEMPT, "0"))
    except ValueError:
        return 0


def succeeded(history: Sequence[ContainerInfo]) -> bool:
    """Whether the latest instance exited with 0."""
    return bool(history) and history[-1].state == "exited" and history[-1].exit_code == 0


def is_sidecar(c: Container) -> bool:
    """An init container with ``restartPolicy: Always``: it keeps running beside the pod's
    containers (upstream's restartable init container)."""
    return c.get("restartPolicy") == "Always"


def started(c: Container, given: _Inputs) -> bool:
    """Whether a running container's startup probe (if any) has passed."""
    return not c.get("startupProbe") or given.observed.started.get(str(c["name"]), False)


def should_restart(policy: str, exit_code: int | None) -> bool:
    """Whether a container that ended with ``exit_code`` starts again under ``policy``."""
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def restart_delay(info: ContainerInfo, backoff: Backoff) -> float:
    """Seconds an exited instance waits before the next start: ``base`` · 2^restarts, at
    most ``max``; 0 once it ran longer than twice ``max`` (the back-off starts over)."""
    if info.started_at and info.finished_at and \
            info.finished_at - info.started_at > 2 * backoff.max:
        return 0.0
    return float(min(backoff.base * (2 ** attempt_of(info)), backoff.max))


def format_delay(seconds: float) -> str:
    """Upstream's way of writing a back-off in messages: ``40s``, ``5m0s``."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m0s"
    return f"{seconds:g}s"


def was_ready(pod: Obj, name: str, container_id: str, runtime: str) -> bool:
    """Whether the pod's last status reported this very container instance ready (a
    restarted kubelet keeps that until a probe says otherwise)."""
    wanted = f"{runtime}://{container_id}"
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == name and cs.get("containerID") == wanted:
            return bool(cs.get("ready"))
    return False


class _Plan:
    """The actions being collected for one pod."""

    def __init__(self) -> None:
        self.kill: list[ContainerToKill] = []
        self.start: list[ContainerToStart] = []
        self.probe: list[tuple[Container, ContainerInfo]] = []
        self.stop_probing: list[str] = []
        self.waiting: dict[str, tuple[str, str] | None] = {}
        self.back_off_events: list[tuple[str, str]] = []
        self.exited_seen: dict[str, float] = {}
        self.delays: list[float] = []

    def actions(self) -> PodActions:
        return PodActions(kill=tuple(self.kill), start=tuple(self.start),
                          probe=tuple(self.probe), stop_probing=tuple(self.stop_probing),
                          waiting=self.waiting, back_off_events=tuple(self.back_off_events),
                          exited_seen=self.exited_seen,
                          requeue_after=min(self.delays) if self.delays else None)


def compute_pod_actions(pod: Obj, observed: Observed, state: PodState, now: float, *,
                        backoff: Backoff) -> PodActions:
    """What to do with ``pod``'s containers now (see the module docstring)."""
    spec = pod.get("spec") or {}
    policy = str(spec.get("restartPolicy") or "Always")
    plan = _Plan()
    given = _Inputs(pod, observed, state, now, backoff)
    for c in spec.get("ephemeralContainers") or []:
        if not observed.containers.get(str(c["name"])):
            plan.start.append(ContainerToStart(c, 0, False, ephemeral=True))
    for c in spec.get("initContainers") or []:
        history = observed.containers.get(str(c["name"]), ())
        if is_sidecar(c):
            _container(plan, given, c, "Always", init=True)
            if history and history[-1].state == "running" and started(c, given):
                continue
            return plan.actions()  # the next waits until this sidecar has started
        if succeeded(history):
            continue
        _container(plan, given, c, "Never" if policy == "Never" else "OnFailure", init=True)
        return plan.actions()  # one init container at a time
    for c in spec.get("containers") or []:
        _container(plan, given, c, policy, init=False)
    return plan.actions()


@dataclass(frozen=True)
class _Inputs:
    """The inputs of one decision about a pod's containers: the pod, what was observed of its
    containers, the kubelet's bookkeeping for it, the time, and the restart back-off."""

    pod: Obj
    observed: Observed
    state: PodState
    now: float
    backoff: Backoff


def _container(plan: _Plan, given: _Inputs, c: Container, policy: str, *, init: bool) -> None:
    """One container's actions, added to ``plan``."""
    pod, state, now = given.pod, given.state, given.now
    name = str(c["name"])
    history = given.observed.containers.get(name, ())
    latest = history[-1] if history else None
    if latest is None:
        plan.start.append(ContainerToStart(c, 0, init))
        return
    if latest.state == "running":
        if latest.labels.get(LABEL_IMAGE, c.get("image")) != c.get("image"):
            plan.kill.append(ContainerToKill(c, latest, "changed"))
            plan.start.append(ContainerToStart(c, attempt_of(latest) + 1, init, tuple(history)))
            return
        plan.waiting[name] = None
        verdict = given.observed.probes.get(name)
        if (init and not is_sidecar(c)) or verdict is None or not verdict.failed:
            plan.probe.append((c, latest))
            return
        grace = (c.get(f"{verdict.failed}Probe") or {}).get("terminationGracePeriodSeconds")
        plan.kill.append(ContainerToKill(c, latest, verdict.failed,
                                         None if grace is None else float(grace),
                                         verdict.message))
        plan.delays.append(0.0)  # restarted on the next sync, per the restart policy
        return
    # exited, or created but never started (a start error): restart per policy
    plan.stop_probing.append(name)
    if not should_restart(policy, latest.exit_code if latest.state == "exited" else 128):
        plan.waiting[name] = None
        return
    seen = state.exited_seen.get(latest.id)
    if seen is None:
        seen = plan.exited_seen[latest.id] = now
    delay = restart_delay(latest, given.backoff)
    if now < seen + delay:
        meta = pod["metadata"]
        ref = f"{meta['name']}_{meta.get('namespace')}({meta['uid']})"
        error = state.start_errors.get(latest.id)
        plan.waiting[name] = ("CrashLoopBackOff",
                              f"back-off {format_delay(delay)} restarting failed "
                              f"container={name} pod={ref}" + (f": {error}" if error else ""))
        if latest.id not in state.backoff_noted:
            plan.back_off_events.append((name, latest.id))
        plan.delays.append(seen + delay - now)
        return
    plan.start.append(ContainerToStart(c, attempt_of(latest) + 1, init, tuple(history)))


__all__ = [
    "Backoff",
    "ContainerToKill",
    "ContainerToStart",
    "Observed",
    "PodActions",
    "PodState",
    "attempt_of",
    "compute_pod_actions",
    "format_delay",
    "is_sidecar",
    "restart_delay",
    "should_restart",
    "succeeded",
    "was_ready",
]
