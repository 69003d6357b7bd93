"""Simulated nodes (kwok-like): many Nodes in one process, no containers.

``SimulatedCluster(client, nodes=100).start()`` registers ``nodes`` Nodes named
``sim-node-0`` ... (a ``NodeTemplate`` gives their name prefix, capacity ``cpu``/``memory``/
``pods`` and labels), heartbeats for them, and runs the pods bound to them. Two modes:

- ``light`` (default; cheap enough for 5,000 nodes): one shared Pod informer and one loop
  for all nodes. A pod bound to a simulated node becomes Running and Ready ``start_delay``
  seconds after it was seen, with a simulated pod IP and complete containerStatuses. Pods
  annotated ``sim.gitkube.io/run-seconds: "N"`` exit after N seconds with
  ``sim.gitkube.io/exit-code`` (default 0): restartPolicy Never -> Succeeded/Failed,
  OnFailure with 0 -> Succeeded, otherwise the container restarts (restartCount + 1). A pod
  with ``deletionTimestamp`` is removed (grace 0). Heartbeats are spread over
  ``heartbeat_interval``.
- ``full``: one real ``Kubelet`` per node on a ``SimulatedRuntime`` (the same code path as on
  Podman: probes are simulated, back-off, init containers, status rules). For tens of nodes.
  Their volumes live under ``root_dir/<node>`` (default: a temporary directory of the
  cluster's own, removed by ``stop()``).

``fail_pod(ns, name, exit_code=1)`` makes a pod's containers exit (light: phase Failed;
full: the runtime's containers exit and the kubelet applies the restart policy);
``fail_node(name)`` stops heartbeats and pod handling for that node (the node-lifecycle
controller then marks it NotReady); ``revive_node(name)`` resumes them.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube.agents.kubelet import node as nodes
from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
from gitkube.agents.manager import Manager, key_of
from gitkube.api.client import Client, CreateOp
from gitkube.errors import AlreadyExists, APIError, Conflict, GitkubeError, NotFound
from gitkube.model.times import rfc3339
from gitkube.runtime.base import LABEL_POD_UID
from gitkube.runtime.simulated import SimulatedRuntime

log = logging.getLogger("gitkube.kubelet.simulate")
Obj = dict[str, Any]
RUN_SECONDS = "sim.gitkube.io/run-seconds"
EXIT_CODE = "sim.gitkube.io/exit-code"


def _ready_status(pod: Obj, ip: str, node_ip: str, now: float, *, restarts: int = 0,
                  running: bool = True, exit_code: int = 0) -> Obj:
    stamp = rfc3339(now)
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    statuses = []
    for c in spec.get("containers") or []:
        state: Obj
        if running:
            state = {"running": {"startedAt": stamp}}
        else:
            state = {"terminated": {"exitCode": exit_code, "startedAt": old.get("startTime")
                                    or stamp, "finishedAt": stamp,
                                    "reason": "Completed" if exit_code == 0 else "Error"}}
        statuses.append({"name": c.get("name"), "image": c.get("image", ""),
                         "imageID": f"simulated://{c.get('image', '')}", "ready": running,
                         "restartCount": restarts, "started": running, "state": state,
                         "lastState": {},
                         "containerID": f"simulated://{pod['metadata']['uid']}-{c.get('name')}"})
    if running:
        phase = "Running"
    elif exit_code == 0:
        phase = "Succeeded"
    else:
        phase = "Failed"
    ready = "True" if running else "False"
    conditions = [{"type": t, "status": s, "lastTransitionTime": stamp} for t, s in (
        ("Initialized", "True"), ("Ready", ready), ("ContainersReady", ready),
        ("PodScheduled", "True"))]
    status: Obj = {"phase": phase, "conditions": conditions, "hostIP": node_ip,
                   "podIP": ip, "podIPs": [{"ip": ip}],
                   "startTime": old.get("startTime") or stamp, "containerStatuses": statuses,
                   "qosClass": old.get("qosClass") or "BestEffort"}
    return status


@dataclass(frozen=True)
class NodeTemplate:
    """What every simulated node looks like: its name (``prefix`` and its index), its
    capacity and its labels (besides ``type: simulated``)."""

    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110
    prefix: str = "sim-node-"
    labels: Mapping[str, str] = field(default_factory=dict)


class SimulatedCluster:
    """Simulated nodes and their pods (see the module docstring). An Agent."""

    register_batch = 500  # Nodes created per transaction

    def __init__(self, client: Client, nodes: int = 10, *,
                 template: NodeTemplate = NodeTemplate(), start_delay: float = 0.0,
                 heartbeat_interval: float = 10.0, mode: str = "light",
                 manager: Manager | None = None, root_dir: Path | None = None):
        if mode not in ("light", "full"):
            raise ValueError("mode must be 'light' or 'full'")
        self.name = f"simulated-cluster/{template.prefix}"
        self.client = client
        self.count = nodes
        cpu, memory, pods = template.cpu, template.memory, template.pods
        self.cpu, self.memory, self.pods_per_node = cpu, memory, pods
        self.start_delay = start_delay
        self.heartbeat_interval = heartbeat_interval
        self.mode = mode
        self.labels = dict(template.labels)
        self.node_names = [f"{template.prefix}{i}" for i in range(nodes)]
        self._node_set = set(self.node_names)
        self._failed: set[str] = set()
        self._own_manager = manager is None
        self.manager = manager or Manager(client)
        self.clock: Callable[[], float] = self.manager.clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, str]] = []
        self._failures: dict[str, int] = {}  # pod key -> syncs failed in a row
        self._seq = 0
        self._ips: dict[str, str] = {}
        self._next_ip = 1
        self.kubelets: list[Kubelet] = []
        self.runtime: SimulatedRuntime | None = None
        self._own_root: Path | None = None
        if mode == "full":
            self.runtime = SimulatedRuntime(start_delay=start_delay, clock=self.clock)
            if root_dir is None:
                root_dir = self._own_root = Path(tempfile.mkdtemp(prefix="gitkube-sim-"))
            for name in self.node_names:
                cfg = KubeletConfig(node_name=name, cpu=cpu, memory=memory, pods=pods,
                                    labels=dict(self.labels), heartbeat_interval=heartbeat_interval,
                                    workers=2, relist_period=1.0, root_dir=root_dir / name)
                kubelet = Kubelet(self.manager, self.runtime, cfg)
                self.kubelets.append(kubelet)
                self.manager.add(kubelet)
        else:
            self.informer = self.manager.informer("v1", "Pod")
            self.informer.add_handler(self._on_pod, lambda _o, n: self._on_pod(n), None)
            self.manager.add(_LoopAgent(self))

    # -- lifecycle

    def start(self) -> None:
        """Start the manager this cluster made (an external manager starts it itself)."""
        if self._own_manager and not self.manager.running:
            self.manager.start()

    def stop(self) -> None:
        if self._own_manager:
            self.manager.stop()
        else:
            self._stop_loops()
        if self._own_root is not None:
            shutil.rmtree(self._own_root, ignore_errors=True)

    def __enter__(self) -> SimulatedCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_loops(self) -> None:
        self._stop.clear()
        self._register_all()
        for target in (self._heartbeat_loop, self._pod_loop):
            t = threading.Thread(target=target, daemon=True, name=f"{self.name} loop")
            t.start()
            self._threads.append(t)
        for pod in self.informer.list():
            self._on_pod(pod)

    def _stop_loops(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    # -- failure injection

    def fail_node(self, name: str) -> None:
        """Stop heartbeats and pod handling for ``name``."""
        self._failed.add(name)
        for k in self.kubelets:
            if k.node_name == name:
                k.stop()

    def revive_node(self, name: str) -> None:
        self._failed.discard(name)
        for k in self.kubelets:
            if k.node_name == name:
                k.start()
        if self.mode == "light":
            for pod in self.informer.list():
                self._on_pod(pod)

    def fail_pod(self, namespace: str, name: str, exit_code: int = 1) -> None:
        """Make the pod's containers exit with ``exit_code``."""
        pod = self.client.get("v1", "Pod", namespace, name)
        if self.runtime is not None:
            for info in self.runtime.list_containers({LABEL_POD_UID: pod["metadata"]["uid"]}):
                self.runtime.fail_container(info.id, exit_code)
            return
        node_ip = self._node_ip(str(pod["spec"].get("nodeName")))
        status = _ready_status(pod, self._ip(pod), node_ip, self.clock(), running=False,
                               exit_code=exit_code)
        if exit_code == 0:
            status["phase"] = "Succeeded"
        self._write(pod, status)

    # -- light mode internals

    def _node_ip(self, name: str) -> str:
        try:
            i = self.node_names.index(name) if len(self.node_names) < 1000 else int(
                name.rsplit("-", 1)[-1])
        except ValueError:
            i = 0
        return f"10.{64 + (i >> 16) % 64}.{(i >> 8) & 255}.{i & 255}"

    def _ip(self, pod: Obj) -> str:
        uid = str(pod["metadata"]["uid"])
        ip = self._ips.get(uid)
        if ip is None:
            n = self._next_ip
            self._next_ip += 1
            ip = f"10.{128 + (n >> 16) % 64}.{(n >> 8) & 255}.{n & 255}"
            self._ips[uid] = ip
        return ip

    def _register_all(self) -> None:
        now = self.clock()
        ops = []
        for name in self.node_names:
            obj = nodes.node_object(name, cpu=self.cpu, memory=self.memory,
                                    pods=self.pods_per_node, address=self._node_ip(name),
                                    now=now, labels={"type": "simulated", **self.labels},
                                    runtime_version="simulated://1")
            ops.append(CreateOp(obj))
        for i in range(0, len(ops), self.register_batch):
            batch = ops[i:i + self.register_batch]
            try:
                self.client.transaction(batch)
            except (AlreadyExists, APIError):
                for op in batch:  # some exist already: one by one
                    nodes.register(self.client, op.object)

    def _heartbeat_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            gap = self.heartbeat_interval / max(1, len(self.node_names))
            for i, name in enumerate(self.node_names):
                if self._stop.is_set():
                    return
                if name in self._failed:
                    continue
                with contextlib.suppress(Exception):
                    nodes.heartbeat(self.client, name, self.clock())
                wait = started + gap * (i + 1) - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
            rest = started + self.heartbeat_interval - time.monotonic()
            if rest > 0 and self._stop.wait(rest):
                return

    def _on_pod(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in self._node_set:
            return
        meta = pod["metadata"]
        status = pod.get("status") or {}
        if meta.get("deletionTimestamp"):
            self._schedule(key_of(pod), 0.0)
            return
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        if status.get("phase") != "Running":
            self._schedule(key_of(pod), self.start_delay)

    def _schedule(self, key: str, delay: float) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._due, (time.monotonic() + delay, self._seq, key))
            self._cond.notify()

    def _pod_loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set():
                    now = time.monotonic()
                    if self._due and self._due[0][0] <= now:
                        _, _, key = heapq.heappop(self._due)
                        break
                    self._cond.wait(None if not self._due else self._due[0][0] - now)
                else:
                    return
            try:
                self._sync(key)
            except Conflict:
                self._schedule(key, 0.05)
            except Exception as exc:  # the api is away (a daemon restarting): never drop it
                self._retry(key, exc)
            else:
                self._failures.pop(key, None)

    def _retry(self, key: str, exc: Exception) -> None:
        """Sync ``key`` again after a back-off (0.1 s doubling to 30 s); say the first
        failure of a pod, and a bug's traceback, once."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        if failures == 1:
            if isinstance(exc, GitkubeError):
                log.warning("simulated pod %s: %s (retrying)", key, exc.message)
            else:
                log.exception("simulated pod %s (retrying)", key)
        self._schedule(key, min(30.0, 0.1 * 2 ** (failures - 1)))

    def _sync(self, key: str) -> None:
        pod = self.informer.get(key)
        if pod is None:
            return
        node = str((pod.get("spec") or {}).get("nodeName"))
        if node not in self._node_set or node in self._failed:
            return
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            with contextlib.suppress(NotFound):
                self.client.delete("v1", "Pod", meta.get("namespace"), meta["name"],
                                   grace_period_seconds=0, uid=meta.get("uid"))
            return
        status = pod.get("status") or {}
        now = self.clock()
        annotations = meta.get("annotations") or {}
        if status.get("phase") != "Running":
            if status.get("phase") in ("Succeeded", "Failed"):
                return
            self._write(pod, _ready_status(pod, self._ip(pod), self._node_ip(node), now))
            if RUN_SECONDS in annotations:
                self._schedule(key, float(annotations[RUN_SECONDS]))
            return
        if RUN_SECONDS not in annotations:
            return
        code = int(annotations.get(EXIT_CODE, "0"))
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            self._write(pod, _ready_status(pod, self._ip(pod), self._node_ip(node), now,
                                           running=False, exit_code=code))
            return
        restarts = max([int(c.get("restartCount", 0)) for c in
                        status.get("containerStatuses") or []] or [0]) + 1
        self._write(pod, _ready_status(pod, self._ip(pod), self._node_ip(node), now,
                                       restarts=restarts))
        self._schedule(key, float(annotations[RUN_SECONDS]))

    def _write(self, pod: Obj, status: Obj) -> None:
        fresh = copy.deepcopy(pod)
        fresh["status"] = status
        fresh["metadata"].pop("resourceVersion", None)
        with contextlib.suppress(NotFound):
            self.client.update_status(fresh)


class _LoopAgent:
    """The light mode's loops as an Agent of the manager."""

    def __init__(self, cluster: SimulatedCluster):
        self.name = cluster.name
        self.cluster = cluster

    def start(self) -> None:
        self.cluster._start_loops()

    def stop(self) -> None:
        self.cluster._stop_loops()
