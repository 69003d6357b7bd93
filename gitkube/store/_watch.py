"""Watch plumbing shared by the memory and SQLite backends.

A backend keeps a ``Hub``. ``Hub.lock`` guards both the set of watchers and the backend's
"dispatched up to" revision, so a new watcher can read its catch-up history and register in
one step that no concurrent dispatch can interleave with: events up to the dispatched revision
come from the catch-up read, later ones from ``dispatch``; none is missed or repeated.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

from gitkube.store.base import StoreEvent

_CLOSED = object()


class QueueWatch:
    """A Watch fed by a backend: events are pushed in revision order into a queue."""

    def __init__(self, prefix: str, since: int, on_close: Callable[[QueueWatch], None]):
        self.prefix = prefix
        # Highest revision already delivered (or covered by the catch-up read): dispatch
        # skips anything at or below it, so no event is delivered twice.
        self.since = since
        self._on_close = on_close
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False

    def matches(self, event: StoreEvent) -> bool:
        return event.revision > self.since and event.kv.key.startswith(self.prefix)

    def push(self, events: Iterable[StoreEvent]) -> None:
        """Queue every matching event; the caller holds the hub lock and passes them in order."""
        last = self.since
        for event in events:
            if event.revision > self.since and event.kv.key.startswith(self.prefix):
                self._queue.put(event)
                last = event.revision
        self.since = max(self.since, last)

    def fail(self, error: BaseException) -> None:
        """End the stream: the consumer gets ``error`` raised after the queued events."""
        self._queue.put(error)

    def next_event(self, timeout: float | None = None) -> StoreEvent | None:
        """The next event, waiting at most ``timeout`` seconds (forever when None).

        Returns None on timeout or once the watch is closed; raises the error that ended the
        stream (for example Compacted: relist and watch again)."""
        if self._closed:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._queue.put(_CLOSED)  # wake any other reader too
            return None
        if isinstance(item, BaseException):
            self._closed = True
            self._on_close(self)
            raise item
        assert isinstance(item, StoreEvent)
        return item

    def __iter__(self) -> Iterator[StoreEvent]:
        while True:
            event = self.next_event(None)
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Stop the stream; iteration ends. Idempotent."""
        if not self._closed:
            self._closed = True
            self._on_close(self)
            self._queue.put(_CLOSED)

    def __enter__(self) -> QueueWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hub:
    """The watchers of one store object and the lock that orders catch-up against dispatch."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.watchers: set[QueueWatch] = set()

    def add(self, prefix: str, since: int, backlog: Iterable[StoreEvent]) -> QueueWatch:
        """Register a watcher (caller holds ``lock``) and queue its catch-up events."""
        watch = QueueWatch(prefix, since, self.remove)
        watch.push(backlog)
        self.watchers.add(watch)
        return watch

    def remove(self, watch: QueueWatch) -> None:
        with self.lock:
            self.watchers.discard(watch)

    def dispatch(self, events: list[StoreEvent]) -> None:
        """Deliver ``events`` (in revision order) to every watcher; caller holds ``lock``."""
        if events:
            for watch in list(self.watchers):
                watch.push(events)

    def fail_all(self, error_for: Callable[[QueueWatch], BaseException]) -> None:
        """End every watch with an error (caller holds ``lock``)."""
        for watch in list(self.watchers):
            watch.fail(error_for(watch))
            self.watchers.discard(watch)

    def close_all(self) -> None:
        with self.lock:
            for watch in list(self.watchers):
                watch.close()
            self.watchers.clear()


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None
