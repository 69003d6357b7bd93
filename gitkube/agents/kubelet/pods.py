"""Syncing one pod: volumes, the sandbox, init containers, containers, back-off, status.

``PodSync`` is the Kubelet's half that acts on one pod (agent.py holds the other half: the
node, the queues, the loops and deletion). Everything here reads the pod it is given and the
runtime's containers (found by labels), starts what is missing, restarts per restartPolicy
with back-off, and writes the status when it changed (status.py computes it).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitkube.agents.events import EventRecorder
from gitkube.agents.kubelet.config import KubeletConfig
from gitkube.agents.kubelet.lifecycle import (
    MIN_AFTER_PRE_STOP,
    POST_START_LIMIT,
    hook,
    run_handler,
)
from gitkube.agents.kubelet.node import host_capacity
from gitkube.agents.kubelet.probes import Prober
from gitkube.agents.kubelet.security import container_security, needs_image_user, own_volumes
from gitkube.agents.kubelet.status import ContainerView, compute_status
from gitkube.agents.kubelet.volumes import (
    ContainerConfigError,
    Getter,
    container_mounts,
    expand,
    prepare_volumes,
    resolve_env,
)
from gitkube.agents.manager import Informer, Result
from gitkube.api.client import Client
from gitkube.errors import Conflict, NotFound
from gitkube.model.network import container_service_env
from gitkube.model.quantity import parse_quantity
from gitkube.runtime.base import (
    ADDRESS_TAKEN,
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_GRACE,
    LABEL_IMAGE,
    LABEL_INIT,
    LABEL_MANAGED,
    LABEL_NAMESPACE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    ImageError,
    Mount,
    PortMapping,
    RuntimeFailure,
    SandboxInfo,
    SandboxSpec,
)
from gitkube.runtime.network import sandbox_fields

log = logging.getLogger("gitkube.kubelet")
Obj = dict[str, Any]
IMAGE_TTL = 30.0  # seconds an image seen present is not looked up again


@dataclass
class _PodState:
    exited_seen: dict[str, float] = field(default_factory=dict)  # container id -> first seen
    pull_failures: dict[str, int] = field(default_factory=dict)
    pull_retry_at: dict[str, float] = field(default_factory=dict)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    backoff_noted: set[str] = field(default_factory=set)
    start_errors: dict[str, str] = field(default_factory=dict)  # container id -> error
    # within one sync: containers started (as inspected right after), and whether anything
    # else changed the pod's containers (then they are listed again before the status)
    started: dict[str, ContainerInfo] = field(default_factory=dict)
    stale: bool = False
    # emptyDir and claim volumes already given to the pod's fsGroup (done once per pod)
    owned_volumes: set[str] = field(default_factory=set)


def _attempt(info: ContainerInfo) -> int:
    try:
        return int(info.labels.get(LABEL_ATTEMPT, "0"))
    except ValueError:
        return 0


def _fmt(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m0s"
    return f"{seconds:g}s"


MESSAGE_LIMIT = 4096  # bytes of a terminationMessagePath file, as upstream
LOG_MESSAGE_LIMIT = 2048  # bytes of log tail for FallbackToLogsOnError, as upstream
ADDRESS_WAIT = 3.0  # s a restarted container waits for its predecessor to free the address
_capacity = functools.cache(host_capacity)  # the machine's cpu and memory: read once


def host_aliases(pod: Obj) -> tuple[tuple[str, str], ...]:
    """``spec.hostAliases`` as /etc/hosts entries (name, ip), in their order."""
    return tuple((str(name), str(alias.get("ip")))
                 for alias in (pod.get("spec") or {}).get("hostAliases") or []
                 for name in alias.get("hostnames") or [])


class PodSync:
    """Acts on one pod at a time (mixed into Kubelet, which sets these attributes)."""

    name: str
    config: KubeletConfig
    client: Client
    runtime: ContainerRuntime
    recorder: EventRecorder
    prober: Prober
    clock: Callable[[], float]
    root: Path
    services: Informer | None
    _get: Getter
    _scope: dict[str, str]
    _states: dict[str, _PodState]
    _states_lock: threading.Lock
    _sandboxes: dict[str, SandboxInfo]
    _container_ips: dict[str, str]
    _images: dict[str, float]
    _image_users: dict[str, str]
    _messages: dict[str, str]  # container id -> its termination message
    _bound: set[tuple[str, str]]

    def _state(self, uid: str) -> _PodState:
        with self._states_lock:
            return self._states.setdefault(uid, _PodState())

    def _labels(self, pod: Obj) -> dict[str, str]:
        meta = pod["metadata"]
        return {LABEL_MANAGED: "true", LABEL_POD_UID: str(meta["uid"]),
                LABEL_NAMESPACE: str(meta.get("namespace") or "default"),
                LABEL_POD_NAME: str(meta["name"]), **self._scope}

    @staticmethod
    def _host_ports(pod: Obj) -> tuple[PortMapping, ...]:
        ports = []
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("hostPort"):
                    ports.append(PortMapping(container_port=int(p["containerPort"]),
                                             host_port=int(p["hostPort"]),
                                             protocol=str(p.get("protocol") or "TCP"),
                                             host_ip=str(p.get("hostIP") or "")))
        return tuple(ports)

    @staticmethod
    def needs_infra(pod: Obj) -> bool:
        """A pod of one container (no init containers, no shared PID namespace, no
        status.podIP in its env) has nothing to share: its sandbox needs no infra container,
        which makes it start about a third faster. Its IP is then its container's."""
        spec = pod.get("spec") or {}
        containers = spec.get("containers") or []
        if len(containers) != 1 or spec.get("initContainers") or \
                spec.get("shareProcessNamespace"):
            return True
        for e in containers[0].get("env") or []:
            ref = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if ref == "status.podIP":
                return True
        return False

    def _sandbox(self, pod: Obj) -> SandboxInfo:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        cached = self._sandboxes.get(str(meta["uid"]))
        if cached is not None:
            return cached
        infra = self.needs_infra(pod)
        host_net = bool(spec.get("hostNetwork"))
        ports = self._host_ports(pod) if infra and not host_net else ()
        labels = self._labels(pod)
        labels[LABEL_GRACE] = str(spec.get("terminationGracePeriodSeconds", 30))
        sandbox = self.runtime.ensure_sandbox(SandboxSpec(
            name=f"{meta['name']}_{meta.get('namespace', 'default')}_{str(meta['uid'])[:8]}",
            labels=labels, hostname=str(spec.get("hostname") or meta["name"])[:63],
            share_pid=bool(spec.get("shareProcessNamespace")), ports=ports, infra=infra,
            hosts=host_aliases(pod), host_network=host_net, host_ipc=bool(spec.get("hostIPC")),
            **self._net_fields(pod)))
        if host_net:  # the pod's IP is the node's (upstream: status.podIP == hostIP)
            sandbox = replace(sandbox, ip=self.config.address)
        if sandbox.running and (sandbox.ip or not sandbox.infra):
            self._sandboxes[str(meta["uid"])] = replace(sandbox, fresh=False)
        return sandbox

    def _net_fields(self, pod: Obj) -> dict[str, Any]:
        """The pod network and resolv.conf fields (hostNetwork: the resolv.conf only)."""
        if not self.config.network:
            return {}
        fields = sandbox_fields(pod, self.config.network)
        if (pod.get("spec") or {}).get("hostNetwork"):
            fields.pop("network", None)
        return fields

    def _sync(self, key: str, pod: Obj) -> Result:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = str(meta["uid"])
        st = self._state(uid)
        policy = str(spec.get("restartPolicy") or "Always")
        try:
            volumes: dict[str, Path] | None = prepare_volumes(pod, self.root, self._get,
                                                              self._allocatable())
            own_volumes(pod, volumes or {}, st.owned_volumes)
            volume_error = ""
        except ContainerConfigError as e:
            volumes, volume_error = None, e.message
        if volumes is not None:
            self._bind_claims(pod)
        sandbox = self._sandbox(pod)
        # a sandbox created just now holds no container: nothing to list
        history = {} if sandbox.fresh else self._history(uid)
        st.started.clear()
        st.stale = False
        delays: list[float] = [self.config.resync_period]
        inits = list(spec.get("initContainers") or [])
        containers = list(spec.get("containers") or [])
        init_done = True
        for c in inits:
            hist = history.get(c["name"], [])
            if hist and hist[-1].state == "exited" and hist[-1].exit_code == 0:
                continue
            init_done = False
            delay = self._drive(key, pod, sandbox, c, hist, st, volumes, volume_error,
                                "Never" if policy == "Never" else "OnFailure", init=True)
            if delay is not None:
                delays.append(delay)
            break
        if init_done:
            for c in containers:
                delay = self._drive(key, pod, sandbox, c, history.get(c["name"], []), st,
                                    volumes, volume_error, policy, init=False)
                if delay is not None:
                    delays.append(delay)
        if st.stale:
            history = self._history(uid)
        else:  # only first starts happened (or nothing): their inspection is the news
            for cname, info in st.started.items():
                history.setdefault(cname, []).append(info)
        st.started.clear()
        self._write_status(pod, sandbox, history, st, inits, containers)
        return Result(requeue_after=max(0.05, min(delays)))

    def _bind_claims(self, pod: Obj) -> None:
        """A claim a pod mounts is a directory under the kubelet's root (volumes.py): once
        it exists, report the claim Bound with its requested capacity (no provisioner runs
        here, so nothing else would)."""
        ns = pod["metadata"].get("namespace") or "default"
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim or (ns, claim) in self._bound:
                continue
            try:
                pvc = self.client.get("v1", "PersistentVolumeClaim", ns, claim)
            except NotFound:
                continue
            if (pvc.get("status") or {}).get("phase") != "Bound":
                spec = pvc.get("spec") or {}
                storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
                status: Obj = {"phase": "Bound",
                               "accessModes": spec.get("accessModes") or ["ReadWriteOnce"]}
                if storage:
                    status["capacity"] = {"storage": storage}
                with contextlib.suppress(NotFound, Conflict):
                    self.client.patch("v1", "PersistentVolumeClaim", ns, claim,
                                      {"status": status}, subresource="status")
            self._bound.add((ns, claim))

    def _history(self, uid: str) -> dict[str, list[ContainerInfo]]:
        by_name: dict[str, list[ContainerInfo]] = {}
        for info in self.runtime.list_containers({LABEL_POD_UID: uid}):
            by_name.setdefault(info.labels.get(LABEL_CONTAINER, ""), []).append(info)
        for hist in by_name.values():
            hist.sort(key=_attempt)
        return by_name

    def _drive(self, key: str, pod: Obj, sandbox: SandboxInfo, c: Obj,
               hist: list[ContainerInfo], st: _PodState, volumes: dict[str, Path] | None,
               volume_error: str, policy: str, *, init: bool) -> float | None:
        """Move one container toward running (or completed); the delay after which to look
        again, or None."""
        name = str(c["name"])
        uid = str(pod["metadata"]["uid"])
        latest = hist[-1] if hist else None
        now = self.clock()
        if latest is None:
            return self._start(pod, sandbox, c, 0, st, volumes, volume_error, init=init)
        if latest.state == "running" and latest.labels.get(LABEL_IMAGE, c.get("image")) != \
                c.get("image"):  # the pod's image was changed: replace the container
            self.recorder.event(pod, "Normal", "Killing",
                                f"Container {name} definition changed, will be restarted")
            self.prober.forget_container(uid, name)
            grace = self._pre_stop(pod, c, latest.id, self._pod_ip(sandbox, latest),
                                   self._grace(pod))
            self.runtime.stop_container(latest.id, grace)
            st.stale = True
            return self._start(pod, sandbox, c, _attempt(latest) + 1, st, volumes,
                               volume_error, init=init, previous=hist)
        if latest.state == "running":
            st.waiting.pop(name, None)
            self.prober.ensure(key, uid, c, latest.id, self._pod_ip(sandbox, latest),
                               latest.started_at or now,
                               assume_passing=self._was_ready(pod, name, latest.id))
            if init:
                return None
            startup = self.prober.state(uid, name, "startup")
            failed = "startup" if startup is not None and startup.result is False else \
                "liveness" if not self.prober.passing(uid, name, "liveness") else ""
            if failed:
                worker = self.prober.state(uid, name, failed)  # type: ignore[arg-type]
                msg = worker.message if worker else ""
                self.recorder.event(pod, "Warning", "Unhealthy",
                                    f"{failed.capitalize()} probe failed: {msg}")
                self.recorder.event(pod, "Normal", "Killing",
                                    f"Container {name} failed {failed} probe, will be restarted")
                self.prober.forget_container(uid, name)
                # the probe's own terminationGracePeriodSeconds wins over the pod's
                probe_grace = (c.get(f"{failed}Probe") or {}).get("terminationGracePeriodSeconds")
                grace = self._pre_stop(pod, c, latest.id, self._pod_ip(sandbox, latest),
                                       float(probe_grace) if probe_grace is not None
                                       else self._grace(pod))
                self.runtime.stop_container(latest.id, grace)
                st.stale = True
                return 0.0
            return None
        # exited, or created but never started (a start error): restart per policy
        self.prober.forget_container(uid, name)
        code = latest.exit_code if latest.state == "exited" else 128
        if not (policy == "Always" or (policy == "OnFailure" and code != 0)):
            st.waiting.pop(name, None)
            return None
        attempt = _attempt(latest)
        seen = st.exited_seen.setdefault(latest.id, now)
        delay = min(self.config.backoff_base * (2 ** attempt), self.config.backoff_max)
        if latest.started_at and latest.finished_at and \
                latest.finished_at - latest.started_at > 2 * self.config.backoff_max:
            delay = 0.0  # it ran long enough: the back-off starts over
        if now < seen + delay:
            pod_ref = f"{pod['metadata']['name']}_{pod['metadata'].get('namespace')}({uid})"
            error = st.start_errors.get(latest.id)
            st.waiting[name] = ("CrashLoopBackOff",
                                f"back-off {_fmt(delay)} restarting failed container={name} "
                                f"pod={pod_ref}" + (f": {error}" if error else ""))
            if latest.id not in st.backoff_noted:
                st.backoff_noted.add(latest.id)
                self.recorder.event(pod, "Warning", "BackOff",
                                    f"Back-off restarting failed container {name} in pod "
                                    f"{pod['metadata']['name']}")
            return float(seen + delay - now)
        return self._start(pod, sandbox, c, attempt + 1, st, volumes, volume_error, init=init,
                           previous=hist)

    def _pod_ip(self, sandbox: SandboxInfo, running: ContainerInfo | None) -> str:
        """The sandbox's IP, or (without infra) its running container's."""
        if sandbox.ip or sandbox.infra or running is None or running.state != "running":
            return sandbox.ip
        ip = self._container_ips.get(running.id)
        if ip is None:
            info = self.runtime.inspect_container(running.id)
            ip = info.ip if info is not None else ""
            if ip:
                self._container_ips[running.id] = ip
        return ip

    def _was_ready(self, pod: Obj, name: str, container_id: str) -> bool:
        """Whether the pod's last status reported this very container instance ready (a
        restarted kubelet keeps that until a probe says otherwise)."""
        wanted = f"{self.runtime.name}://{container_id}"
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("name") == name and cs.get("containerID") == wanted:
                return bool(cs.get("ready"))
        return False

    def _image_ready(self, pod: Obj, c: Obj, st: _PodState) -> float | None:
        """None when the image is there; else the delay before trying again (and the
        container waits with ErrImagePull, ImagePullBackOff or ErrImageNeverPull)."""
        name, image = str(c["name"]), str(c.get("image"))
        policy = str(c.get("imagePullPolicy") or "IfNotPresent")
        now = self.clock()
        present = policy != "Always" and self._image_present(image)
        if policy == "Never":
            if not present:
                msg = f'Container image "{image}" is not present with pull policy of Never'
                st.waiting[name] = ("ErrImageNeverPull", msg)
                self.recorder.event(pod, "Warning", "ErrImageNeverPull", msg)
                return self.config.resync_period
            return None
        if present and policy == "IfNotPresent":
            self.recorder.event(pod, "Normal", "Pulled",
                                f'Container image "{image}" already present on machine')
            return None
        retry_at = st.pull_retry_at.get(name, 0.0)
        if now < retry_at:
            st.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            return retry_at - now
        self.recorder.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        try:
            self.runtime.pull(image)
        except ImageError as e:
            fails = st.pull_failures.get(name, 0) + 1
            st.pull_failures[name] = fails
            delay = min(self.config.backoff_base * 2 ** (fails - 1), self.config.backoff_max)
            st.pull_retry_at[name] = now + delay
            msg = f'Failed to pull image "{image}": {e.message}'
            st.waiting[name] = ("ErrImagePull", msg)
            self.recorder.event(pod, "Warning", "Failed", msg)
            return float(delay) / 2  # look again meanwhile: ImagePullBackOff until the retry
        st.pull_failures.pop(name, None)
        self.recorder.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}"')
        return None

    def _image_present(self, image: str) -> bool:
        """Whether the image is there; a positive answer is trusted for IMAGE_TTL seconds (a
        burst of replicas asks once), and forgotten when a container fails to be created."""
        seen = self._images.get(image)
        if seen is not None and time.monotonic() - seen < IMAGE_TTL:
            return True
        present = self.runtime.image(image) is not None
        if present:
            self._images[image] = time.monotonic()
        return present

    def _start(self, pod: Obj, sandbox: SandboxInfo, c: Obj, attempt: int, st: _PodState,
               volumes: dict[str, Path] | None, volume_error: str, *, init: bool,
               previous: list[ContainerInfo] | None = None) -> float | None:
        name = str(c["name"])
        wait = self._image_ready(pod, c, st)
        if wait is not None:
            return wait
        try:
            if volumes is None:
                raise ContainerConfigError(volume_error)
            env = resolve_env(pod, c, self._get, pod_ip=sandbox.ip, host_ip=self.config.address,
                              allocatable=self._allocatable())
            if self.services is not None:  # service links first, the pod's env wins
                env = {**container_service_env(pod, self.services.list(
                    pod["metadata"].get("namespace"))), **env}
            mounts = container_mounts(c, volumes) + self._termination_mount(pod, c, attempt)
            image_user = self._image_user(str(c.get("image"))) \
                if needs_image_user(pod, c) else ""
            security = container_security(pod, c, seccomp_root=self.root / "seccomp",
                                          image_user=image_user)
        except ContainerConfigError as e:
            st.waiting[name] = ("CreateContainerConfigError", e.message)
            self.recorder.event(pod, "Warning", "Failed", f"Error: {e.message}")
            return min(2.0, self.config.resync_period)
        limits = (c.get("resources") or {}).get("limits") or {}
        memory = parse_quantity(limits["memory"]).to_int() if limits.get("memory") else None
        cpu = parse_quantity(limits["cpu"]).milli if limits.get("cpu") else None
        command = c.get("command")
        args = c.get("args")
        labels = self._labels(pod)
        labels.update({LABEL_CONTAINER: name, LABEL_ATTEMPT: str(attempt),
                       LABEL_IMAGE: str(c.get("image"))})
        if init:
            labels[LABEL_INIT] = "true"
        spec = ContainerSpec(
            name=f"{sandbox.name}_{name}_{attempt}", image=str(c.get("image")), labels=labels,
            entrypoint=tuple(expand(str(x), env) for x in command) if command else None,
            command=tuple(expand(str(x), env) for x in args) if args is not None else None,
            env=env, working_dir=str(c.get("workingDir") or ""), mounts=mounts,
            memory_limit=memory, cpu_limit_milli=cpu, security=security,
            host_pid=bool((pod.get("spec") or {}).get("hostPID")),
            host_ipc=bool((pod.get("spec") or {}).get("hostIPC")))
        if not sandbox.infra:  # the container owns the network namespace: name, ports, DNS
            net = self._net_fields(pod)
            host_net = bool((pod.get("spec") or {}).get("hostNetwork"))
            spec = replace(spec, hostname=str((pod.get("spec") or {}).get("hostname")
                                              or pod["metadata"]["name"])[:63],
                           ports=() if host_net else self._host_ports(pod),
                           hosts=host_aliases(pod), host_network=host_net, **net)
            if previous is not None and net.get("network"):  # a restart keeps the pod's IP
                spec = replace(spec, ip=str((pod.get("status") or {}).get("podIP") or ""))
        cid = self._create(pod, sandbox, c, spec)
        self.recorder.event(pod, "Normal", "Created", f"Created container {name}")
        try:
            try:
                self._start_keeping_address(cid, spec, previous or [])
            except RuntimeFailure as e:
                if not spec.ip or ADDRESS_TAKEN not in e.message:
                    raise
                # another pod took the address while this container was down: any address
                log.info("%s: %s got another address: %s", self.name, spec.name, e.message)
                self.runtime.remove_container(cid)
                cid = self._create(pod, sandbox, c, replace(spec, ip=""))
                self.runtime.start_container(cid)
        except RuntimeFailure as e:
            st.stale = True
            st.waiting[name] = ("RunContainerError", e.message)
            st.start_errors[cid] = e.message
            self.recorder.event(pod, "Warning", "Failed", f"Error: {e.message}")
            return min(self.config.backoff_base, self.config.resync_period)
        st.waiting.pop(name, None)
        self.recorder.event(pod, "Normal", "Started", f"Started container {name}")
        handler = hook(c, "postStart")
        if handler is not None:  # the container counts as running once its hook is done
            error = run_handler(handler, c, runtime=self.runtime, container_id=cid,
                                pod_ip=sandbox.ip or self._ip_of(cid),
                                timeout=POST_START_LIMIT)
            if error:
                self.recorder.event(pod, "Warning", "FailedPostStartHook", error)
                self.recorder.event(pod, "Normal", "Killing",
                                    f"FailedPostStartHook: stopping container {name}")
                self.runtime.stop_container(cid, self._grace(pod))
                st.stale = True
                return 0.0
        for old in (previous or [])[:-1]:  # keep the latest exited one for --previous
            self.runtime.remove_container(old.id)
            st.exited_seen.pop(old.id, None)
        self._started(sandbox, name, cid, st, first=previous is None)
        return None

    def _start_keeping_address(self, cid: str, spec: ContainerSpec,
                               previous: list[ContainerInfo]) -> None:
        """Start ``cid``. When it asked for its pod's address and the container it replaces
        still holds it (Podman frees an exited container's address in its cleanup, a moment
        after the exit), try again for up to ADDRESS_WAIT s."""
        deadline = time.monotonic() + ADDRESS_WAIT
        while True:
            try:
                self.runtime.start_container(cid)
                return
            except RuntimeFailure as e:
                held_by_predecessor = spec.ip and ADDRESS_TAKEN in e.message and any(
                    old.id and old.id in e.message for old in previous)
                if not held_by_predecessor or time.monotonic() >= deadline:
                    raise
            time.sleep(0.1)

    def _termination_file(self, uid: str, name: str, attempt: int) -> Path:
        return self.root / "pods" / uid / "termination" / f"{name}-{attempt}"

    def _termination_mount(self, pod: Obj, c: Obj, attempt: int) -> tuple[Mount, ...]:
        """An empty file at the container's terminationMessagePath (default
        /dev/termination-log) for it to write why it ended."""
        target = str(c.get("terminationMessagePath") or "/dev/termination-log")
        if not target.startswith("/"):
            raise ContainerConfigError(f"terminationMessagePath {target!r} must be an absolute "
                                       "path")
        path = self._termination_file(str(pod["metadata"]["uid"]), str(c["name"]), attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        path.chmod(0o666)  # whatever user the container runs as may write it
        return (Mount(source=str(path), target=target),)

    def _termination_message(self, uid: str, c: Obj, info: ContainerInfo) -> str:
        """What an exited container left at its terminationMessagePath (at most 4096 bytes);
        with ``FallbackToLogsOnError`` and nothing there after a failure, its log's last
        80 lines (at most 2048 bytes). Read once per container."""
        cached = self._messages.get(info.id)
        if cached is not None:
            return cached
        try:
            text = self._termination_file(uid, str(c["name"]), _attempt(info)).read_bytes()[
                :MESSAGE_LIMIT].decode(errors="replace")
        except OSError:
            text = ""
        if not text.strip() and info.exit_code not in (0, None) and \
                c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            with contextlib.suppress(RuntimeFailure):
                text = "".join(self.runtime.logs(info.id, tail=80))[-LOG_MESSAGE_LIMIT:]
        self._messages[info.id] = text
        return text

    def _ip_of(self, cid: str) -> str:
        info = self.runtime.inspect_container(cid)
        return info.ip if info is not None else ""

    @staticmethod
    def _grace(pod: Obj) -> float:
        value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return float(30 if value is None else value)

    def _pre_stop(self, pod: Obj, c: Obj, cid: str, pod_ip: str, grace: float) -> float:
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

    def _allocatable(self) -> dict[str, str]:
        """This node's allocatable cpu and memory: what a limit not set means."""
        cpu, memory = _capacity()
        return {"cpu": self.config.cpu or cpu, "memory": self.config.memory or memory}

    def _image_user(self, image: str) -> str:
        """The image's USER (asked of the runtime once per image)."""
        user = self._image_users.get(image)
        if user is None:
            info = self.runtime.image(image)
            user = info.user if info is not None else ""
            self._image_users[image] = user
        return user

    def _create(self, pod: Obj, sandbox: SandboxInfo, c: Obj, spec: ContainerSpec) -> str:
        try:
            return self.runtime.create_container(sandbox.id, spec)
        except RuntimeFailure:
            self._sandboxes.pop(str(pod["metadata"]["uid"]), None)  # look again next time
            self._images.pop(str(c.get("image")), None)
            raise

    def _started(self, sandbox: SandboxInfo, name: str, cid: str, st: _PodState, *,
                 first: bool) -> None:
        """Look at a container just started (one inspect): it is the status's news (no list
        of the pod's containers needed for a first start), its IP is the pod's (without
        infra), and the relist learns it is running, so it does not sync the pod again for
        a change the kubelet made itself."""
        info = self.runtime.inspect_container(cid)
        if info is None or not first:
            st.stale = True
        else:
            st.started[name] = info
        if info is not None and info.state == "running":
            if info.ip and not sandbox.infra:
                self._container_ips[cid] = info.ip
            self._seen(info)

    def _seen(self, info: ContainerInfo) -> None:
        """Tell the relist the state of a container the kubelet just looked at (Kubelet)."""

    def _views(self, pod: Obj, specs: list[Obj], history: dict[str, list[ContainerInfo]],
               st: _PodState, *, init: bool) -> list[ContainerView]:
        uid = str(pod["metadata"]["uid"])
        views = []
        for c in specs:
            name = str(c["name"])
            hist = history.get(name, [])
            latest = hist[-1] if hist else None
            reason, message = st.waiting.get(name, ("", ""))
            running = latest is not None and latest.state == "running"
            if running:
                reason, message = "", ""
            elif latest is None and not init and not reason and not all(
                    (h := history.get(str(i["name"]))) and h[-1].state == "exited"
                    and h[-1].exit_code == 0
                    for i in (pod.get("spec") or {}).get("initContainers") or []):
                reason = "PodInitializing"  # upstream's wording while init containers run
            started = running and self.prober.passing(uid, name, "startup")
            ready = (running and not init and started and not reason
                     and self.prober.passing(uid, name, "readiness"))
            previous = hist[-2] if len(hist) > 1 else None
            views.append(ContainerView(
                name=name, image=str(c.get("image")), info=latest, previous=previous,
                restart_count=_attempt(latest) if latest else 0,
                waiting_reason=reason, waiting_message=message, ready=ready,
                started=started, runtime=self.runtime.name,
                messages={i.id: self._termination_message(uid, c, i)
                          for i in (latest, previous) if i is not None and i.state == "exited"}))
        return views

    def _write_status(self, pod: Obj, sandbox: SandboxInfo,
                      history: dict[str, list[ContainerInfo]], st: _PodState, inits: list[Obj],
                      containers: list[Obj]) -> None:
        running = [h[-1] for h in history.values() if h and h[-1].state == "running"]
        status = compute_status(
            pod, self._views(pod, inits, history, st, init=True),
            self._views(pod, containers, history, st, init=False),
            pod_ip=self._pod_ip(sandbox, running[0] if running else None) or (
                "" if sandbox.infra else str((pod.get("status") or {}).get("podIP") or "")),
            host_ip=self.config.address, now=self.clock())
        old = pod.get("status") or {}
        if status == old:
            return
        if old.get("phase") != status["phase"] and status["phase"] in ("Succeeded", "Failed"):
            log.info("%s: pod %s/%s %s", self.name, pod["metadata"].get("namespace"),
                     pod["metadata"]["name"], status["phase"])
        fresh = copy.deepcopy(pod)
        fresh["status"] = status
        fresh["metadata"].pop("resourceVersion", None)
        with contextlib.suppress(NotFound):
            self.client.update_status(fresh)
