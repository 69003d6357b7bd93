"""Job controller: run pods until ``completions`` succeed, within a failure budget.

- Pods are ``<job>-<5 random chars>`` with the labels ``job-name``, ``controller-uid`` (and
  their ``batch.kubernetes.io/`` forms) and a controller ownerReference.
- At most ``parallelism`` pods run, and never more than the completions still missing
  (``completions`` unset: the Job is done when one pod succeeded and none is running).
- ``restartPolicy: Never``: every Failed pod is kept and counted in ``status.failed``; a new
  pod replaces it after a back-off (``backoff_base`` * 2^(failures-1), capped; upstream uses
  10 s and 6 min, tests pass 0). ``restartPolicy: OnFailure``: the kubelet restarts
  containers in place; like upstream, the restarts of the running pods count toward the
  limit (Failed once their sum reaches ``backoffLimit``, or exceeds 0 when it is 0).
- Failed (condition ``Failed``) when ``status.failed > backoffLimit`` (reason
  ``BackoffLimitExceeded``) or when ``activeDeadlineSeconds`` have passed since
  ``status.startTime`` (``DeadlineExceeded``); its running pods are then deleted.
  Complete (condition ``Complete``, reason ``CompletionsReached``) with ``completionTime``.
- Simplifications: ``status.failed`` never decreases, but a Failed pod deleted by someone
  else before the controller saw it is not counted (upstream tracks pods with a finalizer);
  no Indexed completion mode, no podFailurePolicy, no SuccessCriteriaMet/FailureTarget
  interim conditions.
- ``suspend: true``: no pod is created and the active ones are deleted; condition
  ``Suspended`` True (JobSuspended), ``startTime`` cleared so that ``activeDeadlineSeconds``
  counts from the resume. Resumed: ``Suspended`` False (JobResumed), a new ``startTime``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitkube.agents.controllers.budget import PodBudget
from gitkube.agents.controllers.common import (
    Expectations,
    active_pod_rank,
    is_controlled_by,
    pod_from_template,
    random_suffix,
)
from gitkube.agents.events import EventRecorder
from gitkube.agents.manager import (
    Controller,
    Informer,
    Manager,
    Result,
    index_by_owner_uid,
    owner_mapper,
)
from gitkube.api.client import Client, CreateOp
from gitkube.errors import NotFound
from gitkube.model.conditions import condition_status, is_condition_true, set_condition
from gitkube.model.pods import is_pod_active, is_pod_ready, pod_phase, restart_count
from gitkube.model.times import parse_time, rfc3339
from gitkube.model.views import Pod

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.job")


@dataclass
class JobPlan:
    create: int = 0
    delete: list[Obj] = field(default_factory=list)
    status: Obj = field(default_factory=dict)
    finished: str = ""  # "", "Complete" or "Failed"
    reason: str = ""
    message: str = ""
    requeue_after: float | None = None


def is_finished(job: Obj) -> bool:
    return is_condition_true(job, "Complete") or is_condition_true(job, "Failed")


def _finish_time(pod: Obj) -> float:
    view = Pod(pod)
    for cs in view.status.container_statuses:
        t = parse_time(cs.state.finished_at)
        if t is not None:
            return t
    ready = view.condition("Ready")
    t = parse_time(ready.last_transition_time) if ready is not None else None
    if t is not None:
        return t
    return parse_time(view.metadata.creation_timestamp) or 0.0


def plan_job(job: Obj, pods: list[Obj], now: float, *, backoff_base: float = 10.0,
             backoff_max: float = 360.0) -> JobPlan:
    """Pure: the Job's next status and the pods to create or delete at ``now``."""
    spec = job.get("spec") or {}
    old = job.get("status") or {}
    plan = JobPlan()
    active = [p for p in pods if is_pod_active(p)]
    succeeded = sum(1 for p in pods if pod_phase(p) == "Succeeded")
    failed_pods = [p for p in pods if pod_phase(p) == "Failed"]
    failed = max(int(old.get("failed") or 0), len(failed_pods))
    succeeded = max(int(old.get("succeeded") or 0), succeeded)
    start = old.get("startTime") or rfc3339(now)
    status: Obj = {**old, "startTime": start, "active": len(active), "succeeded": succeeded,
                   "failed": failed, "ready": sum(1 for p in active if is_pod_ready(p))}
    plan.status = status
    if is_finished(job):
        plan.delete = active
        return plan
    was_suspended = is_condition_true(job, "Suspended")
    if spec.get("suspend"):
        _suspend(plan, old, active, was_suspended, now)
        return plan
    if was_suspended:
        status["conditions"] = set_condition(
            list(old.get("conditions") or []), "Suspended", "False", "JobResumed",
            "Job resumed", rfc3339(now))
        old = {**old, "conditions": status["conditions"]}
    start_at = parse_time(start) or now
    plan.finished, plan.reason, plan.message = _outcome(spec, active, succeeded, failed,
                                                        now - start_at)
    if plan.finished:
        _finish(plan, old, active, now)
        return plan
    want = _wanted(spec, succeeded)
    if len(active) > want:
        plan.delete = sorted(active, key=active_pod_rank)[:len(active) - want]
    elif len(active) < want:
        wait = 0.0
        if failed_pods and backoff_base > 0:
            delay = min(backoff_base * (2 ** (failed - 1)), backoff_max)
            last = max(_finish_time(p) for p in failed_pods)
            wait = last + delay - now
        if wait > 0:
            plan.requeue_after = wait
        else:
            plan.create = want - len(active)
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None:
        left = start_at + int(deadline) - now
        plan.requeue_after = left if plan.requeue_after is None else \
            min(plan.requeue_after, left)
    return plan


