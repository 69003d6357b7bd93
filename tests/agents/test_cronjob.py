"""CronJob controller: the pure plan, and end to end on a real store with a manual clock."""

from __future__ import annotations

from typing import Any

from gitkube.agents.controllers import cronjob as cjc
from gitkube.agents.controllers import job as jobc
from gitkube.api.client import Client
from gitkube.model.defaults import apply_defaults
from gitkube.model.times import rfc3339
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, node, set_phase

Obj = dict[str, Any]
T0 = 1_800_000_000.0  # a whole hour (UTC): 2027-01-15T08:00:00Z


def cronjob(name: str = "tick", schedule: str = "*/1 * * * *", **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {
                "metadata": {"labels": {"app": name}},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "c", "image": "busybox:1"}]}}}}, **spec}}


def stored(obj: Obj, created: float, **status: Any) -> Obj:
    out = apply_defaults(obj)
    out["metadata"].update(uid="cj-uid", creationTimestamp=rfc3339(created))
    out["status"] = status
    return out


def child(name: str, uid: str, outcome: str = "", start: float = T0) -> Obj:
    status: Obj = {"startTime": rfc3339(start)}
    if outcome:
        status["conditions"] = [{"type": outcome, "status": "True"}]
        if outcome == "Complete":
            status["completionTime"] = rfc3339(start + 5)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "uid": uid,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                              "name": "tick", "uid": "cj-uid",
                                              "controller": True}]},
            "status": status}


def test_first_run_creates_the_named_job_at_the_scheduled_minute() -> None:
    cj = stored(cronjob(timeZone="Europe/Berlin"), created=T0 - 30)
    plan = cjc.plan_cronjob(cj, [], T0 + 20)
    assert plan.create is not None
    meta = plan.create["metadata"]
    assert meta["name"] == f"tick-{int(T0) // 60}"
    assert meta["labels"] == {"app": "tick"}
    assert meta["annotations"][cjc.SCHEDULED_TIMESTAMP] == "2027-01-15T09:00:00+01:00"
    assert meta["ownerReferences"][0]["uid"] == "cj-uid"
    assert plan.status["lastScheduleTime"] == rfc3339(T0)
    assert 40 < (plan.requeue_after or 0) <= 41


def test_nothing_before_the_first_start_time() -> None:
    plan = cjc.plan_cronjob(stored(cronjob(), created=T0 + 1), [], T0 + 50)
    assert plan.create is None and plan.requeue_after is not None


def test_forbid_skips_while_one_runs_and_replace_deletes_it() -> None:
    running = child("tick-1", "j1")
    ref = cjc.job_ref(running)
    forbid = stored(cronjob(concurrencyPolicy="Forbid"), T0 - 120,
                    active=[ref], lastScheduleTime=rfc3339(T0 - 60))
    plan = cjc.plan_cronjob(forbid, [running], T0 + 1)
    assert plan.create is None and "lastScheduleTime" in plan.status
    assert [e[1] for e in plan.events] == ["JobAlreadyActive"]
    assert plan.status["lastScheduleTime"] == rfc3339(T0 - 60)
    replace = stored(cronjob(concurrencyPolicy="Replace"), T0 - 120,
                     active=[ref], lastScheduleTime=rfc3339(T0 - 60))
    plan = cjc.plan_cronjob(replace, [running], T0 + 1)
    assert plan.create is not None and plan.delete == [running]
    allow = stored(cronjob(), T0 - 120, active=[ref], lastScheduleTime=rfc3339(T0 - 60))
    plan = cjc.plan_cronjob(allow, [running], T0 + 1)
    assert plan.create is not None and plan.delete == []


def test_suspend_and_starting_deadline() -> None:
    assert cjc.plan_cronjob(stored(cronjob(suspend=True), T0 - 300), [], T0 + 1).create is None
    late = stored(cronjob(startingDeadlineSeconds=10), T0 - 300)
    plan = cjc.plan_cronjob(late, [], T0 + 30)
    assert plan.create is None  # the start time is outside the deadline: skipped
    assert cjc.plan_cronjob(late, [], T0 + 5).create is not None


def test_finished_jobs_leave_active_and_history_is_trimmed() -> None:
    jobs = [child(f"tick-{i}", f"j{i}", "Complete", start=T0 - 600 + i * 60) for i in range(5)]
    jobs += [child("tick-f1", "f1", "Failed", T0 - 900), child("tick-f2", "f2", "Failed", T0 - 800)]
    cj = stored(cronjob(), T0 - 1000, active=[cjc.job_ref(jobs[4])],
                lastScheduleTime=rfc3339(T0 - 360))
    plan = cjc.plan_cronjob(cj, jobs, T0 - 330)
    assert "active" not in plan.status
    assert plan.status["lastSuccessfulTime"] == rfc3339(T0 - 600 + 4 * 60 + 5)
    deleted = sorted(j["metadata"]["name"] for j in plan.delete)
    assert deleted == ["tick-0", "tick-1", "tick-f1"]  # 3 successful and 1 failed kept
    assert "SawCompletedJob" in [e[1] for e in plan.events]


def test_bad_schedule_is_an_event_not_a_crash() -> None:
    cj = stored(cronjob(schedule="61 * * * *"), T0 - 100)
    plan = cjc.plan_cronjob(cj, [], T0)
    assert plan.create is None and plan.events[0][1] == "UnparseableSchedule"


