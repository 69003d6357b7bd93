"""The kubelet's view of the runtime between syncs, and the relist that keeps it (upstream's
PLEG, the pod lifecycle event generator).

``RuntimeCache`` remembers what syncs and the relist learned: each pod's running sandbox
(so a sync of a running pod asks the runtime nothing about it), the addresses of containers
that own their network namespace, and the last relist's sandboxes by pod key.

``Pleg.relist()`` (every ``relist_period`` s) lists this node's containers and sandboxes and
enqueues the pods whose containers changed state since the last look (a container killed
outside gitkube), whose sandbox stopped or vanished, and the keys of sandboxes whose pod is
gone or is another pod now (deleted while the kubelet was down). ``seen(info)`` tells it of a
container a sync just looked at, so a change the kubelet made itself enqueues nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.runtime.base import (
    LABEL_NAMESPACE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerInfo,
    ContainerRuntime,
    SandboxInfo,
)

Obj = dict[str, Any]
Seen = tuple[Any, int | None, str]  # (state, exit code, pod key)


def pod_key(labels: Mapping[str, str]) -> str:
    """The key of the pod a sandbox or container was made for (from its labels)."""
    return f"{labels.get(LABEL_NAMESPACE)}/{labels.get(LABEL_POD_NAME)}"


def seen_as(info: ContainerInfo) -> Seen:
    """What the relist compares of a container: state, exit code, and its pod's key."""
    return (info.state, info.exit_code, pod_key(info.labels))


def changed_keys(before: Mapping[str, Seen], after: Mapping[str, Seen]) -> set[str]:
    """The pod keys whose containers changed between two looks (by container id): new,
    changed and gone containers."""
    keys = {now[2] for cid, now in after.items() if before.get(cid) != now}
    keys |= {gone[2] for cid, gone in before.items() if cid not in after}
    return keys


@dataclass
class RuntimeCache:
    """What the kubelet remembers of the runtime (module docstring). The dicts are shared
    by the sync workers and the relist: single operations on them are atomic."""

    sandboxes: dict[str, SandboxInfo] = field(default_factory=dict)  # pod uid -> running
    container_ips: dict[str, str] = field(default_factory=dict)  # container id -> its IP
    by_key: dict[str, list[SandboxInfo]] | None = None  # the last relist's, by pod key


class Pleg:
    """The relist (module docstring). ``pods.get(key)`` is this node's pod under ``key``;
    ``enqueue(key)`` asks for a sync."""

    def __init__(self, runtime: ContainerRuntime, scope: Mapping[str, str],
                 cache: RuntimeCache, pods: Callable[[str], Obj | None],
                 enqueue: Callable[[str], None]):
        self.runtime = runtime
        self.scope = dict(scope)
        self.cache = cache
        self.pods = pods
        self.enqueue = enqueue
        self._snapshot: dict[str, Seen] = {}
        self._lock = threading.Lock()  # the relist and the workers' ``seen``

    def seen(self, info: ContainerInfo) -> None:
        """A sync just looked at ``info``: the relist compares with that."""
        with self._lock:
            self._snapshot[info.id] = seen_as(info)

    def relist(self) -> None:
        """Look at the runtime once; enqueue what changed (module docstring)."""
        snapshot = {i.id: seen_as(i) for i in self.runtime.list_containers(self.scope)}
        with self._lock:
            keys = changed_keys(self._snapshot, snapshot)
            for cid in self._snapshot.keys() - snapshot.keys():
                self.cache.container_ips.pop(cid, None)  # removed (outside gitkube, or by us)
            self._snapshot = snapshot
        cached = set(self.cache.sandboxes)  # before the list: newer ones are not in it yet
        by_key: dict[str, list[SandboxInfo]] = {}
        listed: set[str] = set()
        for sb in self.runtime.list_sandboxes(self.scope):
            key = pod_key(sb.labels)
            uid = sb.labels.get(LABEL_POD_UID, "")
            by_key.setdefault(key, []).append(sb)
            listed.add(uid)
            pod = self.pods(key)
            if pod is None or pod["metadata"].get("uid") != uid:
                keys.add(key)
            if not sb.running and self.cache.sandboxes.pop(uid, None) is not None:
                keys.add(key)  # its infra stopped: ensure it again
        for uid, sb in list(self.cache.sandboxes.items()):
            if uid in cached and uid not in listed:  # removed outside gitkube
                self.cache.sandboxes.pop(uid, None)
                keys.add(pod_key(sb.labels))
        self.cache.by_key = by_key
        for key in keys:
            self.enqueue(key)


__all__ = ["Pleg", "RuntimeCache", "changed_keys", "pod_key", "seen_as"]
