"""The scheduling queue: pods waiting for a cycle, by priority, like upstream's three queues.

- **active**: ready to be tried, highest ``spec.priority`` first, then first in first out.
- **backoff**: tried and failed; waits ``initial * 2^(attempts-1)`` (capped) before active.
- **unschedulable**: fitted nowhere; stays until the cluster changes (``move_all``: a node
  added or changed, a pod deleted) or it has waited ``max_unschedulable`` seconds
  (``flush``). If the cluster changed *during* the pod's failed cycle, it goes to backoff
  instead, so a node that appeared meanwhile is not missed.

Queues hold pod keys (``namespace/name``); the scheduler reads the pod when it pops one.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._cond = threading.Condition()
        self._seq = 0
        self._active: list[tuple[int, int, str]] = []
        self._in_active: set[str] = set()
        self._backoff: list[tuple[float, int, str]] = []
        self._in_backoff: dict[str, float] = {}
        self._unschedulable: dict[str, float] = {}
        self._priority: dict[str, int] = {}
        self._attempts: dict[str, int] = {}
        self.move_seq = 0
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._in_active) + len(self._in_backoff) + len(self._unschedulable)

    def counts(self) -> tuple[int, int, int]:
        """(active, backoff, unschedulable) sizes."""
        with self._cond:
            return len(self._in_active), len(self._in_backoff), len(self._unschedulable)

    def _push_active(self, key: str) -> None:
        if key in self._in_active:
            return
        self._in_backoff.pop(key, None)
        self._unschedulable.pop(key, None)
        self._seq += 1
        heapq.heappush(self._active, (-self._priority.get(key, 0), self._seq, key))
        self._in_active.add(key)
        self._cond.notify()

    def add(self, key: str, priority: int = 0) -> None:
        """A new or changed pending pod: try it now (its back-off is kept)."""
        with self._cond:
            self._priority[key] = priority
            ready_at = self._in_backoff.get(key)
            if ready_at is not None and ready_at > self._clock():
                return  # still backing off; it comes back on its own
            self._push_active(key)

    def delete(self, key: str) -> None:
        """The pod is bound or gone: forget it everywhere."""
        with self._cond:
            self._in_active.discard(key)  # its heap entry is skipped when popped
            self._in_backoff.pop(key, None)
            self._unschedulable.pop(key, None)
            self._priority.pop(key, None)
            self._attempts.pop(key, None)

    def _backoff_for(self, key: str) -> float:
        n = self._attempts.get(key, 0) + 1
        self._attempts[key] = n
        return float(min(self.initial_backoff * (2 ** (n - 1)), self.max_backoff))

    def _to_backoff(self, key: str, ready_at: float) -> None:
        self._unschedulable.pop(key, None)
        self._in_backoff[key] = ready_at
        self._seq += 1
        heapq.heappush(self._backoff, (ready_at, self._seq, key))
        self._cond.notify()

    def unschedulable(self, key: str, cycle_move_seq: int) -> None:
        """A cycle found no node for ``key``. ``cycle_move_seq`` is ``move_seq`` as read when
        the cycle started."""
        with self._cond:
            if key in self._in_active or key not in self._priority:
                return  # changed (re-added) or deleted meanwhile
            delay = self._backoff_for(key)
            if self.move_seq != cycle_move_seq:
                self._to_backoff(key, self._clock() + delay)
            else:
                self._in_backoff.pop(key, None)
                self._unschedulable[key] = self._clock()

    def retry(self, key: str) -> None:
        """An error (a failed binding): try again after the pod's back-off."""
        with self._cond:
            if key in self._in_active or key not in self._priority:
                return
            self._to_backoff(key, self._clock() + self._backoff_for(key))

    def move_all(self) -> None:
        """The cluster changed: every unschedulable pod may fit now."""
        with self._cond:
            self.move_seq += 1
            now = self._clock()
            for key in list(self._unschedulable):
                self._move(key, now)

    def _move(self, key: str, now: float) -> None:
        n = self._attempts.get(key, 0)
        ready_at = (self._unschedulable.get(key, now)
                    + min(self.initial_backoff * (2 ** max(n - 1, 0)), self.max_backoff))
        if ready_at > now:
            self._to_backoff(key, ready_at)
        else:
            self._push_active(key)

    def flush(self, max_unschedulable: float) -> None:
        """Retry pods that waited ``max_unschedulable`` seconds with nothing changing."""
        with self._cond:
            now = self._clock()
            for key, since in list(self._unschedulable.items()):
                if now - since >= max_unschedulable:
                    self._push_active(key)

    def _promote(self) -> float | None:
        now = self._clock()
        while self._backoff:
            ready_at, _, key = self._backoff[0]
            if self._in_backoff.get(key) != ready_at:
                heapq.heappop(self._backoff)  # stale entry
                continue
            if ready_at > now:
                return ready_at - now
            heapq.heappop(self._backoff)
            self._push_active(key)
        return None

    def pop(self, timeout: float | None = None) -> str | None:
        """The next pod key to try, or None after ``timeout`` seconds or ``close``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                wait = self._promote()
                while self._active:
                    _, _, key = heapq.heappop(self._active)
                    if key in self._in_active:
                        self._in_active.discard(key)
                        return key
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if wait is not None:
                    remaining = wait if remaining is None else min(wait, remaining)
                self._cond.wait(remaining)
            return None

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


__all__ = ["SchedulingQueue"]
