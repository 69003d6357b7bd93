"""The kubelet agent: runs the pods bound to its node on a ContainerRuntime.

``Kubelet(manager, runtime, config)`` is an Agent (start/stop) on the shared Pod informer:

- **Node**: registers its Node at start and heartbeats every ``heartbeat_interval`` s.
- **Pods**: every change of a pod whose ``spec.nodeName`` is this node enqueues its key; a
  pool of ``workers`` threads reconciles keys (so pods start in parallel, one key never on
  two threads). ``reconcile(key)`` is level-triggered: it reads the pod from the cache and
  the containers from the runtime (found by labels) and makes them agree:

  * pod gone, or another uid under that name: its sandboxes are stopped (SIGTERM, SIGKILL
    after the grace period recorded on the sandbox) and removed;
  * ``deletionTimestamp`` set: the same, then the pod is removed with grace 0;
  * phase Succeeded/Failed: running containers are stopped, nothing restarts;
  * otherwise: volumes prepared, the sandbox (a Podman pod) ensured, init containers run in
    order to completion, then every container started; exited containers restarted per
    ``restartPolicy`` with back-off ``backoff_base`` doubling to ``backoff_max`` (reason
    CrashLoopBackOff); liveness/startup failures kill the container; the status is written
    back when it changed.

- **Relist** (upstream's PLEG): every ``relist_period`` s the runtime's containers on this
  node are listed; a state change (e.g. a container killed outside gitkube) or a sandbox
  without a pod (deleted while the kubelet was down) enqueues the pod's key.

The pod-level work (volumes, sandbox, containers, back-off, status) is in pods.py
(``PodSync``, which Kubelet extends); settings in config.py.

Restart safety comes from the labels: everything is found again by
``io.gitkube.pod-uid``/``-namespace``/``-name``/``node``, so a restarted kubelet adopts
running containers instead of restarting them. Containers without gitkube's labels are
never touched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gitkube.agents.events import EventRecorder
from gitkube.agents.kubelet import node as nodes
from gitkube.agents.kubelet.config import STORE_ID_RECORD, KubeletConfig, cluster_id
from gitkube.agents.kubelet.lifecycle import hook
from gitkube.agents.kubelet.pods import PodSync, _PodState
from gitkube.agents.kubelet.probes import Prober
from gitkube.agents.kubelet.volumes import getter_for, remove_claim_dir, remove_pod_dir
from gitkube.agents.manager import Manager, Result, WorkQueue, key_of, split_key
from gitkube.errors import Conflict, NotFound
from gitkube.runtime.base import (
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_GRACE,
    LABEL_NAMESPACE,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerInfo,
    ContainerRuntime,
    RuntimeFailure,
    SandboxInfo,
)
from gitkube.runtime.network import prepare_node

log = logging.getLogger("gitkube.kubelet")
Obj = dict[str, Any]
__all__ = ["STORE_ID_RECORD", "Kubelet", "KubeletConfig", "cluster_id"]


def _seen_as(info: ContainerInfo) -> tuple[Any, int | None, str]:
    """What the relist compares: state, exit code, and the pod's key."""
    return (info.state, info.exit_code,
            f"{info.labels.get(LABEL_NAMESPACE)}/{info.labels.get(LABEL_POD_NAME)}")


