"""A guard against a typo that would flood the machine with pods.

``replicas: 2147483647`` is a valid Kubernetes value; on one machine it would make the
controllers create pods for as long as memory lasts. ``PodBudget`` (one for all the
controllers of a process, gitkube/agents/compose.py) lets a workload create at most ``rate``
pods per second (a token bucket holding one second's worth) and stops every creation while
the cluster holds ``max_pods`` pods. A controller asks ``take(workload, want)`` before it
creates pods, creates what it was given, and, when it got fewer than it wanted, records a
``FailedCreate`` Warning event with the reason and looks again after ``retry_after``
seconds. Both limits are settings (``GITKUBE_MAX_PODS``, ``GITKUBE_POD_CREATE_RATE``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_PODS = 5000
DEFAULT_RATE = 500.0  # pods per second per workload


@dataclass(frozen=True)
class Grant:
    """What ``take`` allows now: ``count`` creations; when fewer than asked, ``why`` and
    when to ask again."""

    count: int
    why: str | None = None
    retry_after: float | None = None


class PodBudget:
    """Pod creations allowed now (see the module docstring). Thread-safe."""

    def __init__(self, *, max_pods: int = DEFAULT_MAX_PODS, rate: float = DEFAULT_RATE,
                 pods_now: Callable[[], int] = lambda: 0,
                 clock: Callable[[], float]):
        self.max_pods = max_pods
        self.rate = rate
        self._pods_now = pods_now
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # workload -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, workload: str, want: int) -> Grant:
        """Up to ``want`` creations for ``workload`` (``kind ns/name``), taken from its
        bucket and from the cluster's room."""
        if want <= 0:
            return Grant(0)
        with self._lock:
            now = self._clock()
            tokens, since = self._buckets.get(workload, (self.rate, now))
            tokens = min(self.rate, tokens + (now - since) * self.rate)
            room = max(0, self.max_pods - self._pods_now())
            count = min(want, int(tokens), room)
            self._buckets[workload] = (tokens - count, now)
            if count == want:
                return Grant(count)
            if count >= room:  # the cluster's room ran out (not this workload's rate)
                return Grant(count, f"the cluster holds {self.max_pods - room:,} pods, the most "
                                    f"allowed is {self.max_pods:,} (GITKUBE_MAX_PODS); "
                                    f"{want - count:,} pod(s) not created", 5.0)
            return Grant(count, f"{workload} may create {self.rate:g} pods per second "
                                f"(GITKUBE_POD_CREATE_RATE); {want - count:,} pod(s) wait",
                         max(0.05, min(1.0, (want - count) / self.rate)))

    def forget(self, workload: str) -> None:
        """Drop a deleted workload's bucket."""
        with self._lock:
            self._buckets.pop(workload, None)


__all__ = ["DEFAULT_MAX_PODS", "DEFAULT_RATE", "Grant", "PodBudget"]
