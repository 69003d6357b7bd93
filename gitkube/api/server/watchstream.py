"""Watch over HTTP: a Client watcher as a stream of JSON lines, one event per line.

- no resourceVersion or "0": synthetic ADDED events first (the Client's watch does that);
- ``sendInitialEvents=true``: the list as ADDED events, then a BOOKMARK carrying the
  annotation ``k8s.io/initial-events-end: "true"`` (kubectl 1.35+ waits for it), then changes
  after the list's resourceVersion;
- history compacted: HTTP 200 and one ERROR event whose object is a Status 410 Expired, as the
  API server does (clients relist); a store failure mid-stream ends it the same way with a
  503 Status;
- ``timeoutSeconds``: the stream ends then; without it the stream stays open until the client
  goes away or the server shuts down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gitkube.api.client import Client, Watcher, WatchEvent
from gitkube.api.server.bodies import encode_json
from gitkube.errors import APIError, GitkubeError, Gone
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]
log = logging.getLogger("gitkube.api.server")
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# How often a quiet watch wakes to check for shutdown and a vanished peer.
TICK = 1.0


def _line(event_type: str, obj: Obj) -> bytes:
    return encode_json({"type": event_type, "object": obj}) + b"\n"


def error_line(error: APIError) -> bytes:
    return _line("ERROR", error.status())


def bookmark(rt: ResourceType, resource_version: str, *, initial_end: bool = False) -> bytes:
    meta: Obj = {"resourceVersion": resource_version}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return _line("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})


@dataclass(frozen=True)
class WatchQuery:
    """A watch request's query parameters (the module docstring says what each does)."""

    resource_version: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    timeout_seconds: int | None = None
    send_initial_events: bool = False
    bookmarks: bool = False


class WatchStream:
    """Opens the watch eagerly (so a bad selector is a 400 before the 200), then yields
    lines. ``close()`` may be called from any thread."""

    def __init__(self, client: Client, rt: ResourceType, namespace: str | None,
                 query: WatchQuery, *, stopping: threading.Event,
                 render: Callable[[Obj], Obj] | None = None):
        self._stopping = stopping
        self._render = render
        self._what = rt.plural
        timeout = query.timeout_seconds
        self._deadline = (time.monotonic() + timeout
                          if timeout is not None and timeout > 0 else None)
        self._head: list[bytes] = []
        self._watcher: Watcher | None = None
        self._closed = False
        args = (rt.api_version, rt.kind, namespace)
        labels, fields = query.label_selector, query.field_selector
        resource_version = query.resource_version
        try:
            if query.send_initial_events:
                listed = client.list(*args, label_selector=labels, field_selector=fields)
                self._head = [self._event("ADDED", o) for o in listed.items]
                if query.bookmarks:
                    self._head.append(bookmark(rt, listed.resource_version, initial_end=True))
                resource_version = listed.resource_version
            self._watcher = client.watch(*args, resource_version=resource_version,
                                         label_selector=labels, field_selector=fields)
        except Gone as e:
            self._head = [error_line(e)]

    def __iter__(self) -> Iterator[bytes | None]:
        yield from self._head
        watcher = self._watcher
        if watcher is None:
            return
        while not self._closed and not self._stopping.is_set():
            wait = TICK
            if self._deadline is not None:
                wait = min(wait, self._deadline - time.monotonic())
                if wait <= 0:
                    return
            try:
                event = watcher.next_event(wait)
            except APIError as e:  # Gone (410) above all
                yield error_line(e)
                return
            except GitkubeError as e:  # the store failed under the watch
                log.warning("watch of %s ended: %s", self._what, e)
                failure = APIError(f"the watch ended: {e.message}")
                failure.code, failure.reason = 503, "ServiceUnavailable"
                yield error_line(failure)
                return
            if event is None:
                yield None
                continue
            if event.type == "BOOKMARK":
                continue  # gitkube sends bookmarks only for the initial-events end
            yield self._watch_line(event)

    def _watch_line(self, event: WatchEvent) -> bytes:
        """A watched change's line: the object's JSON is shared with every other watch of
        the same store event (encoded once), unless this client asked for a Table."""
        if self._render is None and event.shared is not None:
            return b'{"type":"%s","object":%s}\n' % (event.type.encode(),
                                                     event.shared.encoded(encode_json))
        return self._event(event.type, event.object)

    def _event(self, event_type: str, obj: Obj) -> bytes:
        """An event line; objects rendered (as a Table) when the client asked for that."""
        return _line(event_type, self._render(obj) if self._render else obj)

    def close(self) -> None:
        self._closed = True
        if self._watcher is not None:
            self._watcher.close()
