"""Carrying out a pod's actions on the runtime (upstream's ``SyncPod`` after
``computePodActions``): ensure the sandbox, kill, start, probe.

``PodExecutor.execute(pod, sandbox, actions, state, volumes)`` does what ``PodActions`` says,
in upstream's order: containers to kill (preStop hook inside the grace period, then
SIGTERM), probes of running containers, then starts. A start is: the image (per
``imagePullPolicy``, with its back-off), the container's configuration (environment,
mounts, security: a failure is CreateContainerConfigError), create, start (a restarted
container waits up to ADDRESS_WAIT s for its predecessor to free the pod's address, then
takes any), the postStart hook (a failure stops the container and the restart policy takes
over), and one inspect of the new container (its status and IP; the relist is told).
Events are recorded as upstream words them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitkube.agents.events import EventRecorder
from gitkube.agents.kubelet.actions import (
    Backoff,
    ContainerToKill,
    ContainerToStart,
    PodActions,
    PodState,
    is_sidecar,
    was_ready,
)
from gitkube.agents.kubelet.containerspec import (
    Resolved,
    container_config,
    grace_period,
    sandbox_config,
)
from gitkube.agents.kubelet.ephemeral import ephemeral_config
from gitkube.agents.kubelet.images import ImageCache, image_step, pull_delay
from gitkube.agents.kubelet.lifecycle import (
    MIN_AFTER_PRE_STOP,
    POST_START_LIMIT,
    hook,
    run_handler,
)
from gitkube.agents.kubelet.pleg import RuntimeCache
from gitkube.agents.kubelet.probes import Prober
from gitkube.agents.kubelet.security import container_security, needs_image_user
from gitkube.agents.kubelet.termination import TerminationMessages
from gitkube.agents.kubelet.volumes import (
    ContainerConfigError,
    Getter,
    container_mounts,
    resolve_env,
)
from gitkube.runtime.base import (
    ADDRESS_TAKEN,
    LABEL_CONTAINER,
    LABEL_POD_UID,
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    ImageError,
    RuntimeFailure,
    SandboxInfo,
)

log = logging.getLogger("gitkube.kubelet")
Obj = dict[str, Any]
Container = Mapping[str, Any]
ADDRESS_WAIT = 3.0  # s a restarted container waits for its predecessor to free the address
CONFIG_RETRY = 2.0  # s before a container that could not be configured is tried again
EPHEMERAL_RETRY = 1.0  # s before an ephemeral container waiting for its target looks again


def start_keeping_address(runtime: ContainerRuntime, container_id: str, spec: ContainerSpec,
                          previous: Sequence[ContainerInfo]) -> None:
    """Start ``container_id``. When it asked for its pod's address and the container it
    replaces still holds it (Podman frees an exited container's address in its cleanup, a
    moment after the exit), try again every 0.1 s for up to ADDRESS_WAIT s."""
    deadline = time.monotonic() + ADDRESS_WAIT
    while True:
        try:
            runtime.start_container(container_id)
            return
        except RuntimeFailure as e:
            held_by_predecessor = spec.ip and ADDRESS_TAKEN in e.message and any(
                old.id and old.id in e.message for old in previous)
            if not held_by_predecessor or time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


@dataclass
class Volumes:
    """The pod's prepared volumes (name -> host path), or why they could not be."""

    paths: dict[str, Path] | None
    error: str = ""


@dataclass
class Outcome:
    """What one execution did: the delays after which to look again, the containers it
    started (as inspected right after), and whether it changed the pod's containers in any
    other way (then they are listed again before the status is written)."""

    delays: list[float] = field(default_factory=list)
    started: dict[str, ContainerInfo] = field(default_factory=dict)
    stale: bool = False


@dataclass(frozen=True)
class ExecutorSettings:
    """The kubelet settings the executor (and the pod syncs) need."""

    name: str  # for logs: kubelet/<node>
    address: str  # the node's address (hostNetwork pods' IP, status.hostIP)
    scope: Mapping[str, str]  # the labels of everything this kubelet makes
    backoff: Backoff
    resync_period: float
    seccomp_root: Path


