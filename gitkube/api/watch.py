"""LocalWatcher: a store watch turned into Kubernetes watch events for one kind.

Selectors are applied per event the Kubernetes way: an object that stops matching is sent as
DELETED, one that starts matching as ADDED. That needs to know what the watcher has seen, so
the set of matching keys is tracked from the synthetic initial list; when resuming from a
resourceVersion (no initial list) an object first seen modified and matching is MODIFIED, and
one seen modified and not matching is skipped.

Every watcher of a store event shares its decoded object for matching and its encoding
(gitkube/api/shared.py); an event's own ``object`` is decoded only if its consumer uses it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from gitkube.api.client import WatchEvent
from gitkube.api.shared import SharedObject
from gitkube.errors import Compacted, Gone
from gitkube.model.labels import FieldSelector, Selector
from gitkube.store.base import StoreEvent, Watch

Obj = dict[str, Any]


def gone(error: Compacted) -> Gone:
    return Gone(
        f"too old resource version: {error.requested} ({error.compacted + 1})",
        hint="relist, then watch from the list's resourceVersion",
    )


class LocalWatcher:
    """Implements ``gitkube.api.client.Watcher`` over a store Watch."""

    def __init__(
        self,
        watch: Watch,
        *,
        initial: list[Obj] | None,
        initial_keys: list[str] | None,
        labels: Selector,
        fields: FieldSelector,
    ):
        self._watch = watch
        self._pending: deque[WatchEvent] = deque(WatchEvent("ADDED", o) for o in initial or [])
        self._matching: set[str] | None = set(initial_keys) if initial_keys is not None else None
        self._labels = labels
        self._fields = fields
        self._everything = labels.empty and fields.empty
        self._closed = False

    def _matches(self, shared: SharedObject) -> bool:
        if self._everything:
            return True  # no need to decode the object
        obj = shared.view()
        return self._labels.matches_object(obj) and self._fields.matches(obj)

    def _translate(self, event: StoreEvent) -> WatchEvent | None:
        shared = SharedObject.of(event)
        key = event.kv.key
        now = self._matches(shared)
        seen = self._matching
        if event.type == "DELETED":
            was = key in seen if seen is not None else now
            if seen is not None:
                seen.discard(key)
            return WatchEvent("DELETED", shared=shared) if was else None
        if event.type == "ADDED":
            if not now:
                return None
            if seen is not None:
                seen.add(key)
            return WatchEvent("ADDED", shared=shared)
        # MODIFIED
        if seen is None:
            return WatchEvent("MODIFIED", shared=shared) if now else None
        was = key in seen
        if now:
            seen.add(key)
            return WatchEvent("MODIFIED" if was else "ADDED", shared=shared)
        if was:
            seen.discard(key)
            return WatchEvent("DELETED", shared=shared)
        return None

    def next_event(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event within ``timeout`` seconds (forever when None); None on timeout or
        when closed. Raises Gone when the history it needs was compacted."""
        if self._pending:
            return self._pending.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                raw = self._watch.next_event(remaining)
            except Compacted as e:
                raise gone(e) from e
            if raw is None:
                return None
            event = self._translate(raw)
            if event is not None:
                return event
            if deadline is not None and time.monotonic() >= deadline:
                return None
        return None

    def __iter__(self) -> Iterator[WatchEvent]:
        while not self._closed:
            event = self.next_event(None)
            if event is None:
                return
            yield event

    def close(self) -> None:
        self._closed = True
        self._watch.close()

    def __enter__(self) -> LocalWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
