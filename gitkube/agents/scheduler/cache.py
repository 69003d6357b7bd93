"""The scheduler's cache: every node's NodeInfo, updated incrementally from informer events,
plus the pods this scheduler *assumed* onto a node before their binding was observed.

Upstream's assume/confirm/forget protocol: a pod chosen for a node is added to that node at
once (so the next pod sees the capacity it takes) and stays there while its binding is
written; the informer's bound-pod event then confirms it, and a failed binding forgets it.
All methods take the cache lock; a scheduling cycle holds ``lock`` while it reads
``node_list()``, which is therefore an unchanging view for the cycle.
"""

from __future__ import annotations

import threading

from gitkube.agents.scheduler.types import NodeFacts, NodeInfo, NodeList, Obj, PodInfo

MAX_LOG = 4


class SchedulerCache:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._infos: dict[str, NodeInfo] = {}
        self._list: NodeList | None = None
        self._epoch = 0
        self._pod_node: dict[str, str] = {}  # pod key -> node, bound or assumed
        self._assumed: dict[str, str] = {}

    # --- nodes -----------------------------------------------------------------------------

    def _info(self, name: str) -> NodeInfo:
        info = self._infos.get(name)
        if info is None:
            info = self._infos[name] = NodeInfo(name)
        return info

    def set_node(self, node: Obj) -> bool:
        """Add or update a node; True when something scheduling depends on changed (labels,
        taints, unschedulable, Ready, allocatable) — a heartbeat alone is not a change."""
        facts = NodeFacts.of(node)
        with self.lock:
            info = self._info(facts.name)
            if info.node is None:
                info.set_node(node, facts)
                self._list = None
                return True
            if info.facts == facts:
                info.node = node  # newer object, same verdicts: keep the memo
                return False
            info.set_node(node, facts)
            self._touch(info)
            return True

    def remove_node(self, name: str) -> None:
        with self.lock:
            info = self._infos.get(name)
            if info is None:
                return
            if info.pods:
                info.set_node(None)  # keep its pods' accounting until they go
                info.node = None
            else:
                del self._infos[name]
            self._list = None

    def node_list(self) -> NodeList:
        """The nodes that exist, in a stable order (call with ``lock`` held). The same list
        object is returned until a node is added or removed; changes to its nodes are
        appended to its ``log``."""
        with self.lock:
            if self._list is None or len(self._list.log) > MAX_LOG * len(self._list) + 1000:
                self._epoch += 1
                self._list = NodeList([i for i in self._infos.values() if i.node is not None],
                                      self._epoch)
            return self._list

    def _touch(self, info: NodeInfo) -> None:
        nodes = self._list
        if nodes is not None:
            i = nodes.positions.get(info.name)
            if i is not None:
                nodes.log.append(i)

    def node_info(self, name: str) -> NodeInfo | None:
        with self.lock:
            return self._infos.get(name)

    # --- pods ------------------------------------------------------------------------------

    def add_pod(self, pod: PodInfo, node_name: str) -> None:
        """A pod observed bound to ``node_name`` (confirms it if this scheduler assumed it
        there)."""
        with self.lock:
            if self._assumed.get(pod.key) == node_name:
                del self._assumed[pod.key]
                return
            # Bound elsewhere than assumed (another writer won): the observed binding is
            # the truth, and a later forget() must not undo it.
            self._assumed.pop(pod.key, None)
            self._remove(pod.key)
            info = self._info(node_name)
            info.add_pod(pod)
            self._touch(info)
            self._pod_node[pod.key] = node_name

    def confirm(self, key: str, node_name: str) -> bool:
        """The informer saw ``key`` bound to ``node_name``: True if that was already counted
        (assumed there, or known bound there)."""
        with self.lock:
            if self._assumed.get(key) == node_name:
                del self._assumed[key]
                return True
            return self._pod_node.get(key) == node_name

    def assume(self, pod: PodInfo, node_name: str) -> None:
        with self.lock:
            self._remove(pod.key)
            info = self._info(node_name)
            info.add_pod(pod)
            self._touch(info)
            self._pod_node[pod.key] = node_name
            self._assumed[pod.key] = node_name

    def forget(self, key: str) -> None:
        """The binding of an assumed pod failed: give its node the capacity back."""
        with self.lock:
            if key in self._assumed:
                del self._assumed[key]
                self._remove(key)

    def remove_pod(self, key: str) -> bool:
        """A pod went away (deleted or finished); True if it held capacity on a node."""
        with self.lock:
            self._assumed.pop(key, None)
            return self._remove(key)

    def is_assumed(self, key: str) -> bool:
        with self.lock:
            return key in self._assumed

    def node_of(self, key: str) -> str | None:
        with self.lock:
            return self._pod_node.get(key)

    def _remove(self, key: str) -> bool:
        node = self._pod_node.pop(key, None)
        if node is None:
            return False
        info = self._infos.get(node)
        if info is not None:
            info.remove_pod(key)
            self._touch(info)
            if info.node is None and not info.pods:
                del self._infos[node]
                self._list = None
        return True


__all__ = ["SchedulerCache"]