class Kubelet(PodSync):
    """The kubelet agent (see the module docstring)."""

    def __init__(self, manager: Manager, runtime: ContainerRuntime,
                 config: KubeletConfig | None = None, *,
                 recorder: EventRecorder | None = None):
        self.config = config or KubeletConfig()
        self.node_name = self.config.node_name
        self.name = f"kubelet/{self.node_name}"
        self.manager = manager
        self.client = manager.client
        self.runtime = runtime
        self.clock: Callable[[], float] = manager.clock
        if self.config.root_dir is None:
            raise ValueError("KubeletConfig.root_dir is needed: where pods' volumes live")
        self.root = self.config.root_dir
        self.pods = manager.informer("v1", "Pod")
        self.services = manager.informer("v1", "Service") if self.config.network else None  # 9
        self.queue = WorkQueue()
        self.recorder = recorder or EventRecorder(self.client, "kubelet", self.node_name,
                                                  asynchronous=True)
        self._own_recorder = recorder is None
        self.prober = Prober(runtime, self._enqueue)
        self._get = getter_for(self.client)
        self.cluster = cluster_id(self.client)
        self._scope = {LABEL_NODE: self.node_name, LABEL_CLUSTER: self.cluster,
                       **self.config.runtime_labels}
        self._states: dict[str, _PodState] = {}
        self._states_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._snapshot: dict[str, tuple[Any, int | None, str]] = {}
        self._snapshot_lock = threading.Lock()  # the relist and workers' _seen
        self._sandboxes: dict[str, SandboxInfo] = {}  # pod uid -> its running sandbox
        self._container_ips: dict[str, str] = {}  # container id -> IP (sandboxes w/o infra)
        self._images: dict[str, float] = {}  # image ref -> when last seen present
        self._image_users: dict[str, str] = {}  # image ref -> its USER (securityContext)
        self._deleted_claims: set[tuple[str, str]] = set()  # their data waits for no user
        self._messages: dict[str, str] = {}  # exited container id -> termination message
        self._bound: set[tuple[str, str]] = set()  # claims reported Bound
        self._by_key: dict[str, list[SandboxInfo]] | None = None  # the last relist's view
        self.syncs = 0
        self._initial: set[str] | None = None
        self._initial_done = threading.Event()
        self.pods.add_handler(self._on_add, self._on_update, self._on_add)
        self.claims = manager.informer("v1", "PersistentVolumeClaim")
        self.claims.add_handler(on_delete=self._claim_deleted)

    # -- informer handlers: only this node's pods

    def _enqueue(self, key: str) -> None:
        self.queue.add(key)

    def _mine(self, obj: Obj) -> bool:
        return (obj.get("spec") or {}).get("nodeName") == self.node_name

    def _on_add(self, obj: Obj) -> None:
        if self._mine(obj):
            self.queue.add(key_of(obj))

    def _on_update(self, old: Obj, new: Obj) -> None:
        if not (self._mine(new) or self._mine(old)):
            return
        if self._mine(old) and self._mine(new) and old.get("spec") == new.get("spec") and \
                old["metadata"].get("deletionTimestamp") == \
                new["metadata"].get("deletionTimestamp") and \
                (new.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            return  # only status moved (mostly our own write): nothing to do
        self.queue.add(key_of(new))

    # -- lifecycle

    def start(self) -> None:
        if self._stop.is_set():  # started again after stop(): fresh queue and prober
            self.queue = WorkQueue()
            self.prober = Prober(self.runtime, self._enqueue)
            for pod in self.pods.list():
                self._on_add(pod)
        self._stop.clear()
        self.root.mkdir(parents=True, exist_ok=True)
        self.register_node()
        if self.config.network:  # service range routed locally, pod network present
            prepare_node(self.runtime, self.config.network)
        self._initial = {key_of(p) for p in self.pods.list() if self._mine(p)}
        if not self._initial:
            self._initial_done.set()
        self.prober.start()
        loops: list[tuple[str, Callable[[], None]]] = [
            ("heartbeat", self._heartbeat_loop), ("relist", self._relist_loop),
            ("resync", self._resync_loop)]
        loops += [(f"worker-{i}", self._work) for i in range(self.config.workers)]
        for label, target in loops:
            t = threading.Thread(target=target, daemon=True, name=f"{self.name} {label}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.queue.shutdown()
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []
        self.prober.stop()
        if self._own_recorder:
            self.recorder.flush()

    # -- node

    def register_node(self) -> Obj:
        cpu, memory = nodes.host_capacity()
        try:
            version = self.runtime.version()
        except RuntimeFailure:
            version = self.runtime.name
        obj = nodes.node_object(
            self.node_name, cpu=self.config.cpu or cpu, memory=self.config.memory or memory,
            pods=self.config.pods, address=self.config.address, now=self.clock(),
            labels=self.config.labels, runtime_version=version)
        return nodes.register(self.client, obj)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.config.heartbeat_interval):
            try:
                current = self.client.get("v1", "Node", None, self.node_name)
                nodes.heartbeat(self.client, self.node_name, self.clock(), current)
            except NotFound:
                try:
                    self.register_node()
                except Exception:
                    log.exception("%s: re-registering the node failed", self.name)
            except Exception:
                log.exception("%s: heartbeat failed", self.name)

    # -- work loops

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                result = self.reconcile(key)
            except Exception as e:
                log.debug("%s: sync %s failed: %s", self.name, key, e, exc_info=True)
                if not isinstance(e, RuntimeFailure | Conflict):
                    log.warning("%s: sync %s failed: %s", self.name, key, e)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if result.requeue_after is not None:
                    self.queue.add_after(key, result.requeue_after)
            finally:
                self.syncs += 1
                self.queue.done(key)
                self._synced(key)

    def _synced(self, key: str) -> None:
        initial = self._initial
        if initial is not None and key in initial:
            initial.discard(key)
            if not initial:
                self._initial_done.set()

    def wait_initial_sync(self, timeout: float | None = None) -> bool:
        """Wait until every pod bound to this node at start was synced once (so its status
        reflects this kubelet's view, not a previous run's)."""
        return self._initial_done.wait(timeout)

    def _resync_loop(self) -> None:
        while not self._stop.wait(self.config.resync_period):
            for pod in self.pods.list():
                if self._mine(pod):
                    self.queue.add(key_of(pod))

    def _relist_loop(self) -> None:
        while True:
            try:
                self.relist()
            except Exception as e:
                log.debug("%s: relist failed: %s", self.name, e)
            if self._stop.wait(self.config.relist_period):
                return

    def relist(self) -> None:
        """Compare the runtime with the last look; enqueue the pods whose containers changed
        and the keys of sandboxes that have no pod (any more)."""
        node = self._scope
        infos = self.runtime.list_containers(node)
        snapshot: dict[str, tuple[Any, int | None, str]] = {
            i.id: _seen_as(i) for i in infos}
        keys: set[str] = set()
        with self._snapshot_lock:
            for cid, now_seen in snapshot.items():
                if self._snapshot.get(cid) != now_seen:
                    keys.add(now_seen[2])
            for cid, gone in self._snapshot.items():
                if cid not in snapshot:  # removed outside gitkube (or by us: harmless)
                    keys.add(gone[2])
                    self._container_ips.pop(cid, None)
            self._snapshot = snapshot
        cached = set(self._sandboxes)  # before the list: newer ones are not in it yet
        by_key: dict[str, list[SandboxInfo]] = {}
        seen: set[str] = set()
        for sb in self.runtime.list_sandboxes(node):
            key = f"{sb.labels.get(LABEL_NAMESPACE)}/{sb.labels.get(LABEL_POD_NAME)}"
            uid = sb.labels.get(LABEL_POD_UID, "")
            by_key.setdefault(key, []).append(sb)
            seen.add(uid)
            pod = self.pods.get(key)
            if pod is None or not self._mine(pod) or pod["metadata"].get("uid") != uid:
                keys.add(key)
            if not sb.running and self._sandboxes.pop(uid, None) is not None:
                keys.add(key)  # its infra stopped: ensure it again
        for uid, sb in list(self._sandboxes.items()):
            if uid in cached and uid not in seen:  # removed outside gitkube
                self._sandboxes.pop(uid, None)
                keys.add(f"{sb.labels.get(LABEL_NAMESPACE)}/{sb.labels.get(LABEL_POD_NAME)}")
        self._by_key = by_key
        for key in keys:
            self.queue.add(key)

    def _seen(self, info: ContainerInfo) -> None:
        """A worker saw ``info`` (a container it just started): the relist compares with
        that, so it only enqueues the pod when something changed since."""
        with self._snapshot_lock:
            self._snapshot[info.id] = _seen_as(info)

    # -- reconcile

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        pod = self.pods.get(key)
        if pod is not None and not self._mine(pod):
            pod = None
        uid = str(pod["metadata"]["uid"]) if pod is not None else ""
        deleting = pod is not None and pod["metadata"].get("deletionTimestamp")
        if pod is None or deleting or self._by_key is None:
            selector = {**self._scope, LABEL_NAMESPACE: str(namespace), LABEL_POD_NAME: name}
            sandboxes = self.runtime.list_sandboxes(selector)
        else:  # the relist's view (once a second) is enough to find stale ones
            sandboxes = list(self._by_key.get(key, []))
        for sb in sandboxes:
            if sb.labels.get(LABEL_POD_UID) != uid:
                self._kill(sb, None)
        if pod is None:
            return Result()
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds")
            for sb in sandboxes:
                if sb.labels.get(LABEL_POD_UID) == uid:
                    self._kill(sb, pod, grace)
            with contextlib.suppress(NotFound):
                self.client.delete("v1", "Pod", namespace, name, grace_period_seconds=0,
                                   uid=uid)
            return Result()
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._stop_running(pod)
            return Result()
        return self._sync(key, pod)

    def _kill(self, sb: SandboxInfo, pod: Obj | None, grace: Any = None) -> None:
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
        if pod is not None:
            for c in (pod.get("spec") or {}).get("containers") or []:
                self.recorder.event(pod, "Normal", "Killing", f"Stopping container {c['name']}")
        grace = float(grace)
        if pod is not None:
            grace = self._pre_stops(pod, grace)
        self.prober.forget_pod(uid)
        self._sandboxes.pop(uid, None)
        self.runtime.remove_sandbox(sb.id, timeout=grace)
        remove_pod_dir(self.root, uid)
        self._forget_claims(besides=uid)
        with self._states_lock:
            self._states.pop(uid, None)

    def _pre_stops(self, pod: Obj, grace: float) -> float:
        """The preStop hooks of ``pod``'s running containers, all at once (as upstream),
        inside ``grace``; what is left of it for SIGTERM."""
        specs = {str(c.get("name")): c for c in (pod.get("spec") or {}).get("containers") or []
                 if hook(c, "preStop") is not None}
        if not specs:
            return grace
        running = [(specs[str(info.labels.get(LABEL_CONTAINER))], info.id)
                   for info in self.runtime.list_containers({LABEL_POD_UID: pod["metadata"]["uid"]})
                   if info.state == "running" and info.labels.get(LABEL_CONTAINER) in specs]
        if not running:
            return grace
        pod_ip = str((pod.get("status") or {}).get("podIP") or "")
        with ThreadPoolExecutor(max_workers=len(running), thread_name_prefix="prestop") as pool:
            left = list(pool.map(lambda t: self._pre_stop(pod, t[0], t[1], pod_ip, grace),
                                 running))
        return min(left)

    # -- claims: a deleted PersistentVolumeClaim's directory goes with it

    def _claim_in_use(self, namespace: str, claim: str, *, besides: str = "") -> bool:
        """A pod of this node that is not being deleted (other than ``besides``, a uid)
        mounts the claim."""
        for pod in self.pods.list(namespace):
            meta = pod["metadata"]
            if not self._mine(pod) or meta.get("deletionTimestamp") or meta.get("uid") == besides:
                continue
            for vol in (pod.get("spec") or {}).get("volumes") or []:
                if (vol.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                    return True
        return False

    def _claim_deleted(self, pvc: Obj) -> None:
        """Its data goes with the claim (like a provisioned volume with reclaim policy
        Delete), unless a pod of this node still mounts it: then once no pod does
        (``_forget_claims``, after each pod this kubelet stops)."""
        ns = str(pvc["metadata"].get("namespace") or "default")
        name = str(pvc["metadata"]["name"])
        self._bound.discard((ns, name))
        with self._states_lock:
            self._deleted_claims.add((ns, name))
        self._forget_claims()

    def _forget_claims(self, besides: str = "") -> None:
        """Remove the data of deleted claims that no pod of this node mounts any more (not
        counting the pod ``besides``, being stopped now)."""
        with self._states_lock:
            pending = list(self._deleted_claims)
        for ns, name in pending:
            if self.claims.get(f"{ns}/{name}") is not None:  # made again meanwhile
                with self._states_lock:
                    self._deleted_claims.discard((ns, name))
            elif not self._claim_in_use(ns, name, besides=besides):
                remove_claim_dir(self.root, ns, name)
                with self._states_lock:
                    self._deleted_claims.discard((ns, name))

    def _stop_running(self, pod: Obj) -> None:
        grace = self._pre_stops(pod, self._grace(pod))
        for info in self.runtime.list_containers({LABEL_POD_UID: pod["metadata"]["uid"]}):
            if info.state == "running":
                self.runtime.stop_container(info.id, grace)
        self.prober.forget_pod(str(pod["metadata"]["uid"]))
