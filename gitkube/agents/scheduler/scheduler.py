"""The scheduler agent: pending pods in, bindings (spec.nodeName) out.

Three threads, all talking to the cluster only through the Client:

- the **informers** (Pods, Nodes; shared through the Manager when there is one) keep the
  cache's NodeInfos current and queue every pending pod whose ``spec.schedulerName`` is
  ours — never one that already has ``spec.nodeName``;
- the **scheduling loop** pops a pod key, reads the pod, runs one framework cycle under the
  cache lock and, on success, *assumes* the pod onto its node and hands the binding to the
  writer; on failure it parks the pod in the unschedulable queue;
- the **writer** writes what the loop decided: bindings (several pending ones in one api
  transaction of BindOps — each still checks that the pod is unbound and has the same uid —
  or one by one after a refused batch) and, for pods that fit nowhere, the condition
  PodScheduled=False (reason Unschedulable) plus a Warning Event ``FailedScheduling`` whose
  message is upstream's histogram ("0/5 nodes are available: 3 Insufficient cpu.").

Unschedulable pods come back when a node is added or changes in a way scheduling cares about,
when a bound pod is deleted or finishes, and every ``max_unschedulable_duration`` seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitkube.agents.manager import Informer, key_of
from gitkube.agents.scheduler.cache import SchedulerCache
from gitkube.agents.scheduler.config import SchedulerConfig
from gitkube.agents.scheduler.framework import Framework, ScheduleResult
from gitkube.agents.scheduler.profile import build_framework
from gitkube.agents.scheduler.queue import SchedulingQueue
from gitkube.agents.scheduler.registry import Registry
from gitkube.agents.scheduler.types import PodInfo
from gitkube.api.client import BindOp, Client
from gitkube.errors import APIError, GitkubeError
from gitkube.model.conditions import find_condition
from gitkube.model.pods import TERMINAL_PHASES, is_terminating, pod_phase
from gitkube.model.times import rfc3339

if TYPE_CHECKING:
    from gitkube.agents.events import EventRecorder
    from gitkube.agents.manager import Manager

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.scheduler")


def _terminal(pod: Obj) -> bool:
    return pod_phase(pod) in TERMINAL_PHASES


@dataclass
class Stats:
    """Counters for tests and benchmarks (read without locking: approximate while running)."""

    attempts: int = 0
    scheduled: int = 0
    bound: int = 0
    unschedulable: int = 0
    bind_errors: int = 0
    batches: int = 0
    last_bound_at: float = 0.0  # time.monotonic() of the last binding written


@dataclass(frozen=True)
class _Bind:
    pod: PodInfo
    node: str


@dataclass(frozen=True)
class _Failed:
    pod: Obj
    message: str


class Scheduler:
    """The scheduler agent (``start``/``stop``, as the Manager expects). Build it with
    ``build_scheduler``."""

    name = "scheduler"

    def __init__(self, client: Client, config: SchedulerConfig, *,
                 pods: Informer, nodes: Informer, framework: Framework,
                 recorder: EventRecorder | None = None, own_informers: bool = False,
                 clock: Callable[[], float] = time.time):
        self.client = client
        self.config = config
        self.framework = framework
        self.pods = pods
        self.nodes = nodes
        self.recorder = recorder
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue(initial_backoff=config.initial_backoff,
                                     max_backoff=config.max_backoff)
        self.stats = Stats()
        self._own_informers = own_informers
        self._clock = clock
        self._writes: queue.Queue[_Bind | _Failed | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        nodes.add_handler(self._node_added, self._node_updated, self._node_deleted)
        pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # --- informer handlers (informer threads; quick) ---------------------------------------

    def _ours(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (spec.get("schedulerName") or "default-scheduler") == self.config.scheduler_name

    def _pending(self, pod: Obj) -> bool:
        return (not (pod.get("spec") or {}).get("nodeName") and self._ours(pod)
                and not is_terminating(pod) and not _terminal(pod))

    def _node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if self.cache.set_node(new):
            self.queue.move_all()

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(str((node.get("metadata") or {}).get("name")))

    def _pod_added(self, pod: Obj) -> None:
        key = key_of(pod)
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            if not _terminal(pod) and not self.cache.confirm(key, node):
                self.cache.add_pod(PodInfo(pod), node)
            self.queue.delete(key)
        elif self._pending(pod):
            priority = (pod.get("spec") or {}).get("priority")
            self.queue.add(key, priority if isinstance(priority, int) else 0)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = key_of(new)
        node = (new.get("spec") or {}).get("nodeName")
        if node:
            if _terminal(new):
                if self.cache.remove_pod(key):
                    self.queue.move_all()  # its capacity is free again
            elif not self.cache.confirm(key, node):
                self.cache.add_pod(PodInfo(new), node)
            self.queue.delete(key)
        elif not self._pending(new):
            self.queue.delete(key)
        elif (old.get("spec") != new.get("spec")
              or (old.get("metadata") or {}).get("labels")
              != (new.get("metadata") or {}).get("labels")):
            # Our own status writes (PodScheduled=False) change nothing scheduling reads.
            priority = (new.get("spec") or {}).get("priority")
            self.queue.add(key, priority if isinstance(priority, int) else 0)

    def _pod_deleted(self, pod: Obj) -> None:
        key = key_of(pod)
        self.queue.delete(key)
        if self.cache.remove_pod(key):
            self.queue.move_all()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self.queue.reopen()
        if self._own_informers:
            for inf in (self.nodes, self.pods):
                inf.start()
            for inf in (self.nodes, self.pods):
                inf.wait_for_sync(30)
        for target, name in ((self._schedule_loop, "scheduler"), (self._write_loop,
                              "scheduler-writer"), (self._flush_loop, "scheduler-flush")):
            t = threading.Thread(target=target, daemon=True, name=name)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.queue.close()
        self._writes.put(None)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=10)
        self._threads = []
        if self._own_informers:
            for inf in (self.pods, self.nodes):
                inf.stop()
            if self.recorder is not None:
                self.recorder.close()

    # --- the scheduling loop ---------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            key = self.queue.pop(timeout=0.5)
            if key is None:
                continue
            try:
                self.schedule_one(key)
            except Exception:
                log.exception("scheduler: cycle for %s failed", key)
                self.queue.retry(key)

    def schedule_one(self, key: str) -> ScheduleResult | None:
        """One scheduling cycle for the pod ``key`` (None when it needs none any more)."""
        pod = self.pods.get(key)
        if pod is None or not self._pending(pod) or self.cache.is_assumed(key):
            return None
        info = PodInfo(pod)
        move_seq = self.queue.move_seq
        self.stats.attempts += 1
        with self.cache.lock:
            result = self.framework.schedule(info, self.cache.node_list())
            if result.node is not None:
                self.cache.assume(info, result.node)
        if result.node is not None:
            self.stats.scheduled += 1
            self._writes.put(_Bind(info, result.node))
        else:
            self.stats.unschedulable += 1
            self.queue.unschedulable(key, move_seq)
            self._writes.put(_Failed(pod, result.message))
        return result

    def _flush_loop(self) -> None:
        interval = max(min(self.config.unschedulable_flush_interval,
                           self.config.max_unschedulable_duration), 0.05)
        while not self._stop.wait(interval):
            self.queue.flush(self.config.max_unschedulable_duration)

    # --- the writer ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        """Write decisions in the order they were made; consecutive bindings (up to
        ``bind_batch_size``) go in one transaction."""
        while True:
            item = self._writes.get()
            batch: list[_Bind] = []
            while item is not None:
                if isinstance(item, _Bind):
                    batch.append(item)
                    if len(batch) >= self.config.bind_batch_size:
                        self._bind_all(batch)
                        batch = []
                else:
                    self._bind_all(batch)
                    batch = []
                    try:
                        self._record_unschedulable(item.pod, item.message)
                    except Exception:
                        log.exception("scheduler: recording %s as unschedulable failed",
                                      key_of(item.pod))
                try:
                    item = self._writes.get_nowait()
                except queue.Empty:
                    break
            self._bind_all(batch)
            if item is None:
                return

    def _bind_all(self, batch: list[_Bind]) -> None:
        try:
            self._bind_batch(batch)
        except Exception as e:  # never let the writer die: the pods are retried
            log.exception("scheduler: writing %d bindings failed", len(batch))
            for b in batch:
                if self.cache.is_assumed(b.pod.key):
                    self._bind_failed(b, GitkubeError(str(e)))

    def _bind_batch(self, batch: list[_Bind]) -> None:
        if not batch:
            return
        if len(batch) > 1:
            ops = [BindOp(b.pod.namespace, b.pod.name, b.node, b.pod.uid) for b in batch]
            try:
                self.client.transaction(ops)
            except APIError as e:
                log.debug("scheduler: batch of %d bindings refused (%s); one by one",
                          len(batch), e)
            except GitkubeError:
                log.exception("scheduler: batch of %d bindings failed", len(batch))
            else:
                self.stats.batches += 1
                self._bound(batch)
                return
        for b in batch:
            try:
                self.client.bind(b.pod.namespace, b.pod.name, b.node, uid=b.pod.uid)
            except GitkubeError as e:
                self._bind_failed(b, e)
            else:
                self._bound([b])

    def _bound(self, done: list[_Bind]) -> None:
        self.stats.bound += len(done)
        self.stats.last_bound_at = time.monotonic()
        if self.recorder is not None and self.config.scheduled_events:
            for b in done:
                self.recorder.normal(b.pod.obj, "Scheduled", f"Successfully assigned "
                                     f"{b.pod.namespace}/{b.pod.name} to {b.node}")

    def _bind_failed(self, b: _Bind, error: GitkubeError) -> None:
        """Upstream's Forget: the node gets the capacity back; the pod, if it still waits,
        is retried after its back-off."""
        self.stats.bind_errors += 1
        self.cache.forget(b.pod.key)
        log.debug("scheduler: binding %s to %s failed: %s", b.pod.key, b.node, error)
        pod = self.pods.get(b.pod.key)
        if pod is not None and self._pending(pod):
            self.queue.retry(b.pod.key)
            if self.recorder is not None:
                self.recorder.warning(pod, "FailedScheduling",
                                      f"Binding rejected: {getattr(error, 'message', error)}")

    def _record_unschedulable(self, pod: Obj, message: str) -> None:
        if self.recorder is not None:
            self.recorder.warning(pod, "FailedScheduling", message)
        status = pod.get("status") or {}
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        scheduled = find_condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.status == "False" and \
                scheduled.reason == "Unschedulable" and scheduled.message == message:
            return  # already says so
        now = rfc3339(self._clock())
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": message, "lastProbeTime": None, "lastTransitionTime": now}
        meta = pod.get("metadata") or {}
        updated = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
            "status": {**status, "conditions": [
                *(c for c in conditions if c.get("type") != "PodScheduled"), condition]},
        }
        try:
            self.client.update_status(updated)
        except GitkubeError as e:
            # Changed or gone meanwhile: the informer's event brings it back if it matters.
            log.debug("scheduler: PodScheduled=False for %s not written: %s", key_of(pod), e)

    # --- for tests and benchmarks ----------------------------------------------------------

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing is queued to be tried or written (pods parked as unschedulable
        do not count)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active, backoff, _ = self.queue.counts()
            if active == 0 and backoff == 0 and self._writes.empty():
                return True
            time.sleep(0.01)
        return False


def build_scheduler(client: Client, config: SchedulerConfig | None = None, *,
                    manager: Manager | None = None, registry: Registry | None = None,
                    recorder: EventRecorder | None = None) -> Scheduler:
    """The scheduler agent for ``config`` (default: the spread profile).

    With a ``manager``, it shares the manager's Pod and Node informers and event recorder
    (add it with ``manager.add(...)``); without one it runs its own informers and recorder,
    started and stopped with it. ``registry`` supplies plugins by name (default: the
    built-ins; register your own there)."""
    config = config or SchedulerConfig()
    framework = build_framework(config, registry)
    if manager is not None:
        return Scheduler(client, config, pods=manager.informer("v1", "Pod"),
                         nodes=manager.informer("v1", "Node"), framework=framework,
                         recorder=recorder or manager.recorder(config.scheduler_name),
                         clock=manager.clock)
    if recorder is None:
        from gitkube.agents.events import EventRecorder

        recorder = EventRecorder(client, config.scheduler_name, asynchronous=True)
    return Scheduler(client, config, pods=Informer(client, "v1", "Pod"),
                     nodes=Informer(client, "v1", "Node"), framework=framework,
                     recorder=recorder, own_informers=True)


__all__ = ["Scheduler", "Stats", "build_scheduler"]
