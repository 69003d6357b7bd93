"""A store event's object as every watcher of that event sees it: decoded once, encoded once.

A backend hands all its watchers the same StoreEvent; without sharing, each watcher decoded
the stored JSON again (to match its selectors and build its event) and each HTTP watch
encoded the object again, 2 x N JSON passes per write for N watches. Upstream's watch cache
serialises an event once per encoding and shares the bytes among watchers; this is the same
for gitkube's one encoding.

The shared object is read-only: a consumer that keeps or changes an object gets its own with
``fresh()`` (the WatchEvent does that on first use of ``object``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitkube.api.codec import decode
from gitkube.store.base import KeyValue, StoreEvent

Obj = dict[str, Any]
_MEMO_KEY = "api.shared"


class SharedObject:
    """The object of one store event, with its resourceVersion (the event's revision)."""

    __slots__ = ("_encoded", "_kv", "_view")

    def __init__(self, kv: KeyValue):
        # the key/value, not the event: the event holds this object, and a cycle would leave
        # every event to the cyclic garbage collector instead of freeing it when consumed
        self._kv = kv
        self._view: Obj | None = None
        self._encoded: dict[Callable[[Obj], bytes], bytes] = {}

    @classmethod
    def of(cls, event: StoreEvent) -> SharedObject:
        """The one SharedObject of ``event`` (made on first use; concurrent first uses may
        each make one, and all but one are dropped: they are equal)."""
        shared = event.memo.get(_MEMO_KEY)
        if shared is None:
            shared = event.memo.setdefault(_MEMO_KEY, cls(event.kv))
        assert isinstance(shared, SharedObject)
        return shared

    def view(self) -> Obj:
        """The decoded object, shared by every watcher: never modify it."""
        if self._view is None:
            self._view = decode(self._kv)
        return self._view

    def fresh(self) -> Obj:
        """A decoded object of the caller's own."""
        return decode(self._kv)

    def encoded(self, encoder: Callable[[Obj], bytes]) -> bytes:
        """``encoder(object)``, computed once per encoder for every watcher."""
        data = self._encoded.get(encoder)
        if data is None:
            data = self._encoded.setdefault(encoder, encoder(self.view()))
        return data

