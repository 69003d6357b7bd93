"""The shared Pod informer as one node's kubelet sees it: only pods bound to that node.

``NodePods(informer, node)`` is a Controller's primary (``manager.Source``): its handlers
see only pods whose ``spec.nodeName`` is ``node`` (before or after the change), and an update
that moved nothing but the status (mostly the kubelet's own write) is dropped unless the pod
just finished. Reads (``get``, ``list``, ``list_keys``) go through the informer's index by
node name, so a node never walks the whole cluster's pods.
"""

from __future__ import annotations

import builtins
from typing import Any

from gitkube.agents.manager import (
    AddHandler,
    DeleteHandler,
    Informer,
    UpdateHandler,
    index_by_node_name,
    key_of,
)

Obj = dict[str, Any]
NODE_INDEX = "node"
FINISHED = ("Succeeded", "Failed")


def status_only(old: Obj, new: Obj) -> bool:
    """Whether an update changed nothing the kubelet acts on: same spec and deletion mark,
    and the pod has not finished (a finished pod's containers are stopped)."""
    return old.get("spec") == new.get("spec") and \
        old["metadata"].get("deletionTimestamp") == new["metadata"].get("deletionTimestamp") \
        and (new.get("status") or {}).get("phase") not in FINISHED


class NodePods:
    """The pods of one node in a shared Pod informer (module docstring)."""

    def __init__(self, informer: Informer, node: str):
        self.informer = informer
        self.node = node
        informer.add_index(NODE_INDEX, index_by_node_name)

    def mine(self, pod: Obj) -> bool:
        return (pod.get("spec") or {}).get("nodeName") == self.node

    def get(self, key: str) -> Obj | None:
        """The cached pod (shared: do not mutate) when it is bound to this node."""
        pod = self.informer.get(key)
        return pod if pod is not None and self.mine(pod) else None

    def list(self, namespace: str | None = None) -> builtins.list[Obj]:
        """This node's cached pods (shared), optionally of one namespace."""
        pods = self.informer.by_index(NODE_INDEX, self.node)
        if namespace:
            pods = [p for p in pods if p["metadata"].get("namespace") == namespace]
        return pods

    def list_keys(self) -> builtins.list[str]:
        return [key_of(p) for p in self.list()]

    def add_handler(self, on_add: AddHandler | None = None,
                    on_update: UpdateHandler | None = None,
                    on_delete: DeleteHandler | None = None) -> None:
        """Handlers that see this node's pods only (module docstring)."""

        def added(obj: Obj) -> None:
            if on_add is not None and self.mine(obj):
                on_add(obj)

        def updated(old: Obj, new: Obj) -> None:
            if on_update is None or not (self.mine(new) or self.mine(old)):
                return
            if self.mine(old) and self.mine(new) and status_only(old, new):
                return
            on_update(old, new)

        def deleted(obj: Obj) -> None:
            if on_delete is not None and self.mine(obj):
                on_delete(obj)

        self.informer.add_handler(added, updated, deleted)


__all__ = ["NODE_INDEX", "NodePods", "status_only"]
