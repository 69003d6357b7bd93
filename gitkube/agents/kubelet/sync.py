"""Syncing one pod key: the kubelet's reconcile (upstream's ``syncPod`` and
``syncTerminatingPod``).

``PodSyncer.reconcile(key)`` is level-triggered: it reads the pod from the node's cache and
the runtime's sandboxes and containers (found by labels), and makes them agree:

- sandboxes of another pod under that name (another uid), or of a pod that is gone, are
  stopped (SIGTERM, SIGKILL after the grace period recorded on the sandbox) and removed;
- ``deletionTimestamp`` set: the pod's containers are stopped all at once within
  ``deletionGracePeriodSeconds`` (each its preStop hook, SIGTERM, SIGKILL at the end), its
  sandbox removed, then the pod object is deleted with grace 0 (the kubelet's
  confirmation: the API removes it);
- phase Succeeded or Failed: running containers are stopped, nothing starts again;
- otherwise: volumes prepared, claims reported Bound, the sandbox ensured, the containers
  observed, ``compute_pod_actions`` decides (actions.py), the executor acts (executor.py),
  and the status (status.py) is written when it changed.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from pathlib import Path
from typing import Any

from gitkube.agents.kubelet.actions import (
    Observed,
    PodState,
    attempt_of,
    compute_pod_actions,
    is_sidecar,
)
from gitkube.agents.kubelet.claims import Claims
from gitkube.agents.kubelet.containerspec import grace_period
from gitkube.agents.kubelet.executor import ExecutorSettings, NodeParts, PodExecutor, Volumes
from gitkube.agents.kubelet.nodepods import NodePods
from gitkube.agents.kubelet.probes import ProbeVerdict
from gitkube.agents.kubelet.security import own_volumes
from gitkube.agents.kubelet.status import ProbeResults, compute_status, container_views
from gitkube.agents.kubelet.volumes import (
    ContainerConfigError,
    prepare_volumes,
    remove_pod_dir,
)
from gitkube.agents.manager import Result, split_key
from gitkube.api.client import Client
from gitkube.errors import NotFound
from gitkube.runtime.base import (
    LABEL_CONTAINER,
    LABEL_EPHEMERAL,
    LABEL_GRACE,
    LABEL_NAMESPACE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerInfo,
    SandboxInfo,
)

log = logging.getLogger("gitkube.kubelet")
Obj = dict[str, Any]
History = dict[str, list[ContainerInfo]]
MIN_REQUEUE = 0.05
FINISHED = ("Succeeded", "Failed")


class PodStates:
    """The kubelet's bookkeeping per pod uid (thread-safe)."""

    def __init__(self) -> None:
        self._states: dict[str, PodState] = {}
        self._lock = threading.Lock()

    def get(self, uid: str) -> PodState:
        with self._lock:
            return self._states.setdefault(uid, PodState())

    def forget(self, uid: str) -> None:
        with self._lock:
            self._states.pop(uid, None)


