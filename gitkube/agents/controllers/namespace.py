"""Namespace controller: deleting a Namespace deletes everything inside it.

Two cases:

- A Namespace held by ``spec.finalizers: [kubernetes]`` (the api sets it on create, as
  upstream does) stays with ``deletionTimestamp`` and ``status.phase: Terminating`` (new
  content is refused by the api meanwhile). This controller deletes every namespaced object
  in it (every kind, Events too), waits until none is left (objects with finalizers of their
  own, pods terminating gracefully), then removes ``kubernetes`` from ``spec.finalizers`` and
  the api removes the Namespace — upstream's behaviour.
- A Namespace without that finalizer (emptied by hand, or created before the api set it) is
  removed by the api at once; when the informer sees it go, its content is deleted the same
  way (there is nothing left to hold).

Only namespaces this controller saw deleted are purged: objects in a namespace that never
had a Namespace object (``default`` needs none) are left alone.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from typing import Any

from gitkube.agents.manager import Controller, Informer, Manager, Result
from gitkube.api.client import Client
from gitkube.errors import NotFound
from gitkube.model import kinds

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.namespace")
FINALIZER = "kubernetes"


class NamespaceReconciler:
    def __init__(self, client: Client, namespaces: Informer):
        self.client = client
        self.namespaces = namespaces
        self._removed: set[str] = set()
        self._lock = threading.Lock()

    def removed(self, obj: Obj) -> None:
        with self._lock:
            self._removed.add(str(obj["metadata"]["name"]))

    def purge(self, namespace: str) -> int:
        """Delete every namespaced object in ``namespace``; how many are left."""
        left = 0
        for rt in kinds.RESOURCES:
            if not rt.namespaced:
                continue
            listed = self.client.list(rt.api_version, rt.kind, namespace)
            for obj in listed.items:
                left += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                with contextlib.suppress(NotFound):
                    self.client.delete(rt.api_version, rt.kind, namespace,
                                       obj["metadata"]["name"], uid=obj["metadata"]["uid"])
        return left

    def reconcile(self, key: str) -> Result:
        ns = self.namespaces.get(key)
        with self._lock:
            was_removed = key in self._removed
        if ns is None:
            if not was_removed:
                return Result()
            if self.purge(key):
                return Result(requeue_after=0.5)
            with self._lock:
                self._removed.discard(key)
            return Result()
        if not ns["metadata"].get("deletionTimestamp"):
            return Result()
        if self.purge(key):
            return Result(requeue_after=0.5)
        spec_finalizers = list((ns.get("spec") or {}).get("finalizers") or [])
        if FINALIZER in spec_finalizers:
            out = copy.deepcopy(ns)
            out["spec"]["finalizers"] = [f for f in spec_finalizers if f != FINALIZER]
            with contextlib.suppress(NotFound):
                self.client.update(out)
        return Result()


def controller(manager: Manager) -> Controller:
    """The Namespace controller on ``manager``'s shared Namespace informer."""
    namespaces = manager.informer("v1", "Namespace")
    rec = NamespaceReconciler(manager.client, namespaces)
    ctl = Controller("namespace-controller", rec, namespaces)

    def gone(obj: Obj) -> None:
        rec.removed(obj)
        ctl.enqueue(str(obj["metadata"]["name"]))

    namespaces.add_handler(on_delete=gone)
    return ctl
