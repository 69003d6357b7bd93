"""An in-memory Store for fast tests and throw-away runs. Thread-safe; nothing persists.

Same contract as the SQLite and etcd backends (one test suite runs against all three): one
revision per write or transaction, history kept for watchers until compacted.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

from gitkube.errors import Compacted, KeyExists, KeyNotFound, RevisionConflict, StoreError
from gitkube.store._ops import SingleOpWrites, check_ops
from gitkube.store._watch import Hub, QueueWatch
from gitkube.store.base import Create, Delete, KeyValue, Op, StoreEvent, Update

DEFAULT_HISTORY = 10_000


class MemoryStore(SingleOpWrites):
    """A dict plus an event log. ``history`` revisions are kept for watchers; older ones are
    compacted automatically once twice that many have accumulated."""

    def __init__(self, url: str = "memory://", *, history: int = DEFAULT_HISTORY):
        self.url = url
        self._history = history
        self._lock = threading.RLock()
        self._data: dict[str, KeyValue] = {}
        self._log: list[StoreEvent] = []  # every event with revision >= _compact_rev
        self._log_revs: list[int] = []  # revisions of _log, for bisect
        self._rev = 0
        self._compact_rev = 0  # history below this revision is gone (etcd's meaning)
        self._hub = Hub()
        self._closed = False

    # reads

    def get(self, key: str) -> KeyValue | None:
        """The live value of ``key``, or None."""
        with self._lock:
            return self._data.get(key)

    def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Live keys under ``prefix`` sorted by key, and the revision of the read."""
        with self._lock:
            items = [kv for key, kv in self._data.items() if key.startswith(prefix)]
            rev = self._rev
        items.sort(key=lambda kv: kv.key)
        return items, rev

    def revision(self) -> int:
        with self._lock:
            return self._rev

    # writes

    def txn(self, ops: Sequence[Op]) -> int:
        """Apply every op at one new revision, or none (raising the first op's error)."""
        check_ops(ops)
        with self._lock:
            self._check_open()
            if not ops:
                return self._rev
            rev = self._rev + 1
            events = [self._event(op, rev) for op in ops]  # raises before any change
            for event in events:
                if event.type == "DELETED":
                    del self._data[event.kv.key]
                else:
                    self._data[event.kv.key] = event.kv
            self._rev = rev
            self._log.extend(events)
            self._log_revs.extend(rev for _ in events)
            with self._hub.lock:
                self._hub.dispatch(_delivered(events))
            if rev - self._compact_rev >= 2 * self._history:
                self.compact(rev - self._history)
            return rev

    def _event(self, op: Op, rev: int) -> StoreEvent:
        old = self._data.get(op.key)
        if isinstance(op, Create):
            if old is not None:
                raise KeyExists(op.key)
            return StoreEvent("ADDED", KeyValue(op.key, op.value, rev, rev))
        if old is None:
            raise KeyNotFound(op.key)
        if op.expected_revision is not None and op.expected_revision != old.mod_revision:
            raise RevisionConflict(op.key, op.expected_revision, old.mod_revision)
        if isinstance(op, Update):
            return StoreEvent("MODIFIED", KeyValue(op.key, op.value, old.create_revision, rev))
        assert isinstance(op, Delete)
        return StoreEvent("DELETED", KeyValue(op.key, old.value, old.create_revision, rev))

    # watch and history

    def watch(self, prefix: str, since: int) -> QueueWatch:
        """Every change under ``prefix`` after revision ``since``, then new ones as they come."""
        with self._lock:
            self._check_open()
            if since < self._compact_rev - 1:
                raise Compacted(since, self._compact_rev - 1)
            start = bisect.bisect_right(self._log_revs, since)
            with self._hub.lock:
                return self._hub.add(prefix, since, _delivered(self._log[start:]))

    def compact(self, revision: int) -> None:
        """Forget history below ``revision``: watching from before ``revision - 1`` then
        raises Compacted. Live keys are unaffected."""
        with self._lock:
            if revision > self._rev:
                raise StoreError(
                    f"cannot compact to revision {revision}: the store is at {self._rev}"
                )
            if revision <= self._compact_rev:
                return
            cut = bisect.bisect_left(self._log_revs, revision)
            del self._log[:cut]
            del self._log_revs[:cut]
            self._compact_rev = revision

    def close(self) -> None:
        """End every watch. Further writes raise StoreError."""
        with self._lock:
            self._closed = True
        self._hub.close_all()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.url} is closed")

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["MemoryStore", "QueueWatch"]


def _delivered(events: list[StoreEvent]) -> list[StoreEvent]:
    """Events for watchers, apart from the history's own: what watchers derive from an event
    (its ``memo``) is freed once they have consumed it instead of staying with the history."""
    return [StoreEvent(e.type, e.kv) for e in events]
