"""Event expiry: Events older than a TTL (default one hour, upstream's ``--event-ttl``) are
deleted, so a long-running cluster's store does not fill with them. Upstream attaches an
etcd lease to each Event; gitkube's stores have no leases, so this agent follows Events (a
list, then a watch), remembers only when each was last seen (``lastTimestamp``, else
``eventTime``, ``firstTimestamp``, creation time), and every ``period`` seconds deletes those
older than ``ttl`` by the Manager's clock. It never lists every Event again while its watch
holds: a periodic full list held the objects of an hour of Events in memory at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from gitkube.agents.manager import Manager, StreamEnd
from gitkube.api.client import Client
from gitkube.errors import GitkubeError, Gone, NotFound
from gitkube.model.times import parse_time

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.eventttl")


def last_seen(event: Obj) -> float | None:
    for value in (event.get("lastTimestamp"), event.get("eventTime"),
                  event.get("firstTimestamp"),
                  (event.get("metadata") or {}).get("creationTimestamp")):
        t = parse_time(value)
        if t is not None:
            return t
    return None


class LastSeen:
    """When each live Event was last seen, by ``namespace/name``: all the expiry agent keeps
    of an Event (a float and a key, not the object), so its memory stays small however many
    Events a busy cluster holds within the TTL."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def when(self, namespace: str, name: str) -> float | None:
        """When the Event ``namespace/name`` was last seen; None if it is not known."""
        return self._seen.get(f"{namespace}/{name}")

    def replace(self, events: list[Obj]) -> None:
        self._seen = {}
        for e in events:
            self.saw(e)

    def saw(self, event: Obj) -> None:
        t = last_seen(event)
        if t is not None:
            self._seen[_key(event)] = t

    def gone(self, event: Obj) -> None:
        self._seen.pop(_key(event), None)

    def expired(self, now: float, ttl: float) -> list[tuple[str, str]]:
        """(namespace, name) of the Events last seen more than ``ttl`` before ``now``."""
        out = []
        for key, t in self._seen.items():
            if now - t > ttl:
                namespace, _, name = key.partition("/")
                out.append((namespace, name))
        return out


def _key(event: Obj) -> str:
    meta = event.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


class EventExpiry:
    """An Agent: follows Events with a list and a watch (keeping only when each was last
    seen), and every ``period`` seconds (and once at start) deletes those expired."""

    name = "event-ttl"

    def __init__(self, client: Client, clock: Callable[[], float], *, ttl: float = 3600.0,
                 period: float = 600.0):
        self.client = client
        self.clock = clock
        self.ttl = ttl
        self.period = period
        self.seen = LastSeen()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0

    def sweep(self) -> int:
        """Delete what has expired now (as far as this agent has seen); how many."""
        n = 0
        for namespace, name in self.seen.expired(self.clock(), self.ttl):
            with contextlib.suppress(NotFound):
                self.client.delete("v1", "Event", namespace, name)
                n += 1
            self.seen.gone({"metadata": {"namespace": namespace, "name": name}})
        self.deleted += n
        return n

    def _relist(self) -> str:
        listed = self.client.list("v1", "Event")
        self.seen.replace(listed.items)
        return listed.resource_version

    def _follow(self, version: str, until: float) -> str:
        """Apply watch events from ``version`` until the monotonic time ``until``, the stream
        ends, or stop; the version reached. Gone or an ERROR event: relist."""
        ended = StreamEnd()
        with self.client.watch("v1", "Event", resource_version=version) as watcher:
            while not self._stop.is_set() and time.monotonic() < until:
                event = ended.next_event(watcher, min(1.0, max(0.0, until - time.monotonic())))
                if event is None:
                    if ended:  # the server ended the stream: watch again from here
                        self._stop.wait(0.5)
                        return version
                    continue
                if event.type == "ERROR":
                    raise Gone("the Event watch ended with an error; relisting")
                if event.type == "DELETED":
                    self.seen.gone(event.object)
                else:
                    self.seen.saw(event.object)
                version = str((event.object.get("metadata") or {}).get("resourceVersion")
                              or version)
        return version

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            next_sweep = time.monotonic() + self.period
            try:
                if version is None:
                    version = self._relist()
                self.sweep()
                while not self._stop.is_set() and time.monotonic() < next_sweep:
                    version = self._follow(version, next_sweep)
            except Gone:
                version = None
            except GitkubeError as e:
                log.warning("event expiry failed: %s", e)
                version = None
                self._stop.wait(min(self.period, 5.0))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
        self._thread.start()

    def signal_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def controller(manager: Manager, *, ttl: float = 3600.0, period: float = 600.0) -> EventExpiry:
    """The event expiry agent for ``manager``."""
    return EventExpiry(manager.client, manager.clock, ttl=ttl, period=period)