def _suspend(plan: JobPlan, old: Obj, active: list[Obj], was_suspended: bool,
             now: float) -> None:
    """A suspended Job: no pods run, the deadline waits for the resume."""
    plan.delete = active
    plan.status.pop("startTime", None)  # the deadline counts from the resume
    if not was_suspended:
        plan.status["conditions"] = set_condition(
            list(old.get("conditions") or []), "Suspended", "True", "JobSuspended",
            "Job suspended", rfc3339(now))


def _outcome(spec: Obj, active: list[Obj], succeeded: int, failed: int,
             running_for: float) -> tuple[str, str, str]:
    """(finished, reason, message) when the Job is Failed or Complete, else three ""."""
    completions = spec.get("completions")
    backoff_limit = int(spec.get("backoffLimit", 6))
    on_failure = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") == \
        "OnFailure"
    restarts = sum(restart_count(p) for p in active if pod_phase(p) in ("Running", "Pending"))
    deadline = spec.get("activeDeadlineSeconds")
    if failed > backoff_limit or (on_failure and (
            restarts > 0 if backoff_limit == 0 else restarts >= backoff_limit)):
        return "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    if deadline is not None and running_for >= int(deadline):
        return "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
    if (completions is not None and succeeded >= int(completions)) or \
            (completions is None and succeeded > 0 and not active):
        return "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
    return "", "", ""


def _finish(plan: JobPlan, old: Obj, active: list[Obj], now: float) -> None:
    """The status of a Job that just finished; its running pods are deleted."""
    plan.delete = active
    stamp = rfc3339(now)
    conditions = set_condition(list(old.get("conditions") or []), plan.finished, "True",
                               plan.reason, plan.message, stamp)
    for c in conditions:
        c.setdefault("lastProbeTime", stamp)
    plan.status["conditions"] = conditions
    plan.status["active"] = 0
    plan.status["ready"] = 0
    if plan.finished == "Complete":
        plan.status["completionTime"] = stamp


def _wanted(spec: Obj, succeeded: int) -> int:
    """How many pods should be running: ``parallelism``, at most the completions missing."""
    completions = spec.get("completions")
    parallelism = int(spec.get("parallelism", 1) or 0)
    if completions is None:
        return 0 if succeeded > 0 else parallelism
    return min(parallelism, int(completions) - succeeded)


def job_pod(job: Obj) -> Obj:
    name = job["metadata"]["name"]
    uid = job["metadata"]["uid"]
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
              "controller-uid": uid, "job-name": name}
    pod = pod_from_template(job, (job.get("spec") or {}).get("template") or {},
                            f"{name}-{random_suffix()}", extra_labels=labels)
    pod["metadata"]["generateName"] = f"{name}-"
    return pod


@dataclass(frozen=True)
class JobTimings:
    """A Job controller's tunables: the pod re-creation back-off (``backoff_base`` *
    2^(failures-1), at most ``backoff_max``) and ``poll``, the longest requeue while waiting
    on a deadline or a back-off."""

    backoff_base: float = 10.0
    backoff_max: float = 360.0
    poll: float = 1.0