@dataclass(frozen=True)
class NodeParts:
    """What a node's pod syncs and their executor share: its runtime, event recorder,
    prober, runtime cache and termination messages; ``get``, which reads the ConfigMaps and
    Secrets pods refer to; ``allocatable()``, what a limit not set means; ``clock()``, the
    Manager's clock (epoch seconds)."""

    runtime: ContainerRuntime
    recorder: EventRecorder
    prober: Prober
    cache: RuntimeCache
    messages: TerminationMessages
    get: Getter
    allocatable: Callable[[], dict[str, str]]
    clock: Callable[[], float]


class PodExecutor:
    """Carries out PodActions (module docstring) with the node's ``parts``.
    ``network(pod)``: the pod network's fields for ``pod``; ``service_env(pod)``: the
    service environment variables it gets; ``seen(info)``: tells the relist."""

    def __init__(self, settings: ExecutorSettings, parts: NodeParts, *, images: ImageCache,
                 network: Callable[[Obj], dict[str, Any]],
                 service_env: Callable[[Obj], dict[str, str]],
                 seen: Callable[[ContainerInfo], None]):
        self.settings = settings
        self.runtime = parts.runtime
        self.recorder = parts.recorder
        self.prober = parts.prober
        self.messages = parts.messages
        self.cache = parts.cache
        self.get = parts.get
        self.allocatable = parts.allocatable
        self.clock = parts.clock
        self.images = images
        self.network = network
        self.service_env = service_env
        self.seen = seen

    # -- the sandbox

    def ensure_sandbox(self, pod: Obj) -> SandboxInfo:
        """The pod's running sandbox: the cached one, or ensured by the runtime."""
        uid = str(pod["metadata"]["uid"])
        cached = self.cache.sandboxes.get(uid)
        if cached is not None:
            return cached
        sandbox = self.runtime.ensure_sandbox(sandbox_config(
            pod, scope=self.settings.scope, network=self.network(pod)))
        if (pod.get("spec") or {}).get("hostNetwork"):  # upstream: status.podIP == hostIP
            sandbox = replace(sandbox, ip=self.settings.address)
        if sandbox.running and (sandbox.ip or not sandbox.infra):
            self.cache.sandboxes[uid] = replace(sandbox, fresh=False)
        return sandbox

    def pod_ip(self, sandbox: SandboxInfo, running: ContainerInfo | None) -> str:
        """The sandbox's IP, or (without infra) its running container's."""
        if sandbox.ip or sandbox.infra or running is None or running.state != "running":
            return sandbox.ip
        ip = self.cache.container_ips.get(running.id)
        if ip is None:
            info = self.runtime.inspect_container(running.id)
            ip = info.ip if info is not None else ""
            if ip:
                self.cache.container_ips[running.id] = ip
        return ip

    # -- carrying out

    def execute(self, pod: Obj, sandbox: SandboxInfo, actions: PodActions, st: PodState,
                volumes: Volumes) -> Outcome:
        """Do what ``actions`` say (module docstring)."""
        out = Outcome()
        uid = str(pod["metadata"]["uid"])
        st.exited_seen.update(actions.exited_seen)
        for name, waiting in actions.waiting.items():
            if waiting is None:
                st.waiting.pop(name, None)
            else:
                st.waiting[name] = waiting
        for name, cid in actions.back_off_events:
            st.backoff_noted.add(cid)
            self.recorder.event(pod, "Warning", "BackOff", f"Back-off restarting failed "
                                f"container {name} in pod {pod['metadata']['name']}")
        for kill in actions.kill:
            self.kill(pod, sandbox, kill)
            out.stale = True
        for name in actions.stop_probing:
            self.prober.forget_container(uid, name)
        key = f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"
        for c, info in actions.probe:
            self.prober.ensure(key, uid, c, info.id, self.pod_ip(sandbox, info),
                               info.started_at or self.clock(),
                               assume_passing=was_ready(pod, str(c["name"]), info.id,
                                                        self.runtime.name))
        for start in actions.start:
            delay = self.start(pod, sandbox, start, st, volumes, out)
            if delay is not None:
                out.delays.append(delay)
        if actions.requeue_after is not None:
            out.delays.append(actions.requeue_after)
        return out

    def kill(self, pod: Obj, sandbox: SandboxInfo, kill: ContainerToKill) -> None:
        """Stop one container: its events, its preStop hook, then SIGTERM."""
        name = str(kill.container["name"])
        if kill.reason == "changed":
            self.recorder.event(pod, "Normal", "Killing",
                                f"Container {name} definition changed, will be restarted")
        else:
            self.recorder.event(pod, "Warning", "Unhealthy",
                                f"{kill.reason.capitalize()} probe failed: {kill.message}")
            self.recorder.event(pod, "Normal", "Killing",
                                f"Container {name} failed {kill.reason} probe, will be "
                                "restarted")
        self.prober.forget_container(str(pod["metadata"]["uid"]), name)
        grace = self.pre_stop(pod, kill.container, kill.info.id,
                              self.pod_ip(sandbox, kill.info),
                              grace_period(pod) if kill.grace is None else kill.grace)
        self.runtime.stop_container(kill.info.id, grace)

    def pre_stop(self, pod: Obj, c: Container, cid: str, pod_ip: str, grace: float) -> float:
        """Run ``c``'s preStop hook (if any) inside the grace period; what is left of it for
        SIGTERM (at least MIN_AFTER_PRE_STOP s after a hook, as upstream)."""
        handler = hook(c, "preStop")
        if handler is None:
            return grace
        start = time.monotonic()
        error = run_handler(handler, c, runtime=self.runtime, container_id=cid,
                            pod_ip=pod_ip, timeout=grace)
        if error:
            self.recorder.event(pod, "Warning", "FailedPreStopHook", error)
        return max(MIN_AFTER_PRE_STOP, grace - (time.monotonic() - start))

    def stop_all(self, pod: Obj, grace: float, *, hooks: bool = True) -> None:
        """Stop every running container of ``pod`` (upstream's killPodWithSyncResult): the
        containers (and ephemeral ones) at once, each on its own: its preStop hook (unless
        not ``hooks``), then SIGTERM with what is left of ``grace``, SIGKILL when that is
        up; then the sidecars, one at a time in the reverse of their order in the spec, each
        with what is left of the same grace period (at least MIN_AFTER_PRE_STOP s), so they
        serve the containers until those have gone. The pod takes one grace period, not one
        per container, and a container without a hook is not kept waiting for another's."""
        spec = pod.get("spec") or {}
        specs = {str(c.get("name")): c for c in [*(spec.get("initContainers") or []),
                                                 *(spec.get("containers") or [])]}
        order = [str(c.get("name")) for c in spec.get("initContainers") or []
                 if is_sidecar(c)]
        running = [info for info in self.runtime.list_containers(
            {LABEL_POD_UID: pod["metadata"]["uid"]}) if info.state == "running"]
        sidecars = sorted((i for i in running if i.labels.get(LABEL_CONTAINER) in order),
                          key=lambda i: -order.index(str(i.labels.get(LABEL_CONTAINER))))
        others = [i for i in running if i not in sidecars]
        pod_ip = str((pod.get("status") or {}).get("podIP") or "")
        deadline = time.monotonic() + grace

        def stop(info: ContainerInfo, within: float = grace) -> None:
            c = specs.get(str(info.labels.get(LABEL_CONTAINER))) if hooks else None
            left = within if c is None else self.pre_stop(pod, c, info.id, pod_ip, within)
            self.runtime.stop_container(info.id, left)

        if len(others) == 1:
            stop(others[0])
        elif others:
            with ThreadPoolExecutor(max_workers=len(others),
                                    thread_name_prefix="stop") as pool:
                list(pool.map(stop, others))
        for info in sidecars:
            stop(info, max(MIN_AFTER_PRE_STOP, deadline - time.monotonic()))

    # -- starting a container

    def start(self, pod: Obj, sandbox: SandboxInfo, start: ContainerToStart, st: PodState,
              volumes: Volumes, out: Outcome) -> float | None:
        """Start one container (module docstring); the delay after which to look again, or
        None."""
        c = start.container
        name = str(c["name"])
        wait = self._image(pod, c, st)
        if wait is not None:
            return wait
        try:
            spec = self._config(pod, sandbox, start, volumes)
        except ContainerConfigError as e:
            st.waiting[name] = ("CreateContainerConfigError", e.message)
            self.recorder.event(pod, "Warning", "Failed", f"Error: {e.message}")
            return min(CONFIG_RETRY, self.settings.resync_period)
        if start.ephemeral:
            placed = ephemeral_config(pod, c, spec, infra=sandbox.infra,
                                      containers=self.runtime.list_containers(
                                          {LABEL_POD_UID: pod["metadata"]["uid"]}))
            if isinstance(placed, str):
                st.waiting[name] = ("ContainerCreating", placed)
                return min(EPHEMERAL_RETRY, self.settings.resync_period)
            spec = placed
        cid = self._create(pod, sandbox, c, spec)
        self.recorder.event(pod, "Normal", "Created", f"Created container {name}")
        try:
            try:
                start_keeping_address(self.runtime, cid, spec, start.previous or ())
            except RuntimeFailure as e:
                if not spec.ip or ADDRESS_TAKEN not in e.message:
                    raise
                # another pod took the address while this container was down: any address
                log.info("%s: %s got another address: %s", self.settings.name, spec.name,
                         e.message)
                self.runtime.remove_container(cid)
                cid = self._create(pod, sandbox, c, replace(spec, ip=""))
                self.runtime.start_container(cid)
        except RuntimeFailure as e:
            out.stale = True
            st.waiting[name] = ("RunContainerError", e.message)
            st.start_errors[cid] = e.message
            self.recorder.event(pod, "Warning", "Failed", f"Error: {e.message}")
            return min(self.settings.backoff.base, self.settings.resync_period)
        st.waiting.pop(name, None)
        self.recorder.event(pod, "Normal", "Started", f"Started container {name}")
        if not self._post_start(pod, sandbox, c, cid):
            out.stale = True
            return 0.0
        for old in (start.previous or ())[:-1]:  # keep the latest exited one for --previous
            self.runtime.remove_container(old.id)
            st.exited_seen.pop(old.id, None)
        self._started(sandbox, name, cid, out, first=start.previous is None)
        return None

    def _image(self, pod: Obj, c: Container, st: PodState) -> float | None:
        """None when the image is there; else the delay before trying again (and the
        container waits with ErrImagePull, ImagePullBackOff or ErrImageNeverPull)."""
        name, image = str(c["name"]), str(c.get("image"))
        policy = str(c.get("imagePullPolicy") or "IfNotPresent")
        now = self.clock()
        present = policy != "Always" and self.images.present(image)
        step = image_step(policy, present, st.pull_retry_at.get(name, 0.0), now)
        if step == "use":
            if policy == "IfNotPresent":
                self.recorder.event(pod, "Normal", "Pulled",
                                    f'Container image "{image}" already present on machine')
            return None
        if step == "never":
            msg = f'Container image "{image}" is not present with pull policy of Never'
            st.waiting[name] = ("ErrImageNeverPull", msg)
            self.recorder.event(pod, "Warning", "ErrImageNeverPull", msg)
            return self.settings.resync_period
        if step == "back-off":
            st.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            return st.pull_retry_at[name] - now
        self.recorder.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        try:
            self.runtime.pull(image)
        except ImageError as e:
            fails = st.pull_failures.get(name, 0) + 1
            st.pull_failures[name] = fails
            delay = pull_delay(fails, self.settings.backoff)
            st.pull_retry_at[name] = now + delay
            msg = f'Failed to pull image "{image}": {e.message}'
            st.waiting[name] = ("ErrImagePull", msg)
            self.recorder.event(pod, "Warning", "Failed", msg)
            return delay / 2  # look again meanwhile: ImagePullBackOff until the retry
        st.pull_failures.pop(name, None)
        self.recorder.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}"')
        return None

    def _config(self, pod: Obj, sandbox: SandboxInfo, start: ContainerToStart,
                volumes: Volumes) -> ContainerSpec:
        """The container's configuration; ContainerConfigError when it cannot be made yet."""
        c = start.container
        if volumes.paths is None:
            raise ContainerConfigError(volumes.error)
        env = resolve_env(pod, c, self.get, pod_ip=sandbox.ip, host_ip=self.settings.address,
                          allocatable=self.allocatable())
        env = {**self.service_env(pod), **env}  # service links first, the pod's env wins
        mounts = container_mounts(c, volumes.paths) + \
            self.messages.mount(pod, c, start.attempt)
        image_user = self.images.user(str(c.get("image"))) if needs_image_user(pod, c) else ""
        security = container_security(pod, c, seccomp_root=self.settings.seccomp_root,
                                      image_user=image_user)
        resolved = Resolved(env=env, mounts=mounts, security=security,
                            network=self.network(pod) if not sandbox.infra else {})
        return container_config(pod, c, resolved, attempt=start.attempt, init=start.init,
                                sandbox=sandbox, scope=self.settings.scope,
                                restart=start.previous is not None)

    def _post_start(self, pod: Obj, sandbox: SandboxInfo, c: Container, cid: str) -> bool:
        """Run the postStart hook (the container counts as running once it is done); False
        when it failed and the container was stopped."""
        handler = hook(c, "postStart")
        if handler is None:
            return True
        error = run_handler(handler, c, runtime=self.runtime, container_id=cid,
                            pod_ip=sandbox.ip or self._ip_of(cid), timeout=POST_START_LIMIT)
        if not error:
            return True
        self.recorder.event(pod, "Warning", "FailedPostStartHook", error)
        self.recorder.event(pod, "Normal", "Killing",
                            f"FailedPostStartHook: stopping container {c['name']}")
        self.runtime.stop_container(cid, grace_period(pod))
        return False

    def _ip_of(self, cid: str) -> str:
        info = self.runtime.inspect_container(cid)
        return info.ip if info is not None else ""

    def _create(self, pod: Obj, sandbox: SandboxInfo, c: Container,
                spec: ContainerSpec) -> str:
        try:
            return self.runtime.create_container(sandbox.id, spec)
        except RuntimeFailure:
            self.cache.sandboxes.pop(str(pod["metadata"]["uid"]), None)  # look again
            self.images.forget(str(c.get("image")))
            raise

    def _started(self, sandbox: SandboxInfo, name: str, cid: str, out: Outcome, *,
                 first: bool) -> None:
        """Look at a container just started (one inspect): it is the status's news (no list
        of the pod's containers needed for a first start), its IP is the pod's (without
        infra), and the relist learns it is running, so it does not sync the pod again for
        a change the kubelet made itself."""
        info = self.runtime.inspect_container(cid)
        if info is None or not first:
            out.stale = True
        else:
            out.started[name] = info
        if info is not None and info.state == "running":
            if info.ip and not sandbox.infra:
                self.cache.container_ips[cid] = info.ip
            self.seen(info)


__all__ = ["ADDRESS_WAIT", "ExecutorSettings", "NodeParts", "Outcome", "PodExecutor", "Volumes",
           "start_keeping_address"]
