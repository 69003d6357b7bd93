"""TTL-after-finished controller: a finished Job with ``spec.ttlSecondsAfterFinished`` is
deleted that many seconds after it finished, its pods with it (background propagation, as
upstream's ttlafterfinished controller does).

- Finished: condition Complete or Failed True; the finish time is that condition's
  ``lastTransitionTime`` (upstream's jobFinishTime), else ``status.completionTime``.
- Before deleting, the Job is read again from the API (not the cache) and the decision made
  again on it, and the delete carries its uid: a Job whose TTL was raised or that was
  recreated under the name in the meantime is not deleted.
- The clock is the Manager's; the requeue is the time left (at most ``poll``, so a clock
  that jumps, or a ManualClock in tests, is noticed).

``expires_at`` decides (pure); ``TTLReconciler`` acts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from gitkube.agents.manager import Controller, Informer, Manager, Result, split_key
from gitkube.api.client import Client
from gitkube.errors import Conflict, NotFound
from gitkube.model.times import parse_time

Obj = dict[str, Any]


def finish_time(job: Obj) -> float | None:
    """When the Job finished; None while it runs (or when no time was recorded)."""
    status = job.get("status") or {}
    for c in status.get("conditions") or []:
        if isinstance(c, dict) and c.get("type") in ("Complete", "Failed") and \
                c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime")) or \
                parse_time(status.get("completionTime"))
    return None


def expires_at(job: Obj) -> float | None:
    """When the Job is to be deleted: its finish time + ``ttlSecondsAfterFinished``; None
    when it has no TTL, has not finished, or is already being deleted."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or \
            (job.get("metadata") or {}).get("deletionTimestamp"):
        return None
    done = finish_time(job)
    return None if done is None else done + ttl


class TTLReconciler:
    def __init__(self, client: Client, jobs: Informer, clock: Callable[[], float],
                 poll: float = 10.0):
        self.client = client
        self.jobs = jobs
        self.clock = clock
        self.poll = poll

    def reconcile(self, key: str) -> Result:
        cached = self.jobs.get(key)
        if cached is None or expires_at(cached) is None:
            return Result()
        namespace, name = split_key(key)
        try:
            job = self.client.get("batch/v1", "Job", namespace, name)  # fresh, not cached
        except NotFound:
            return Result()
        when = expires_at(job)
        if when is None:
            return Result()
        left = when - self.clock()
        if left > 0:
            return Result(requeue_after=min(left, self.poll))
        with contextlib.suppress(NotFound, Conflict):
            self.client.delete("batch/v1", "Job", namespace, name,
                               propagation_policy="Background", uid=job["metadata"]["uid"])
        return Result()


def controller(manager: Manager, *, poll: float = 10.0) -> Controller:
    """The TTL-after-finished controller on ``manager``'s Job informer and clock."""
    jobs = manager.informer("batch/v1", "Job")
    rec = TTLReconciler(manager.client, jobs, manager.clock, poll)
    return Controller("ttl-after-finished-controller", rec, jobs)