def jobs_of(client: Client) -> list[Obj]:
    return client.list("batch/v1", "Job", "default").items


def test_end_to_end_with_a_manual_clock(cluster: Cluster) -> None:
    c = cluster.client
    c.create(node("n1"))
    cluster.manager.add(jobc.controller(cluster.manager, backoff_base=0, deadline_poll=0.05))
    cluster.manager.add(cjc.controller(cluster.manager, poll=0.05))
    FakeKubelet(cluster.manager, ["n1"])
    cluster.manager.start()
    c.create(cronjob(successfulJobsHistoryLimit=1))
    assert not eventually(lambda: jobs_of(c), timeout=0.5)  # not due yet
    cluster.clock.advance(61)
    assert eventually(lambda: len(jobs_of(c)) == 1)
    first = jobs_of(c)[0]
    minute = int(cluster.clock()) // 60
    assert first["metadata"]["name"] in (f"tick-{minute}", f"tick-{minute - 1}")
    assert first["metadata"]["ownerReferences"][0]["kind"] == "CronJob"

    def status() -> Obj:
        return c.get("batch/v1", "CronJob", "default", "tick").get("status") or {}

    assert eventually(lambda: [r["name"] for r in status().get("active", [])]
                      == [first["metadata"]["name"]])
    assert status()["lastScheduleTime"]
    # its pod succeeds: the Job completes and leaves the active list

    def pods() -> list[Obj]:
        return c.list("v1", "Pod", "default").items

    assert eventually(lambda: pods() and pods()[0]["status"]["phase"] == "Running")
    set_phase(c, pods()[0], "Succeeded")
    assert eventually(lambda: "active" not in status() and status().get("lastSuccessfulTime"))
    # two more minutes: two more Jobs; the history keeps one successful Job
    for _ in range(2):
        cluster.clock.advance(60)
        assert eventually(lambda: any(p["status"].get("phase") == "Running" for p in pods()))
        for p in pods():
            if p["status"].get("phase") == "Running":
                set_phase(c, p, "Succeeded")
        assert eventually(lambda: "active" not in status())
    assert eventually(lambda: len([j for j in jobs_of(c)
                                   if not j["metadata"].get("deletionTimestamp")]) == 1)


def test_after_downtime_one_job_for_the_latest_missed_time() -> None:
    """A controller that was down ten minutes starts one Job, for the latest start time."""
    cj = stored(cronjob(), T0 - 3600, lastScheduleTime=rfc3339(T0 - 600))
    plan = cjc.plan_cronjob(cj, [], T0 + 30)
    assert plan.create is not None
    assert plan.create["metadata"]["name"] == f"tick-{int(T0) // 60}"
    assert plan.events == []
    long_gone = stored(cronjob(), T0 - 86400, lastScheduleTime=rfc3339(T0 - 86400))
    plan = cjc.plan_cronjob(long_gone, [], T0 + 30)
    assert plan.create is not None and plan.create["metadata"]["name"] == \
        f"tick-{int(T0) // 60}"
    assert [e[1] for e in plan.events] == ["TooManyMissedTimes"]


def test_a_job_whose_status_write_was_lost_is_tracked() -> None:
    """The Job of the due start time exists but the CronJob's status does not list it (the
    write after creating it lost a race): it is taken into status.active, not re-made."""
    made = child(f"tick-{int(T0) // 60}", "j-made")
    cj = stored(cronjob(), T0 - 300, lastScheduleTime=rfc3339(T0 - 60))
    plan = cjc.plan_cronjob(cj, [made], T0 + 5)
    assert plan.create is None
    assert [r["uid"] for r in plan.status["active"]] == ["j-made"]
    assert plan.status["lastScheduleTime"] == rfc3339(T0)
    assert "UnexpectedJob" not in [e[1] for e in plan.events]


class _Cache:
    """An informer that has not seen some objects yet (what a stale cache looks like)."""

    def __init__(self, objs: list[Obj]):
        self.objs = objs

    def get(self, key: str) -> Obj | None:
        return next((o for o in self.objs
                     if f'{o["metadata"]["namespace"]}/{o["metadata"]["name"]}' == key), None)

    def by_index(self, index: str, value: str) -> list[Obj]:
        return [o for o in self.objs
                if any(r.get("uid") == value for r in o["metadata"].get("ownerReferences", []))]


def test_an_active_job_the_informer_has_not_seen_stays_active(cluster: Cluster) -> None:
    c = cluster.client
    cluster.clock.advance(61)
    made = c.create(cronjob())
    job = c.create({**cjc.job_from_template(made, cluster.clock() // 60 * 60, "t")})
    cj = c.update_status({**made, "status": {"active": [cjc.job_ref(job)],
                                             "lastScheduleTime": rfc3339(cluster.clock())}})
    rec = cjc.CronJobReconciler(c, _Cache([cj]), _Cache([]),  # type: ignore[arg-type]
                                cluster.manager.recorder("test"), cluster.clock)
    rec.reconcile("default/tick")
    status = c.get("batch/v1", "CronJob", "default", "tick")["status"]
    assert [r["name"] for r in status.get("active", [])] == [job["metadata"]["name"]]
