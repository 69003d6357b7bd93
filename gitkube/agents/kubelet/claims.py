"""PersistentVolumeClaims on this node: each is a directory under the kubelet's root
(volumes.py), reported Bound once a pod mounts it, and removed once the claim is deleted and
no pod of this node that is not itself being deleted mounts it (a provisioned volume with
reclaim policy Delete)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gitkube.agents.kubelet.volumes import remove_claim_dir
from gitkube.api.client import Client
from gitkube.errors import Conflict, NotFound

Obj = dict[str, Any]


def claim_names(pod: Obj) -> list[str]:
    """The claims ``pod``'s volumes name."""
    return [str(claim) for vol in (pod.get("spec") or {}).get("volumes") or []
            if (claim := (vol.get("persistentVolumeClaim") or {}).get("claimName"))]


def bound_status(pvc: Obj) -> Obj:
    """The status of a claim bound to its local directory: its access modes and requested
    capacity (no provisioner runs here, so nothing else would report it)."""
    spec = pvc.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    status: Obj = {"phase": "Bound", "accessModes": spec.get("accessModes") or ["ReadWriteOnce"]}
    if storage:
        status["capacity"] = {"storage": storage}
    return status


class Claims:
    """This node's claims (thread-safe). ``pods(namespace)`` lists the node's pods;
    ``exists(namespace, name)`` whether a claim object is there now."""

    def __init__(self, client: Client, root: Path, pods: Callable[[str], Iterable[Obj]],
                 exists: Callable[[str, str], bool]):
        self.client = client
        self.root = root
        self.pods = pods
        self.exists = exists
        self._bound: set[tuple[str, str]] = set()  # claims reported Bound
        self._deleted: set[tuple[str, str]] = set()  # their data waits for no user
        self._lock = threading.Lock()

    def bind(self, pod: Obj) -> None:
        """Report the claims ``pod`` mounts Bound (once each)."""
        ns = str(pod["metadata"].get("namespace") or "default")
        for claim in claim_names(pod):
            with self._lock:
                if (ns, claim) in self._bound:
                    continue
            try:
                pvc = self.client.get("v1", "PersistentVolumeClaim", ns, claim)
            except NotFound:
                continue
            if (pvc.get("status") or {}).get("phase") != "Bound":
                with contextlib.suppress(NotFound, Conflict):
                    self.client.patch("v1", "PersistentVolumeClaim", ns, claim,
                                      {"status": bound_status(pvc)}, subresource="status")
            with self._lock:
                self._bound.add((ns, claim))

    def in_use(self, namespace: str, claim: str, *, besides: str = "") -> bool:
        """A pod of this node that is not being deleted (other than ``besides``, a uid)
        mounts the claim."""
        for pod in self.pods(namespace):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or meta.get("uid") == besides:
                continue
            if claim in claim_names(pod):
                return True
        return False

    def deleted(self, pvc: Obj) -> None:
        """The claim object is gone: its data goes with it, unless a pod of this node still
        mounts it (then once none does: ``release``)."""
        ns = str(pvc["metadata"].get("namespace") or "default")
        name = str(pvc["metadata"]["name"])
        with self._lock:
            self._bound.discard((ns, name))
            self._deleted.add((ns, name))
        self.release()

    def release(self, besides: str = "") -> None:
        """Remove the data of deleted claims that no pod of this node mounts any more (not
        counting the pod ``besides``, being stopped now)."""
        with self._lock:
            pending = list(self._deleted)
        for ns, name in pending:
            if self.exists(ns, name):  # made again meanwhile
                with self._lock:
                    self._deleted.discard((ns, name))
            elif not self.in_use(ns, name, besides=besides):
                remove_claim_dir(self.root, ns, name)
                with self._lock:
                    self._deleted.discard((ns, name))


__all__ = ["Claims", "bound_status", "claim_names"]
