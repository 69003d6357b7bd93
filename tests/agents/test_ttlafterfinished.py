"""TTL-after-finished: finished Jobs with a TTL go (with their pods) once it has passed."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.controllers import gc
from gitkube.agents.controllers import job as jobc
from gitkube.agents.controllers import ttlafterfinished as ttl
from gitkube.api.client import Client
from gitkube.errors import NotFound
from gitkube.model.times import rfc3339
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, node, set_phase

Obj = dict[str, Any]


def job(name: str, seconds: int | None) -> Obj:
    spec: Obj = {"template": {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "c", "image": "busybox:1"}]}}}
    if seconds is not None:
        spec["ttlSecondsAfterFinished"] = seconds
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def finished(obj: Obj, outcome: str, at: float) -> Obj:
    return {**obj, "status": {"conditions": [
        {"type": outcome, "status": "True", "lastTransitionTime": rfc3339(at)}]}}


@pytest.mark.parametrize(("outcome", "seconds", "want"), [
    ("Complete", 100, 1100.0), ("Failed", 0, 1000.0), ("Complete", None, None),
    ("", 100, None),
])
def test_expires_at(outcome: str, seconds: int | None, want: float | None) -> None:
    obj = job("j", seconds)
    if outcome:
        obj = finished(obj, outcome, 1000.0)
    assert ttl.expires_at(obj) == want


def test_a_job_being_deleted_is_left_alone() -> None:
    obj = finished(job("j", 5), "Complete", 1000.0)
    obj["metadata"]["deletionTimestamp"] = rfc3339(1001.0)
    assert ttl.expires_at(obj) is None


def exists(client: Client, name: str) -> bool:
    try:
        client.get("batch/v1", "Job", "default", name)
    except NotFound:
        return False
    return True


def test_end_to_end_job_and_pods_go_after_the_ttl(cluster: Cluster) -> None:
    c = cluster.client
    c.create(node("n1"))
    cluster.manager.add(jobc.controller(cluster.manager, backoff_base=0, deadline_poll=0.05))
    cluster.manager.add(ttl.controller(cluster.manager, poll=0.05))
    cluster.manager.add(gc.controller(cluster.manager))
    FakeKubelet(cluster.manager, ["n1"])
    cluster.manager.start()
    c.create(job("short", 30))
    c.create(job("kept", None))

    def pods(name: str) -> list[Obj]:
        return c.list("v1", "Pod", "default", label_selector=f"job-name={name}").items

    def running(name: str) -> bool:
        return bool(pods(name)) and pods(name)[0]["status"]["phase"] == "Running"

    for name in ("short", "kept"):
        assert eventually(lambda: running(name))  # noqa: B023 (called at once)
        set_phase(c, pods(name)[0], "Succeeded")
    assert eventually(lambda: all(
        any(cd["type"] == "Complete" for cd in
            (c.get("batch/v1", "Job", "default", n).get("status") or {}).get("conditions")
            or []) for n in ("short", "kept")))
    # the Job finished at the manual clock's time (it writes the condition with it)
    assert not eventually(lambda: not exists(c, "short"), timeout=0.5)
    cluster.clock.advance(31)
    assert eventually(lambda: not exists(c, "short"))
    assert eventually(lambda: not pods("short"))  # background: the collector took its pod
    assert exists(c, "kept") and pods("kept")
