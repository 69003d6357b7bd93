"""Choosing a backend for a new connection: round robin, ClientIP affinity, failover.

A ``Balancer`` belongs to one service port and is used from one thread (the proxy's event
loop). ``candidates(client_ip)`` returns every backend in the order to try: the first is the
pick (the client's affinity backend while its entry is fresh, else the next in round robin),
the rest follow in round-robin order so a backend that fails to connect is skipped for the
next. Backends that failed recently (``failed``) go last for ``cooldown`` seconds.
``connected(client_ip, backend)`` records the affinity. ``update`` replaces the backend set
and keeps affinity entries whose backend remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from gitkube.agents.proxy.table import Backend

Clock = Callable[[], float]


class Balancer:
    def __init__(self, backends: Sequence[Backend] = (), *, affinity_timeout: float | None = None,
                 cooldown: float = 2.0, clock: Clock = time.monotonic):
        self.backends: tuple[Backend, ...] = tuple(backends)
        self.affinity_timeout = affinity_timeout
        self.cooldown = cooldown
        self.clock = clock
        self._next = 0
        self._affinity: dict[str, tuple[Backend, float]] = {}  # client ip -> (backend, last)
        self._failed: dict[Backend, float] = {}  # backend -> when it failed

    def update(self, backends: Sequence[Backend], affinity_timeout: float | None) -> None:
        """New backend set (and affinity setting); affinity to backends that remain stays."""
        self.backends = tuple(backends)
        if affinity_timeout != self.affinity_timeout:
            self._affinity.clear()
        self.affinity_timeout = affinity_timeout
        keep = set(self.backends)
        self._affinity = {ip: v for ip, v in self._affinity.items() if v[0] in keep}
        self._failed = {b: t for b, t in self._failed.items() if b in keep}
        if self.backends:
            self._next %= len(self.backends)
        else:
            self._next = 0

    def candidates(self, client_ip: str) -> list[Backend]:
        """Every backend, in the order to try (see the module docstring)."""
        n = len(self.backends)
        if n == 0:
            return []
        now = self.clock()
        start = self._next % n
        self._next = (start + 1) % n
        order = [self.backends[(start + i) % n] for i in range(n)]
        if self._failed:
            fresh = {b for b, t in self._failed.items() if now - t < self.cooldown}
            self._failed = {b: t for b, t in self._failed.items() if b in fresh}
            order = [b for b in order if b not in fresh] + [b for b in order if b in fresh]
        if self.affinity_timeout is not None:
            entry = self._affinity.get(client_ip)
            if entry is not None and now - entry[1] <= self.affinity_timeout:
                sticky = entry[0]
                if sticky not in self._failed:
                    order.remove(sticky)
                    order.insert(0, sticky)
                    self._next = start  # the round robin did not move for this client
            elif entry is not None:
                del self._affinity[client_ip]
        return order

    def connected(self, client_ip: str, backend: Backend) -> None:
        """A connection from ``client_ip`` reached ``backend``: remember it (affinity)."""
        self._failed.pop(backend, None)
        if self.affinity_timeout is not None:
            self._affinity[client_ip] = (backend, self.clock())

    def failed(self, backend: Backend) -> None:
        """Connecting to ``backend`` failed: try it last for a while."""
        self._failed[backend] = self.clock()
        for ip, (b, _) in list(self._affinity.items()):
            if b == backend:
                del self._affinity[ip]

    def expire(self) -> None:
        """Drop affinity entries older than the timeout (called now and then)."""
        if self.affinity_timeout is None:
            return
        now = self.clock()
        self._affinity = {ip: v for ip, v in self._affinity.items()
                          if now - v[1] <= self.affinity_timeout}


__all__ = ["Balancer"]
