"""The Store interface: a small revisioned key/value store with watch, shaped like etcd/kine.

Keys are strings (``/registry/<plural>/<namespace>/<name>``); values are bytes (the api layer
stores JSON). Every write advances one global revision. A key's ``mod_revision`` is the
revision of its last write; the api layer reports it as ``metadata.resourceVersion``.

Contract (tests/store/test_store_contract.py runs it against every backend):
- ``create`` fails with KeyExists when the key exists; ``update``/``delete`` fail with
  KeyNotFound when it does not, and with RevisionConflict when ``expected_revision`` is given
  and differs from the key's ``mod_revision``.
- ``txn`` applies every op or none; it returns the revision of the transaction. Every
  backend gives all ops of a transaction that one revision (as etcd does), so each written
  key's ``mod_revision`` is the returned revision; every later write has a larger one. A
  transaction may name a key only once (StoreError otherwise); a failing op raises its own
  error (KeyExists, KeyNotFound, RevisionConflict) and nothing is applied. An empty ``txn``
  returns the current revision.
- ``list(prefix)`` returns the live keys under ``prefix`` sorted by key, and the store
  revision the read saw.
- ``watch(prefix, since)`` yields every change with revision > ``since`` under ``prefix``, in
  revision order, no gaps, no duplicates, then follows new changes. It raises Compacted when
  ``since`` is older than the compacted history. A watcher started with the revision returned
  by ``list`` misses nothing. ``next_event``/iteration may raise too: Compacted when the
  watcher fell behind a compaction, StoreUnavailable when the store went away; either way,
  relist and watch again. Events of one transaction share a revision and arrive together.
- ``compact(rev)`` forgets history below ``rev``; afterwards ``watch(prefix, since)`` with
  ``since < rev - 1`` raises Compacted (etcd's meaning). Live keys are never affected.
- Revisions start above 0; ``revision()`` is the store's latest revision.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True)
class StoreEvent:
    """One change to a key (the api turns these into its WatchEvents of objects). For DELETED,
    ``kv.value`` is the last value and ``kv.mod_revision`` is the revision of the deletion."""

    type: EventType
    kv: KeyValue
    # What consumers derive from the event (its decoded object, its JSON), kept here so that
    # it is computed once for every watcher the same event is delivered to: a backend's hub
    # hands all its watchers one StoreEvent object. Not part of the event's value.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True)
class Create:
    key: str
    value: bytes


@dataclass(frozen=True)
class Update:
    key: str
    value: bytes
    expected_revision: int | None = None


@dataclass(frozen=True)
class Delete:
    key: str
    expected_revision: int | None = None


Op = Create | Update | Delete


class Watch(Protocol):
    """A live stream of StoreEvents. Iterating blocks for the next event; ``next_event``
    waits at most ``timeout`` seconds and returns None when nothing arrived. A context
    manager: leaving the ``with`` block closes it."""

    def __iter__(self) -> Iterator[StoreEvent]: ...

    def next_event(self, timeout: float | None = None) -> StoreEvent | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Watch: ...

    def __exit__(self, *exc: object) -> None: ...


class Store(Protocol):
    url: str

    def get(self, key: str) -> KeyValue | None: ...

    def list(self, prefix: str) -> tuple[list[KeyValue], int]: ...

    def create(self, key: str, value: bytes) -> int: ...

    def update(self, key: str, value: bytes, expected_revision: int | None = None) -> int: ...

    def delete(self, key: str, expected_revision: int | None = None) -> int: ...

    def txn(self, ops: Sequence[Op]) -> int: ...

    def watch(self, prefix: str, since: int) -> Watch: ...

    def revision(self) -> int: ...

    def compact(self, revision: int) -> None: ...

    def close(self) -> None: ...
