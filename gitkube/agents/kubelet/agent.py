"""The kubelet agent: runs the pods bound to its node on a ContainerRuntime.

``Kubelet(manager, runtime, config)`` is an Agent made of:

- **a Controller** (gitkube/agents/manager.py) on ``NodePods``, a view of the shared Pod
  informer that lets only this node's pods reach its queue; ``workers`` keys are synced at
  once (so pods start in parallel, one key never on two threads), every key again each
  ``resync_period`` s. A sync (sync.py) reads the pod and the runtime and makes them agree:
  ``compute_pod_actions`` decides (actions.py), the executor acts (executor.py);
- **the node**: registered at start, heartbeats every ``heartbeat_interval`` s (node.py);
- **the relist** (upstream's PLEG, pleg.py): every ``relist_period`` s the runtime's
  containers on this node are listed; a change (a container killed outside gitkube) or a
  sandbox without a pod (deleted while the kubelet was down) enqueues the pod's key;
- **probes** (probes.py), whose flips enqueue the pod, and **claims** (claims.py), whose
  deletion removes their data once no pod of this node mounts them.

``wait_initial_sync()`` returns once every pod bound to the node at start was synced once.
``stop()`` lets the syncs in flight finish (a pod being stopped is never left half stopped,
its infra container running), at most ``shutdown_timeout`` s, before it returns: its owner
closes the runtime next.

Restart safety comes from the labels: everything is found again by
``io.gitkube.pod-uid``/``-namespace``/``-name``/``node``, so a restarted kubelet adopts
running containers instead of restarting them. Containers without gitkube's labels are
never touched.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from gitkube.agents.events import EventRecorder
from gitkube.agents.kubelet import node as nodes
from gitkube.agents.kubelet.actions import Backoff
from gitkube.agents.kubelet.claims import Claims
from gitkube.agents.kubelet.config import STORE_ID_RECORD, KubeletConfig, cluster_id
from gitkube.agents.kubelet.executor import ExecutorSettings, NodeParts, PodExecutor
from gitkube.agents.kubelet.images import ImageCache
from gitkube.agents.kubelet.nodepods import NodePods
from gitkube.agents.kubelet.pleg import Pleg, RuntimeCache
from gitkube.agents.kubelet.probes import Prober
from gitkube.agents.kubelet.sync import PodSyncer
from gitkube.agents.kubelet.termination import TerminationMessages
from gitkube.agents.kubelet.volumes import getter_for
from gitkube.agents.manager import Controller, Manager, Result, WorkQueue
from gitkube.errors import Conflict, NotFound
from gitkube.model.network import container_service_env
from gitkube.runtime.base import (
    LABEL_CLUSTER,
    LABEL_NODE,
    ContainerRuntime,
    RuntimeFailure,
)
from gitkube.runtime.network import prepare_node, sandbox_fields

log = logging.getLogger("gitkube.kubelet")
Obj = dict[str, Any]
__all__ = ["STORE_ID_RECORD", "Kubelet", "KubeletConfig", "cluster_id"]
_capacity = functools.cache(nodes.host_capacity)  # the machine's cpu and memory: read once


class Kubelet:
    """The kubelet agent (see the module docstring)."""

    def __init__(self, manager: Manager, runtime: ContainerRuntime,
                 config: KubeletConfig | None = None, *,
                 recorder: EventRecorder | None = None):
        self.config = config = config or KubeletConfig()
        if config.root_dir is None:
            raise ValueError("KubeletConfig.root_dir is needed: where pods' volumes live")
        self.root = config.root_dir
        self.node_name = config.node_name
        self.name = f"kubelet/{self.node_name}"
        self.manager = manager
        self.client = manager.client
        self.runtime = runtime
        self.clock: Callable[[], float] = manager.clock
        self.pods = NodePods(manager.informer("v1", "Pod"), self.node_name)
        self.services = manager.informer("v1", "Service") if config.network else None
        self.claim_objects = manager.informer("v1", "PersistentVolumeClaim")
        self.recorder = recorder or EventRecorder(self.client, "kubelet", self.node_name,
                                                  asynchronous=True)
        self._own_recorder = recorder is None
        self.cluster = cluster_id(self.client)
        self.scope = {LABEL_NODE: self.node_name, LABEL_CLUSTER: self.cluster,
                      **config.runtime_labels}
        self.controller = Controller(self.name, self, self.pods, workers=config.workers,
                                     resync_period=config.resync_period)
        self.prober = Prober(runtime, self.controller.enqueue)
        self.cache = RuntimeCache()
        self.pleg = Pleg(runtime, self.scope, self.cache, self.pods.get,
                         self.controller.enqueue)
        self.claims = Claims(self.client, self.root, self.pods.list,
                             lambda ns, name: self.claim_objects.get(f"{ns}/{name}") is not None)
        self.claim_objects.add_handler(on_delete=self.claims.deleted)
        self.syncer = self._syncer(Backoff(config.backoff_base, config.backoff_max))
        self.pods.add_handler(on_update=self._pod_updated)
        self._stop = threading.Event()
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._initial: set[str] | None = None
        self._initial_done = threading.Event()
        self._busy = 0  # syncs in flight
        self._idle = threading.Condition()

    def _syncer(self, backoff: Backoff) -> PodSyncer:
        """The pod syncs, with the executor that carries out their actions."""
        config = self.config
        settings = ExecutorSettings(name=self.name, address=config.address, scope=self.scope,
                                    backoff=backoff, resync_period=config.resync_period,
                                    seccomp_root=self.root / "seccomp")
        parts = NodeParts(runtime=self.runtime, recorder=self.recorder, prober=self.prober,
                          cache=self.cache, messages=TerminationMessages(self.root, self.runtime),
                          get=getter_for(self.client), allocatable=self.allocatable,
                          clock=self.clock)
        executor = PodExecutor(settings, parts, images=ImageCache(self.runtime),
                               network=self._network_fields, service_env=self._service_env,
                               seen=self.pleg.seen)
        return PodSyncer(settings, parts, client=self.client, pods=self.pods, root=self.root,
                         executor=executor, claims=self.claims)

    # -- what the executor asks of the node

    def allocatable(self) -> dict[str, str]:
        """This node's allocatable cpu and memory: what a limit not set means."""
        cpu, memory = _capacity()
        return {"cpu": self.config.cpu or cpu, "memory": self.config.memory or memory}

    def _network_fields(self, pod: Obj) -> dict[str, Any]:
        """The pod network and resolv.conf fields (empty without a network config)."""
        return sandbox_fields(pod, self.config.network) if self.config.network else {}

    def _service_env(self, pod: Obj) -> dict[str, str]:
        """The service environment variables of ``pod``'s namespace (with a network)."""
        if self.services is None:
            return {}
        return container_service_env(pod, self.services.list(pod["metadata"].get("namespace")))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        """A deletion's grace period shortened (a second delete): the pod's key may be busy
        waiting out the old one, so the syncer is told at once."""
        before = old["metadata"].get("deletionGracePeriodSeconds")
        after = new["metadata"].get("deletionGracePeriodSeconds")
        if isinstance(before, int) and isinstance(after, int) and after < before:
            self.syncer.shorten(new)

    # -- lifecycle

    def start(self) -> None:
        if self._stopped:  # started again after stop(): a fresh queue, every pod again
            self.controller.queue = WorkQueue()
            for key in self.pods.list_keys():
                self.controller.enqueue(key)
        self._stop.clear()
        self._stopped = False
        self.root.mkdir(parents=True, exist_ok=True)
        node = self.register_node()
        try:
            nodes.renew_lease(self.client, node, self.clock())
        except Exception:  # the heartbeat loop tries again
            log.exception("%s: creating the node lease failed", self.name)
        if self.config.network:  # service range routed locally, pod network present
            prepare_node(self.runtime, self.config.network)
        self._initial = set(self.pods.list_keys())
        if not self._initial:
            self._initial_done.set()
        self.prober.start()
        for label, target in (("heartbeat", self._heartbeat_loop), ("relist", self._relist_loop)):
            t = threading.Thread(target=target, daemon=True, name=f"{self.name} {label}")
            t.start()
            self._threads.append(t)
        self.controller.start()

    def signal_stop(self) -> None:
        """Ask the loops and workers to stop, without waiting."""
        self._stop.set()
        self.controller.signal_stop()

    def stop(self) -> None:
        """Stop, once the syncs in flight are done (module docstring)."""
        self.signal_stop()
        self._stopped = True
        if not self._wait_idle(self.config.shutdown_timeout):
            log.warning("%s: syncs still running after %ss; stopping anyway", self.name,
                        self.config.shutdown_timeout)
        self.controller.stop()
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []
        self.prober.stop()
        if self._own_recorder:
            self.recorder.flush()

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def wait_initial_sync(self, timeout: float | None = None) -> bool:
        """Wait until every pod bound to this node at start was synced once (so its status
        reflects this kubelet's view, not a previous run's)."""
        return self._initial_done.wait(timeout)

    # -- the Controller's reconciler

    def reconcile(self, key: str) -> Result:
        """Sync one pod key (sync.py); counted in flight, and toward the initial sync."""
        with self._idle:
            self._busy += 1
        try:
            return self.syncer.reconcile(key)
        except (RuntimeFailure, Conflict):
            raise  # routine: the runtime or a stale cache; retried with back-off
        except Exception as e:
            log.warning("%s: sync %s failed: %s", self.name, key, e)
            raise
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()
            self._synced(key)

    def _synced(self, key: str) -> None:
        initial = self._initial
        if initial is not None and key in initial:
            initial.discard(key)
            if not initial:
                self._initial_done.set()

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
                nodes.renew_lease(self.client, current, self.clock())
            except NotFound:
                try:
                    self.register_node()
                except Exception:
                    log.exception("%s: re-registering the node failed", self.name)
            except Exception:
                log.exception("%s: heartbeat failed", self.name)

    def _relist_loop(self) -> None:
        while True:
            try:
                self.pleg.relist()
            except Exception as e:
                log.debug("%s: relist failed: %s", self.name, e)
            if self._stop.wait(self.config.relist_period):
                return

    def relist(self) -> None:
        """Look at the runtime once (pleg.py)."""
        self.pleg.relist()
