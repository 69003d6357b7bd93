"""EventRecorder: v1 Events about objects, written through the Client, repeats aggregated.

``recorder.event(obj, "Normal", "SuccessfulCreate", "Created pod: web-abcde")`` writes an
Event in the object's namespace (``default`` for cluster-scoped objects, as upstream does for
Nodes) named ``<object name>.<hex nanoseconds>``, with ``involvedObject`` {apiVersion, kind,
namespace, name, uid, resourceVersion}, ``source`` {component, host}, ``count: 1`` and
``firstTimestamp``/``lastTimestamp``. The same (object uid, type, reason, message) again
increments ``count`` and moves ``lastTimestamp`` of that Event instead of writing a new one
(upstream's EventCorrelator, simplified: exact repeats only). The recorder remembers the
last ``cache_size`` distinct events it wrote (least recently used dropped first) by a 16-byte
digest of their identity, so a long-running daemon's memory for this stays small and bounded.

A recorder made with ``asynchronous=True`` (the Manager's) queues events and writes them from
its own thread, so agents never wait on event writes; ``flush()`` waits until the queue is
written and ``close()`` flushes and stops the thread. Recording never raises: a failed write
is logged and dropped (events are best-effort, as in Kubernetes).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from gitkube.api.client import Client
from gitkube.errors import APIError, GitkubeError, NotFound
from gitkube.model.times import rfc3339

Obj = dict[str, Any]
EventType = Literal["Normal", "Warning"]
log = logging.getLogger("gitkube.agents.events")
CACHE_SIZE = 1024  # distinct events remembered per recorder, for aggregation


def involved_ref(obj: Obj) -> Obj:
    """The ObjectReference of ``obj`` as an Event's involvedObject."""
    meta = obj.get("metadata") or {}
    ref: Obj = {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
                "name": meta.get("name", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = str(meta["resourceVersion"])
    return ref


class EventRecorder:
    """Records Events for one component (``deployment-controller``, ``default-scheduler``,
    ``kubelet``) on one host."""

    def __init__(self, client: Client, component: str, host: str = "", *,
                 clock: Callable[[], float] | None = None, asynchronous: bool = False,
                 cache_size: int = CACHE_SIZE):
        self.client = client
        self.component = component
        self.host = host
        self._clock = clock or time.time
        # digest of (namespace, object, type, reason, message) -> name of the Event written
        self._seen: OrderedDict[bytes, str] = OrderedDict()
        self._cache_size = cache_size
        self._suffixes = itertools.count(1)  # for names taken already (same timestamp)
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Obj, str, str, str, float] | None] | None = None
        self._thread: threading.Thread | None = None
        if asynchronous:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._drain, daemon=True,
                                            name=f"events {component}")
            self._thread.start()

    def event(self, obj: Obj, type: EventType, reason: str, message: str) -> None:
        """Record that ``reason: message`` happened to ``obj`` (Normal or Warning)."""
        item = (obj, type, reason, message, self._clock())
        if self._queue is not None:
            self._queue.put(item)
        else:
            self._write(*item)

    def normal(self, obj: Obj, reason: str, message: str) -> None:
        self.event(obj, "Normal", reason, message)

    def warning(self, obj: Obj, reason: str, message: str) -> None:
        self.event(obj, "Warning", reason, message)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued event has been written (asynchronous recorders)."""
        if self._queue is None:
            return
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write(*item)
            finally:
                self._queue.task_done()

    def _write(self, obj: Obj, type: str, reason: str, message: str, now: float) -> None:
        ref = involved_ref(obj)
        namespace = ref.get("namespace") or "default"
        agg = _identity(namespace, str(ref.get("uid") or ref["kind"] + "/" + ref["name"]),
                        type, reason, message)
        stamp = rfc3339(now)
        try:
            with self._lock:
                known = self._seen.get(agg)
                if known is not None:
                    self._seen.move_to_end(agg)  # least recently used goes first
            if known is not None and self._bump(namespace, known, stamp):
                return
            name = f"{ref['name']}.{int(now * 1e9):x}"
            event: Obj = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref, "reason": reason, "message": message, "type": type,
                "count": 1, "firstTimestamp": stamp, "lastTimestamp": stamp,
                "source": {"component": self.component, **({"host": self.host}
                                                           if self.host else {})},
                "reportingComponent": self.component,
                "reportingInstance": self.host,
            }
            for attempt in range(8):  # names are times: a clock that stands still repeats them
                try:
                    self.client.create(event)
                    break
                except APIError as e:
                    if e.code != 409 or attempt == 7:
                        raise
                    event["metadata"]["name"] = f"{name}{next(self._suffixes):x}"
            with self._lock:
                self._seen[agg] = event["metadata"]["name"]
                self._seen.move_to_end(agg)
                while len(self._seen) > self._cache_size:
                    self._seen.popitem(last=False)
        except GitkubeError as e:
            log.debug("event %s %s for %s not recorded: %s", reason, message, ref, e)

    def _bump(self, namespace: str, name: str, stamp: str) -> bool:
        """Increment count of an existing Event; False when it is gone (write a new one)."""
        for _ in range(3):
            try:
                current = self.client.get("v1", "Event", namespace, name)
            except NotFound:
                return False
            current["count"] = int(current.get("count") or 1) + 1
            current["lastTimestamp"] = stamp
            try:
                self.client.update(current)
                return True
            except NotFound:
                return False
            except APIError as e:
                if e.code != 409:
                    raise
        return False


def _identity(*parts: str) -> bytes:
    """What makes two events the same, as a 16-byte digest (the parts are kept nowhere)."""
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).digest()


__all__ = ["CACHE_SIZE", "EventRecorder", "involved_ref"]
