"""``Outlet``: a queue with a thread of its own that hands what a WebSocket client sent to a
destination that may block (a process's stdin, a forwarded TCP connection).

The WebSocket loop must never block on a destination (gitkube/api/server/websocket.py), so
it ``put``s and goes on; ``backlog`` tells it when to stop reading the client. Items are
bytes (written with ``write``) or callables (run in order with the writes: the end of
stdin, a terminal resize).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable

Item = bytes | Callable[[], None]
LIMIT = 4 * 1024 * 1024  # queued bytes above which the WebSocket loop stops reading


class Outlet:
    """A queue drained by one thread into ``write`` (module docstring). ``ready`` (optional)
    is waited for before the first item: the destination is still being opened."""

    def __init__(self, write: Callable[[bytes], None], *, name: str,
                 ready: threading.Event | None = None):
        self._write = write
        self._ready = ready
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._finished = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Item) -> None:
        with self._cond:
            if self._stopped:
                return
            self._items.append(item)
            if isinstance(item, bytes):
                self._bytes += len(item)
            self._cond.notify()

    @property
    def backlog(self) -> int:
        return self._bytes

    def backlogged(self) -> bool:
        return self._bytes > LIMIT

    def _run(self) -> None:
        if self._ready is not None:
            while not self._ready.wait(0.5):
                if self._stopped:
                    return
        while True:
            with self._cond:
                while not self._items and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                item = self._items.popleft()
            try:
                if isinstance(item, bytes):
                    self._write(item)
                else:
                    item()
            except Exception:  # the destination is gone: drop the rest
                with self._cond:
                    self._stopped = True
                    self._items.clear()
                    self._bytes = 0
                return
            finally:
                if isinstance(item, bytes):
                    with self._cond:
                        self._bytes = max(0, self._bytes - len(item))

    def stop(self) -> None:
        """Drop what is queued, end the thread and wait for it (not from the thread
        itself). Idempotent."""
        with self._cond:
            self._stopped = True
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            with contextlib.suppress(RuntimeError):
                self._thread.join()


__all__ = ["LIMIT", "Outlet"]
