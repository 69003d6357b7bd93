"""CronJob controller: start a Job at each time ``spec.schedule`` names, as upstream's
cronjob controller (v2) does.

- The schedule is Kubernetes' cron syntax (``gitkube/model/cron.py``) in ``spec.timeZone``
  (unset: this process's zone, as upstream uses the controller manager's). Fields are
  evaluated by cronsim: a small, typed, maintained cron library that follows Vixie/Debian
  cron's rules (day-of-month OR day-of-week when both are restricted), as robfig/cron, which
  upstream uses, does; croniter, the other candidate, adds non-standard extensions (seconds,
  hashed ``H`` fields) that Kubernetes refuses.
- At each sync: the most recent unmet start time since ``status.lastScheduleTime`` (else
  the CronJob's creation), within ``startingDeadlineSeconds`` when set (missed longer ago:
  event ``MissSchedule``; more than 100 missed: ``TooManyMissedTimes``, the latest still
  runs). So a controller that was down runs one Job for what it missed, not one per miss.
- The Job is ``<cronjob>-<scheduled time in minutes since the epoch>`` with the template's
  labels and annotations, ``batch.kubernetes.io/cronjob-scheduled-timestamp`` and a
  controller ownerReference; ``status.active`` lists it, ``status.lastScheduleTime`` is
  the scheduled time.
- ``concurrencyPolicy``: Allow runs Jobs side by side; Forbid skips a start while one is
  active (event ``JobAlreadyActive``; the start time stays unmet, so it runs once the
  active one finishes, unless the starting deadline has passed); Replace deletes the active
  Jobs (background propagation) first.
- ``suspend: true``: no Job starts; running ones go on.
- Finished Jobs leave ``status.active`` (event ``SawCompletedJob``); a Complete one moves
  ``status.lastSuccessfulTime``. Beyond ``successfulJobsHistoryLimit`` /
  ``failedJobsHistoryLimit`` the oldest finished Jobs are deleted (background).
- The requeue is the next start time (at most ``poll`` away, so a clock that jumps, or a
  ManualClock in tests, is noticed).

``plan_cronjob`` decides (pure); ``CronJobReconciler`` acts.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from gitkube.agents.controllers.common import is_controlled_by, owner_ref
from gitkube.agents.events import EventRecorder
from gitkube.agents.manager import (
    Controller,
    Informer,
    Manager,
    Result,
    index_by_owner_uid,
    owner_mapper,
)
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, NotFound
from gitkube.model.conditions import is_condition_true
from gitkube.model.cron import (
    TOO_MANY_MISSED,
    CronError,
    due,
    job_name,
    local_zone,
    parse_schedule,
)
from gitkube.model.times import parse_time, rfc3339

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.cronjob")

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"


@dataclass
class CronPlan:
    """What one sync does: the Job to create, the Jobs to delete, the new status, events
    (type, reason, message) and when to look again."""

    create: Obj | None = None
    delete: list[Obj] = field(default_factory=list)
    status: Obj = field(default_factory=dict)
    events: list[tuple[Literal["Normal", "Warning"], str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def finished(job: Obj) -> str:
    """"Complete", "Failed" or "" (still running)."""
    for kind in ("Complete", "Failed"):
        if is_condition_true(job, kind):
            return kind
    return ""


def job_ref(job: Obj) -> Obj:
    meta = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
            "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion")}


def job_from_template(cronjob: Obj, scheduled: float, zone_time: str) -> Obj:
    """The Job ``cronjob`` starts for ``scheduled`` (upstream's getJobFromTemplate2)."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    meta: Obj = {"name": job_name(cronjob["metadata"]["name"], scheduled),
                 "namespace": cronjob["metadata"].get("namespace"),
                 "labels": dict(tmeta.get("labels") or {}),
                 "annotations": {**(tmeta.get("annotations") or {}),
                                 SCHEDULED_TIMESTAMP: zone_time},
                 "ownerReferences": [owner_ref(cronjob)]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def _start_time(job: Obj) -> tuple[float, str]:
    status = job.get("status") or {}
    t = parse_time(status.get("startTime")) or parse_time(
        (job.get("metadata") or {}).get("creationTimestamp")) or 0.0
    return (t, str(job["metadata"]["name"]))


def _history(jobs: list[Obj], spec: Obj) -> list[Obj]:
    """The finished Jobs beyond the history limits, oldest first (upstream's
    cleanupFinishedJobs)."""
    out: list[Obj] = []
    for outcome, limit_field in (("Complete", "successfulJobsHistoryLimit"),
                                 ("Failed", "failedJobsHistoryLimit")):
        limit = spec.get(limit_field)
        if limit is None:
            continue
        done = sorted((j for j in jobs if finished(j) == outcome
                       and not (j.get("metadata") or {}).get("deletionTimestamp")),
                      key=_start_time)
        out.extend(done[:max(0, len(done) - int(limit))])
    return out


def _track(cronjob: Obj, jobs: list[Obj], plan: CronPlan) -> list[Obj]:
    """Refresh ``status.active`` and ``lastSuccessfulTime`` from the Jobs; the active Jobs."""
    status = plan.status
    listed = {str(r.get("uid")) for r in status.get("active") or [] if isinstance(r, dict)}
    by_uid = {str(j["metadata"].get("uid")): j for j in jobs}
    active: list[Obj] = []
    for ref in status.get("active") or []:
        job = by_uid.get(str(ref.get("uid")))
        if job is None:
            plan.events.append(("Normal", "MissingJob",
                                f"Active job went missing: {ref.get('name')}"))
        elif finished(job):
            plan.events.append(("Normal", "SawCompletedJob",
                                f"Saw completed job: {job['metadata']['name']}, "
                                f"condition: {finished(job)}"))
        else:
            active.append(job)
    for job in jobs:
        if not finished(job) and str(job["metadata"].get("uid")) not in listed:
            plan.events.append(("Warning", "UnexpectedJob",
                                "Saw a job that the controller did not create or forgot: "
                                f"{job['metadata']['name']}"))
        done = parse_time((job.get("status") or {}).get("completionTime"))
        last = parse_time(status.get("lastSuccessfulTime"))
        if finished(job) == "Complete" and done is not None and (last is None or done > last):
            status["lastSuccessfulTime"] = rfc3339(done)
    status["active"] = [job_ref(j) for j in active]
    if not status["active"]:
        status.pop("active")
    return active


def plan_cronjob(cronjob: Obj, jobs: list[Obj], now: float) -> CronPlan:
    """Pure: what a CronJob's controller does at ``now`` given the Jobs it controls."""
    spec = cronjob.get("spec") or {}
    plan = CronPlan(status=copy.deepcopy(cronjob.get("status") or {}))
    active = _track(cronjob, jobs, plan)
    if (cronjob.get("metadata") or {}).get("deletionTimestamp"):
        return plan
    plan.delete = _history(jobs, spec)
    try:
        schedule = parse_schedule(str(spec.get("schedule") or ""), spec.get("timeZone"),
                                  local_zone(now))
    except CronError as e:
        reason = "UnknownTimeZone" if "time zone" in e.message else "UnparseableSchedule"
        plan.events.append(("Warning", reason, e.message))
        return plan
    if spec.get("suspend"):
        return plan
    created = parse_time(cronjob["metadata"].get("creationTimestamp")) or now
    earliest = parse_time(plan.status.get("lastScheduleTime")) or created
    deadline = spec.get("startingDeadlineSeconds")
    found = due(schedule, earliest=earliest, now=now, starting_deadline=deadline)
    plan.requeue_after = max(found.next_time - now, 0.0) + 0.1
    if found.missed > TOO_MANY_MISSED:
        plan.events.append(("Warning", "TooManyMissedTimes",
                            f"too many missed start times: {found.missed}. Set or decrease "
                            ".spec.startingDeadlineSeconds or check clock skew"))
    scheduled = found.scheduled
    if scheduled is None:
        return plan
    if deadline is not None and scheduled + int(deadline) < now:
        plan.events.append(("Warning", "MissSchedule", "Missed scheduled time to start a job: "
                            f"{rfc3339(scheduled)}"))
        return plan
    name = job_name(cronjob["metadata"]["name"], scheduled)
    made = next((j for j in jobs if j["metadata"]["name"] == name), None)
    if made is not None:  # made by an earlier sync whose status write was lost: track it
        plan.status["lastScheduleTime"] = rfc3339(scheduled)
        listed = {r.get("uid") for r in plan.status.get("active") or []}
        if not finished(made) and made["metadata"].get("uid") not in listed:
            plan.status["active"] = [*(plan.status.get("active") or []), job_ref(made)]
            plan.events = [e for e in plan.events if not e[2].endswith(f": {name}")]
        return plan
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active:
        plan.events.append(("Normal", "JobAlreadyActive", "Not starting job because prior "
                            "execution is running and concurrency policy is Forbid"))
        return plan
    if policy == "Replace":
        plan.delete.extend(active)
        plan.status.pop("active", None)
    stamp = datetime.fromtimestamp(scheduled, schedule.zone).isoformat()
    stamp = stamp[:-6] + "Z" if stamp.endswith("+00:00") else stamp  # as Go prints UTC
    plan.create = job_from_template(cronjob, scheduled, stamp)
    plan.status["lastScheduleTime"] = rfc3339(scheduled)
    return plan


class CronJobReconciler:
    def __init__(self, client: Client, cronjobs: Informer, jobs: Informer,
                 recorder: EventRecorder, clock: Callable[[], float], poll: float = 10.0):
        self.client = client
        self.cronjobs = cronjobs
        self.jobs = jobs
        self.recorder = recorder
        self.clock = clock
        self.poll = poll

    def reconcile(self, key: str) -> Result:
        cronjob = self.cronjobs.get(key)
        if cronjob is None:
            return Result()
        uid = cronjob["metadata"]["uid"]
        ns = cronjob["metadata"].get("namespace")
        jobs = [j for j in self.jobs.by_index("owner", uid) if is_controlled_by(j, uid)]
        jobs += self._active_not_seen(cronjob, jobs)
        plan = plan_cronjob(cronjob, jobs, self.clock())
        for job in plan.delete:
            with contextlib.suppress(NotFound):
                self.client.delete("batch/v1", "Job", ns, job["metadata"]["name"],
                                   propagation_policy="Background",
                                   uid=job["metadata"].get("uid"))
                self.recorder.normal(cronjob, "SuccessfulDelete",
                                     f"Deleted job {job['metadata']['name']}")
        if plan.create is not None:
            self._create(cronjob, plan)
        for type_, reason, message in plan.events:
            self.recorder.event(cronjob, type_, reason, message)
        if plan.status != (cronjob.get("status") or {}):
            self.client.update_status({**cronjob, "status": plan.status})
        if plan.requeue_after is None:
            return Result()
        return Result(requeue_after=min(plan.requeue_after, self.poll))

    def _active_not_seen(self, cronjob: Obj, jobs: list[Obj]) -> list[Obj]:
        """Jobs the status lists as active that the Job informer has not seen yet, read from
        the API (as upstream does before calling one missing): a Job just created may reach
        the status before it reaches the informer, and dropping it from ``active`` then
        would never be undone."""
        seen = {j["metadata"].get("uid") for j in jobs}
        found = []
        for ref in (cronjob.get("status") or {}).get("active") or []:
            if not isinstance(ref, dict) or ref.get("uid") in seen or not ref.get("name"):
                continue
            with contextlib.suppress(NotFound):
                job = self.client.get("batch/v1", "Job", cronjob["metadata"].get("namespace"),
                                      str(ref["name"]))
                if job["metadata"].get("uid") == ref.get("uid"):
                    found.append(job)
        return found

    def _create(self, cronjob: Obj, plan: CronPlan) -> None:
        assert plan.create is not None
        name = plan.create["metadata"]["name"]
        try:
            job = self.client.create(plan.create)
        except AlreadyExists:
            # Made by an earlier sync whose status write was lost: adopt it into the status.
            job = self.client.get("batch/v1", "Job", cronjob["metadata"].get("namespace"),
                                  name)
            if not is_controlled_by(job, cronjob["metadata"]["uid"]):
                plan.status.pop("lastScheduleTime", None)
                plan.events.append(("Warning", "FailedCreate",
                                    f"Error creating job: {name} exists and is not this "
                                    "CronJob's"))
                return
        else:
            self.recorder.normal(cronjob, "SuccessfulCreate", f"Created job {name}")
        if not finished(job):
            refs = [r for r in plan.status.get("active") or [] if r.get("name") != name]
            plan.status["active"] = [*refs, job_ref(job)]


def controller(manager: Manager, *, poll: float = 10.0) -> Controller:
    """The CronJob controller on ``manager``'s shared informers and clock. ``poll`` bounds
    the wait for the next start time."""
    cronjobs = manager.informer("batch/v1", "CronJob")
    jobs = manager.informer("batch/v1", "Job")
    jobs.add_index("owner", index_by_owner_uid)
    rec = CronJobReconciler(manager.client, cronjobs, jobs,
                            manager.recorder("cronjob-controller"), manager.clock, poll)
    ctl = Controller("cronjob-controller", rec, cronjobs)
    ctl.watches(jobs, owner_mapper("CronJob"))
    return ctl