class JobReconciler:
    def __init__(self, client: Client, jobs: Informer, pods: Informer,
                 recorder: EventRecorder, clock: Callable[[], float],
                 timings: JobTimings = JobTimings(), budget: PodBudget | None = None):
        self.client = client
        self.budget = budget
        self.timings = timings
        self.jobs = jobs
        self.pods = pods
        self.recorder = recorder
        self.clock = clock
        self.expectations = Expectations()

    def reconcile(self, key: str) -> Result:
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            return Result()
        if not self.expectations.satisfied(key, self.pods.get):
            return Result(requeue_after=1.0)
        uid = job["metadata"]["uid"]
        pods = [p for p in self.pods.by_index("owner", uid) if is_controlled_by(p, uid)]
        plan = plan_job(job, pods, self.clock(), backoff_base=self.timings.backoff_base,
                        backoff_max=self.timings.backoff_max)
        self._delete_pods(key, job, plan.delete)
        retry = self._create_pods(key, job, plan.create)
        if plan.status != (job.get("status") or {}):
            self._write_status(job, plan)
        waits = [w for w in (plan.requeue_after, retry) if w is not None]
        if waits:
            return Result(requeue_after=min(max(0.05, min(waits)), self.timings.poll))
        return Result()

    def _delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> None:
        ns = job["metadata"]["namespace"]
        if pods:
            self.expectations.expect_deletions(
                key, [f"{ns}/{p['metadata']['name']}" for p in pods])
        for pod in pods:
            with contextlib.suppress(NotFound):
                self.client.delete("v1", "Pod", ns, pod["metadata"]["name"],
                                   uid=pod["metadata"]["uid"])
                self.recorder.normal(job, "SuccessfulDelete",
                                     f"Deleted pod: {pod['metadata']['name']}")

    def _create_pods(self, key: str, job: Obj, create: int) -> float | None:
        """Create up to ``create`` pods, as the budget allows; when to retry the rest."""
        retry: float | None = None
        if create and self.budget is not None:
            grant = self.budget.take(f"Job {key}", create)
            if grant.why is not None:
                self.recorder.warning(job, "FailedCreate", grant.why)
            create, retry = grant.count, grant.retry_after
        if not create:
            return retry
        ns = job["metadata"]["namespace"]
        new = [job_pod(job) for _ in range(create)]
        self.expectations.expect_creations(key, [f"{ns}/{p['metadata']['name']}"
                                                 for p in new])
        try:
            self.client.transaction([CreateOp(p) for p in new])
        except Exception:
            self.expectations.forget(key)
            raise
        for p in new:
            self.recorder.normal(job, "SuccessfulCreate",
                                 f"Created pod: {p['metadata']['name']}")
        return retry

    def _write_status(self, job: Obj, plan: JobPlan) -> None:
        """Write the planned status; an event for each change of state it makes."""
        self.client.update_status({**job, "status": plan.status})
        before = condition_status(job, "Suspended") or None
        after = condition_status({"status": plan.status}, "Suspended") or None
        if before != after and after == "True":
            self.recorder.normal(job, "Suspended", "Job suspended")
        elif before == "True" and after == "False":
            self.recorder.normal(job, "Resumed", "Job resumed")
        if plan.finished == "Complete":
            self.recorder.normal(job, "Completed", "Job completed")
        elif plan.finished:
            self.recorder.warning(job, plan.reason, plan.message)


def controller(manager: Manager, *, backoff_base: float = 10.0,
               backoff_max: float = 360.0, deadline_poll: float = 1.0,
               budget: PodBudget | None = None) -> Controller:
    """The Job controller on ``manager``'s shared informers. ``deadline_poll`` bounds the
    requeue while waiting on a deadline or back-off (useful with a manual clock)."""
    jobs = manager.informer("batch/v1", "Job")
    pods = manager.informer("v1", "Pod")
    pods.add_index("owner", index_by_owner_uid)
    rec = JobReconciler(manager.client, jobs, pods, manager.recorder("job-controller"),
                        manager.clock, JobTimings(backoff_base, backoff_max, deadline_poll),
                        budget)
    ctl = Controller("job-controller", rec, jobs)
    ctl.watches(pods, owner_mapper("Job"))
    return ctl
