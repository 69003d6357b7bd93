"""Event expiry: Events older than a TTL (default one hour, upstream's ``--event-ttl``) are
deleted, so a long-running cluster's store does not fill with them. Upstream attaches an
etcd lease to each Event; gitkube's stores have no leases, so this agent lists Events every
``period`` seconds and deletes those whose ``lastTimestamp`` (else ``eventTime``,
``firstTimestamp``, creation time) is older than ``ttl`` by the Manager's clock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from gitkube.agents.manager import Manager
from gitkube.api.client import Client
from gitkube.errors import GitkubeError, NotFound
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


def expired(events: list[Obj], now: float, ttl: float) -> list[Obj]:
    """Pure: the Events last seen more than ``ttl`` seconds before ``now``."""
    out = []
    for e in events:
        seen = last_seen(e)
        if seen is not None and now - seen > ttl:
            out.append(e)
    return out


class EventExpiry:
    """An Agent: deletes expired Events every ``period`` seconds (and once at start)."""

    name = "event-ttl"

    def __init__(self, client: Client, clock: Callable[[], float], *, ttl: float = 3600.0,
                 period: float = 600.0):
        self.client = client
        self.clock = clock
        self.ttl = ttl
        self.period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0

    def sweep(self) -> int:
        """Delete what has expired now; how many were deleted."""
        events = self.client.list("v1", "Event").items
        n = 0
        for e in expired(events, self.clock(), self.ttl):
            meta = e["metadata"]
            with contextlib.suppress(NotFound):
                self.client.delete("v1", "Event", meta.get("namespace"), meta["name"],
                                   uid=meta.get("uid"))
                n += 1
        self.deleted += n
        return n

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except GitkubeError as e:
                log.warning("event expiry failed: %s", e)
            if self._stop.wait(self.period):
                return

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
