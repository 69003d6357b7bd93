"""Node lifecycle controller: nodes that stop heartbeating become NotReady, and their pods
are evicted so their controllers replace them elsewhere.

- The heartbeat is ``status.conditions[type=Ready].lastHeartbeatTime``, which the kubelet
  (gitkube/agents/kubelet/node.py ``heartbeat``) and the simulated nodes move every
  ``heartbeat_interval``. A node whose heartbeat is older than ``grace_period`` (default
  40 s, upstream's node-monitor-grace-period) gets every condition ``Unknown`` (reason
  ``NodeStatusUnknown``, "Kubelet stopped posting node status."), the taints
  ``node.kubernetes.io/unreachable`` NoSchedule and NoExecute (so the scheduler avoids it),
  an Event ``NodeNotReady``, and each of its pods phase ``Unknown`` with Ready=False.
- Eviction is taint-based like upstream: a pod on such a node is deleted (grace 0: no
  kubelet is there to finish a graceful deletion) once the node has been unreachable for
  the least ``tolerationSeconds`` of the pod's tolerations of that taint, or
  ``eviction_timeout`` (default 300 s, upstream's default toleration) when it has none; a
  pod tolerating the taint forever (DaemonSet pods) stays. An Event ``TaintManagerEviction``
  is recorded on the pod.
- When heartbeats resume (the kubelet reports Ready again) the taints are removed.
- Pods bound to a Node that was deleted are deleted too (upstream's pod garbage collector),
  so their controllers replace them.

Time comes from the Manager's clock, so tests drive it with a ``ManualClock``; the
controller re-checks every ``monitor_period`` seconds (real time; upstream: 5 s).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from typing import Any

from gitkube.agents.events import EventRecorder
from gitkube.agents.manager import (
    Controller,
    Informer,
    Manager,
    Result,
    index_by_node_name,
)
from gitkube.api.client import Client
from gitkube.errors import Conflict, NotFound
from gitkube.model.conditions import condition_status, find_condition
from gitkube.model.scheduling import TAINT_UNREACHABLE, Taint, tolerations_of
from gitkube.model.times import parse_time, rfc3339
from gitkube.model.views import ObjectView

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.nodelifecycle")
UNREACHABLE = TAINT_UNREACHABLE
REASON = "NodeStatusUnknown"
MESSAGE = "Kubelet stopped posting node status."


def heartbeat_of(node: Obj) -> float | None:
    ready = find_condition(node, "Ready")
    beats = (ready.last_heartbeat_time, ready.last_transition_time) if ready else ()
    for stamp in (*beats, ObjectView(node).metadata.creation_timestamp):
        moment = parse_time(stamp)
        if moment is not None:
            return moment
    return None


def unknown_conditions(node: Obj, now: float) -> list[Obj]:
    """Every condition turned Unknown (lastHeartbeatTime kept), Ready added if missing."""
    stamp = rfc3339(now)
    out = []
    conds = [c for c in (node.get("status") or {}).get("conditions") or []
             if isinstance(c, dict)]
    if not any(c.get("type") == "Ready" for c in conds):
        conds.append({"type": "Ready"})
    for c in conds:
        new = dict(c)
        if new.get("status") != "Unknown":
            new["lastTransitionTime"] = stamp
        new.update(status="Unknown", reason=REASON, message=MESSAGE)
        out.append(new)
    return out


def unreachable_taints(now: float) -> list[Obj]:
    stamp = rfc3339(now)
    return [{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": stamp},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": stamp}]


_UNREACHABLE_NO_EXECUTE = Taint(UNREACHABLE, "", "NoExecute")


def toleration_seconds(pod: Obj, default: float) -> float | None:
    """How long ``pod`` may stay on an unreachable node (None: forever): the least
    tolerationSeconds of the tolerations of the unreachable NoExecute taint, forever when
    none of them has one (upstream's taint eviction); ``default`` (upstream's
    DefaultTolerationSeconds) when none tolerates it."""
    matching = [t for t in tolerations_of(ObjectView(pod).spec_raw)
                if t.tolerates(_UNREACHABLE_NO_EXECUTE)]
    if not matching:
        return default
    limits = [t.seconds for t in matching if t.seconds is not None]
    return max(0.0, float(min(limits))) if limits else None


class NodeLifecycleReconciler:
    def __init__(self, client: Client, nodes: Informer, pods: Informer,
                 recorder: EventRecorder, clock: Callable[[], float], *,
                 grace_period: float = 40.0, eviction_timeout: float = 300.0,
                 monitor_period: float = 5.0):
        self.client = client
        self.nodes = nodes
        self.pods = pods
        self.recorder = recorder
        self.clock = clock
        self.grace_period = grace_period
        self.eviction_timeout = eviction_timeout
        self.monitor_period = monitor_period

    def reconcile(self, key: str) -> Result:
        node = self.nodes.get(key)
        if node is None:
            self._orphaned(key)
            return Result()
        now = self.clock()
        ready = find_condition(node, "Ready")
        status = ready.status if ready is not None else ""
        beat = heartbeat_of(node)
        stale = beat is None or now - beat > self.grace_period
        if stale and status != "Unknown":
            self._mark_unknown(node, now)
            return Result(requeue_after=self.monitor_period)
        if not stale and status == "True":
            self._untaint(node)
        if ready is not None and status == "Unknown":
            since = parse_time(ready.last_transition_time) or now
            self._pods_unknown(key)
            self._evict(key, since, now)
        return Result(requeue_after=self.monitor_period)

    def _orphaned(self, node_name: str) -> None:
        """Pods bound to a Node that no longer exists are deleted (upstream's pod GC)."""
        pods = self.pods.by_index("node", node_name)
        if not pods:
            return
        try:
            self.client.get("v1", "Node", None, node_name)
            return  # only the cache had not seen it yet
        except NotFound:
            pass
        for pod in pods:
            meta = pod["metadata"]
            with contextlib.suppress(NotFound, Conflict):
                self.client.delete("v1", "Pod", meta["namespace"], meta["name"],
                                   uid=meta.get("uid"), grace_period_seconds=0)
                self.recorder.normal(pod, "NodeNotFound",
                                     f"Deleting pod {meta['name']}: node {node_name} is gone")

    def _mark_unknown(self, node: Obj, now: float) -> None:
        name = node["metadata"]["name"]
        out = copy.deepcopy(node)
        out.setdefault("status", {})["conditions"] = unknown_conditions(node, now)
        self.client.update_status(out)  # Conflict if the kubelet just heartbeated: re-check
        fresh = copy.deepcopy(self.client.get("v1", "Node", None, name))
        taints = [t for t in (fresh.get("spec") or {}).get("taints") or []
                  if t.get("key") != UNREACHABLE]
        fresh.setdefault("spec", {})["taints"] = taints + unreachable_taints(now)
        self.client.update(fresh)
        self.recorder.normal(node, "NodeNotReady",
                             f"Node {name} status is now: NodeNotReady")
        log.info("node %s: no heartbeat for %.0fs: NotReady", name, self.grace_period)

    def _untaint(self, node: Obj) -> None:
        taints = (node.get("spec") or {}).get("taints") or []
        if not any(t.get("key") == UNREACHABLE for t in taints):
            return
        out = copy.deepcopy(node)
        out["spec"]["taints"] = [t for t in taints if t.get("key") != UNREACHABLE]
        if not out["spec"]["taints"]:
            del out["spec"]["taints"]
        self.client.update(out)
        self.recorder.normal(node, "NodeReady",
                             f"Node {node['metadata']['name']} status is now: NodeReady")

    def _pods_unknown(self, node_name: str) -> None:
        for pod in self.pods.by_index("node", node_name):
            status = pod.get("status") or {}
            if pod["metadata"].get("deletionTimestamp") or \
                    status.get("phase") in ("Succeeded", "Failed", "Unknown"):
                continue
            out = copy.deepcopy(pod)
            st = out.setdefault("status", {})
            st["phase"] = "Unknown"
            conds = [c for c in st.get("conditions") or [] if c.get("type") != "Ready"]
            conds.append({"type": "Ready", "status": "False", "reason": REASON,
                          "lastTransitionTime": rfc3339(self.clock())})
            st["conditions"] = conds
            with contextlib.suppress(NotFound, Conflict):
                self.client.update_status(out)

    def _evict(self, node_name: str, since: float, now: float) -> None:
        for pod in self.pods.by_index("node", node_name):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            limit = toleration_seconds(pod, self.eviction_timeout)
            if limit is None or now - since < limit:
                continue
            with contextlib.suppress(NotFound, Conflict):
                self.client.delete("v1", "Pod", meta["namespace"], meta["name"],
                                   uid=meta.get("uid"), grace_period_seconds=0)
                self.recorder.normal(pod, "TaintManagerEviction",
                                     f"Marking for deletion Pod {meta['namespace']}/"
                                     f"{meta['name']}")


def controller(manager: Manager, *, grace_period: float = 40.0,
               eviction_timeout: float = 300.0, monitor_period: float = 5.0) -> Controller:
    """The node lifecycle controller on ``manager``'s shared informers."""
    nodes = manager.informer("v1", "Node")
    pods = manager.informer("v1", "Pod")
    pods.add_index("node", index_by_node_name)
    rec = NodeLifecycleReconciler(manager.client, nodes, pods,
                                  manager.recorder("node-controller"), manager.clock,
                                  grace_period=grace_period, eviction_timeout=eviction_timeout,
                                  monitor_period=monitor_period)
    ctl = Controller("node-lifecycle-controller", rec, nodes)

    def pod_on_sick_node(pod: Obj) -> list[str]:
        name = (pod.get("spec") or {}).get("nodeName")
        if not name:
            return []
        node = nodes.get(str(name))
        if node is not None and condition_status(node, "Ready") == "True":
            return []
        return [str(name)]  # a sick node, or one that does not exist

    ctl.watches(pods, pod_on_sick_node)
    return ctl
