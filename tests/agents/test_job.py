"""Job controller end to end: completion, parallelism, back-off, deadline, OnFailure."""

from __future__ import annotations

from functools import partial
from typing import Any

from gitkube.agents.controllers import job as jobc
from gitkube.api.client import Client
from gitkube.model.pods import is_pod_active
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, node, set_phase

Obj = dict[str, Any]


def job(name: str = "batch", restart: str = "Never", **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"restartPolicy": restart, "containers": [
                {"name": "c", "image": "busybox:1"}]}}, **spec}}


def active(client: Client) -> list[Obj]:
    return [p for p in client.list("v1", "Pod", "default").items if is_pod_active(p)]


def running(client: Client) -> list[Obj]:
    return [p for p in active(client) if p["status"].get("phase") == "Running"]


def conditions(client: Client, name: str = "batch") -> dict[str, Obj]:
    j = client.get("batch/v1", "Job", "default", name)
    return {c["type"]: c for c in (j.get("status") or {}).get("conditions") or []}


def status(client: Client, name: str = "batch") -> Obj:
    return client.get("batch/v1", "Job", "default", name).get("status") or {}


def boot(cluster: Cluster) -> None:
    cluster.client.create(node("n1"))
    cluster.manager.add(jobc.controller(cluster.manager, backoff_base=0, deadline_poll=0.05))
    FakeKubelet(cluster.manager, ["n1"])
    cluster.manager.start()


def test_pure_plan() -> None:
    j = job(completions=3, parallelism=2, backoffLimit=1)
    j["metadata"]["uid"] = "u"
    plan = jobc.plan_job(j, [], 1000.0)
    assert plan.create == 2 and plan.status["startTime"]
    done = {"metadata": {"name": "x"}, "status": {"phase": "Succeeded"}}
    bad = {"metadata": {"name": "y"}, "status": {"phase": "Failed"}}
    assert jobc.plan_job(j, [done, done, done], 1000.0).finished == "Complete"
    assert jobc.plan_job(j, [bad], 1000.0).create == 2
    failed = jobc.plan_job(j, [bad, bad], 1000.0)
    assert (failed.finished, failed.reason) == ("Failed", "BackoffLimitExceeded")
    # back-off: the replacement waits base * 2^(failures-1) after the failure
    late = jobc.plan_job(j, [{**bad, "metadata": {"name": "y", "creationTimestamp":
                                                  "1970-01-01T00:16:35Z"}}],
                         1000.0, backoff_base=10)
    assert late.create == 0 and late.requeue_after is not None


def test_completions_and_parallelism(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(job(completions=3, parallelism=2))
    assert eventually(lambda: len(running(c)) == 2)
    assert len(active(c)) == 2
    pod = running(c)[0]
    assert pod["metadata"]["labels"]["job-name"] == "batch"
    set_phase(c, pod, "Succeeded")
    assert eventually(lambda: len(running(c)) == 2 and status(c).get("succeeded") == 1)
    for p in running(c):
        set_phase(c, p, "Succeeded")
    assert eventually(lambda: "Complete" in conditions(c))
    st = status(c)
    assert st["succeeded"] == 3 and st["active"] == 0 and st["completionTime"]
    assert conditions(c)["Complete"]["status"] == "True"
    assert active(c) == []


def test_backoff_limit_never(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(job(backoffLimit=2))
    seen: set[str] = set()
    for _ in range(3):
        assert eventually(lambda: any(p["metadata"]["uid"] not in seen for p in running(c)))
        pod = next(p for p in running(c) if p["metadata"]["uid"] not in seen)
        seen.add(pod["metadata"]["uid"])
        set_phase(c, pod, "Failed")
    assert eventually(lambda: "Failed" in conditions(c))
    assert conditions(c)["Failed"]["reason"] == "BackoffLimitExceeded"
    assert status(c)["failed"] == 3
    # Never: each failure got a new pod; the failed pods are kept
    assert len(c.list("v1", "Pod", "default").items) == 3


def test_on_failure_counts_restarts(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(job(restart="OnFailure", backoffLimit=2))
    assert eventually(lambda: len(running(c)) == 1)
    pod = running(c)[0]
    set_phase(c, pod, "Running", restarts=1)
    assert not eventually(lambda: "Failed" in conditions(c), timeout=0.5)
    set_phase(c, c.get("v1", "Pod", "default", pod["metadata"]["name"]), "Running",
              restarts=2)
    assert eventually(lambda: "Failed" in conditions(c))
    assert conditions(c)["Failed"]["reason"] == "BackoffLimitExceeded"
    assert eventually(lambda: active(c) == [])


def test_active_deadline(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(job(activeDeadlineSeconds=30, parallelism=2, completions=4))
    assert eventually(lambda: len(running(c)) == 2)
    cluster.clock.advance(31)
    assert eventually(lambda: "Failed" in conditions(c))
    assert conditions(c)["Failed"]["reason"] == "DeadlineExceeded"
    assert eventually(lambda: active(c) == [])
    assert eventually(partial(lambda: status(c)["active"] == 0))


def test_suspend_deletes_active_pods_and_resume_starts_over(cluster: Cluster) -> None:
    boot(cluster)
    c = cluster.client
    c.create(job(parallelism=2, completions=4, suspend=True))
    assert eventually(lambda: conditions(c).get("Suspended", {}).get("reason") ==
                      "JobSuspended")
    assert active(c) == [] and "startTime" not in status(c)  # created suspended: no pod
    j = c.get("batch/v1", "Job", "default", "batch")
    j["spec"]["suspend"] = False
    c.update(j)
    assert eventually(lambda: len(running(c)) == 2)
    assert conditions(c)["Suspended"]["status"] == "False"
    assert conditions(c)["Suspended"]["reason"] == "JobResumed" and status(c)["startTime"]
    j = c.get("batch/v1", "Job", "default", "batch")
    j["spec"]["suspend"] = True
    c.update(j)
    assert eventually(lambda: active(c) == [] and
                      conditions(c)["Suspended"]["status"] == "True")
    assert "startTime" not in status(c)
    assert "Complete" not in conditions(c) and "Failed" not in conditions(c)
    assert eventually(lambda: {"Suspended", "Resumed"} <= {
        e["reason"] for e in c.list("v1", "Event", "default").items})