class PodSyncer:
    """The reconcile of one pod key (module docstring)."""

    def __init__(self, settings: ExecutorSettings, parts: NodeParts, *, client: Client,
                 pods: NodePods, root: Path, executor: PodExecutor, claims: Claims):
        self.name = settings.name
        self.scope = settings.scope
        self.address = settings.address
        self.backoff = settings.backoff
        self.resync_period = settings.resync_period
        self.runtime = parts.runtime
        self.prober = parts.prober
        self.recorder = parts.recorder
        self.cache = parts.cache
        self.messages = parts.messages
        self.get = parts.get
        self.allocatable = parts.allocatable
        self.clock = parts.clock
        self.client = client
        self.pods = pods
        self.root = root
        self.executor = executor
        self.claims = claims
        self.states = PodStates()
        self._stopping: set[str] = set()  # uids whose containers are being stopped
        self._stopping_lock = threading.Lock()

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        pod = self.pods.get(key)
        uid = str(pod["metadata"]["uid"]) if pod is not None else ""
        deleting = pod is not None and pod["metadata"].get("deletionTimestamp")
        by_key = self.cache.by_key
        if pod is None or deleting or by_key is None:
            sandboxes = self.runtime.list_sandboxes(
                {**self.scope, LABEL_NAMESPACE: str(namespace), LABEL_POD_NAME: name})
        else:  # the relist's view (once a second) is enough to find stale ones
            sandboxes = list(by_key.get(key, []))
        for sb in sandboxes:
            if sb.labels.get(LABEL_POD_UID) != uid:
                self.kill(sb, None)
        if pod is None:
            return Result()
        if deleting:
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            for sb in sandboxes:
                if sb.labels.get(LABEL_POD_UID) == uid:
                    self.kill(sb, pod, grace)
            with contextlib.suppress(NotFound):
                self.client.delete("v1", "Pod", namespace, name, grace_period_seconds=0,
                                   uid=uid)
            return Result()
        if (pod.get("status") or {}).get("phase") in FINISHED:
            self.stop_running(pod)
            return Result()
        return self.sync(pod)

    # -- stopping

    def kill(self, sb: SandboxInfo, pod: Obj | None, grace: Any = None) -> None:
        """Stop and remove a pod's sandbox within one grace period (the deletion's, the
        pod's, or the one recorded on the sandbox): every container at once, each its
        preStop hook, then SIGTERM, then SIGKILL when the grace period is up."""
        if grace is None and pod is not None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if grace is None:
            try:
                grace = int(sb.labels.get(LABEL_GRACE, "30"))
            except ValueError:
                grace = 30
        uid = sb.labels.get(LABEL_POD_UID, "")
        log.info("%s: stopping pod %s/%s (grace %ss)", self.name,
                 sb.labels.get(LABEL_NAMESPACE), sb.labels.get(LABEL_POD_NAME), grace)
        seconds = float(grace)
        if pod is not None:
            for c in (pod.get("spec") or {}).get("containers") or []:
                self.recorder.event(pod, "Normal", "Killing", f"Stopping container {c['name']}")
            with self._stopping_lock:
                self._stopping.add(uid)
            try:
                # a shorter grace period may have come between our read and now
                seconds = min(seconds, self._grace_now(pod, seconds))
                self.executor.stop_all(pod, seconds)
            finally:
                with self._stopping_lock:
                    self._stopping.discard(uid)
            seconds = 0  # what still runs now (started meanwhile) has had its time
        self.prober.forget_pod(uid)
        self.cache.sandboxes.pop(uid, None)
        # a pod known or not, the runtime stops what is left of the sandbox all at once too
        self.runtime.remove_sandbox(sb.id, timeout=seconds)
        remove_pod_dir(self.root, uid)
        self.claims.release(besides=uid)
        self.states.forget(uid)

    def _grace_now(self, pod: Obj, grace: float) -> float:
        """The deletion's grace period as the cache has it now (``grace`` when none)."""
        meta = pod["metadata"]
        current = self.pods.get(f"{meta.get('namespace')}/{meta.get('name')}")
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return grace
        value = current["metadata"].get("deletionGracePeriodSeconds")
        return float(value) if isinstance(value, int) else grace

    def shorten(self, pod: Obj) -> None:
        """A second deletion shortened the grace period of ``pod``: when its containers
        are being stopped (their stop waits out the old grace period), stop them again
        within the new one, from a thread of its own (this runs in an informer handler)."""
        uid = str(pod["metadata"].get("uid"))
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        with self._stopping_lock:
            if uid not in self._stopping or not isinstance(grace, int):
                return
        log.info("%s: grace period of %s/%s shortened to %ss", self.name,
                 pod["metadata"].get("namespace"), pod["metadata"].get("name"), grace)
        threading.Thread(target=self.executor.stop_all, args=(pod, float(grace)),
                         kwargs={"hooks": False}, daemon=True,
                         name=f"{self.name} shorten").start()

    def stop_running(self, pod: Obj) -> None:
        """A finished pod: stop what still runs, all at once (each its preStop hook first)."""
        self.executor.stop_all(pod, grace_period(pod))
        self.prober.forget_pod(str(pod["metadata"]["uid"]))

    # -- running

    def sync(self, pod: Obj) -> Result:
        """Move a running pod toward its spec (module docstring)."""
        uid = str(pod["metadata"]["uid"])
        st = self.states.get(uid)
        volumes = self._volumes(pod, st)
        if volumes.paths is not None:
            self.claims.bind(pod)
        sandbox = self.executor.ensure_sandbox(pod)
        # a sandbox created just now holds no container: nothing to list
        history = {} if sandbox.fresh else self.history(uid)
        started = {str(c["name"]): self.prober.passing(uid, str(c["name"]), "startup")
                   for c in (pod.get("spec") or {}).get("initContainers") or []
                   if is_sidecar(c) and c.get("startupProbe")}
        actions = compute_pod_actions(pod, Observed(history, self._verdicts(pod, history),
                                                    started),
                                      st, self.clock(), backoff=self.backoff)
        outcome = self.executor.execute(pod, sandbox, actions, st, volumes)
        if outcome.stale:
            history = self.history(uid)
        else:  # only first starts happened (or nothing): their inspection is the news
            for name, info in outcome.started.items():
                history.setdefault(name, []).append(info)
        self.write_status(pod, sandbox, history, st)
        return Result(requeue_after=max(MIN_REQUEUE, min([self.resync_period,
                                                          *outcome.delays])))

    def _volumes(self, pod: Obj, st: PodState) -> Volumes:
        try:
            paths = prepare_volumes(pod, self.root, self.get, self.allocatable())
            own_volumes(pod, paths or {}, st.owned_volumes)
            return Volumes(paths)
        except ContainerConfigError as e:
            return Volumes(None, e.message)

    def history(self, uid: str) -> History:
        """Every instance of each of the pod's containers, by name, oldest attempt first."""
        by_name: History = {}
        for info in self.runtime.list_containers({LABEL_POD_UID: uid}):
            by_name.setdefault(info.labels.get(LABEL_CONTAINER, ""), []).append(info)
        for hist in by_name.values():
            hist.sort(key=attempt_of)
        return by_name

    def _verdicts(self, pod: Obj, history: History) -> dict[str, ProbeVerdict]:
        """The probes' verdicts on the running instances."""
        uid = str(pod["metadata"]["uid"])
        prober = self.prober
        spec = pod.get("spec") or {}
        verdicts = {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            hist = history.get(str(c["name"]))
            if hist and hist[-1].state == "running":
                verdicts[str(c["name"])] = prober.verdict(uid, c, hist[-1].id)
        return verdicts

    def write_status(self, pod: Obj, sandbox: SandboxInfo, history: History,
                     st: PodState) -> None:
        """Write the pod's status (status.py) when it changed."""
        uid = str(pod["metadata"]["uid"])
        spec = pod.get("spec") or {}
        prober = self.prober
        probes: dict[str, ProbeResults] = {}
        messages: dict[str, str] = {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
                  *(spec.get("ephemeralContainers") or [])]:
            name = str(c["name"])
            probes[name] = ProbeResults(startup=prober.passing(uid, name, "startup"),
                                        readiness=prober.passing(uid, name, "readiness"))
            for info in history.get(name, [])[-2:]:
                if info.state == "exited":
                    messages[info.id] = self.messages.message(uid, c, info)
        running = [h[-1] for h in history.values() if h and h[-1].state == "running"
                   and not h[-1].labels.get(LABEL_EPHEMERAL)]  # no address of their own
        views = {init: container_views(pod, history, init=init, waiting=st.waiting,
                                       probes=probes, messages=messages,
                                       runtime=self.runtime.name)
                 for init in (True, False, None)}
        status = compute_status(
            pod, views[True], views[False], ephemeral_views=views[None],
            pod_ip=self.executor.pod_ip(sandbox, running[0] if running else None) or (
                "" if sandbox.infra else str((pod.get("status") or {}).get("podIP") or "")),
            host_ip=self.address, now=self.clock())
        old = pod.get("status") or {}
        if status == old:
            return
        if old.get("phase") != status["phase"] and status["phase"] in FINISHED:
            log.info("%s: pod %s/%s %s", self.name, pod["metadata"].get("namespace"),
                     pod["metadata"]["name"], status["phase"])
        fresh = copy.deepcopy(pod)
        fresh["status"] = status
        fresh["metadata"].pop("resourceVersion", None)
        with contextlib.suppress(NotFound):
            self.client.update_status(fresh)


__all__ = ["PodStates", "PodSyncer"]
