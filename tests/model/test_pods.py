"""model/pods.py and model/views.py: pod state rules, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.model.pods import (
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    pod_phase,
    pod_problem,
    restart_count,
)
from gitkube.model.views import Pod

Obj = dict[str, Any]
T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def pod(phase: str | None = "Running", *, ready: str | None = None, since: str = "",
        node: str = "n1", statuses: list[Obj] | None = None, deleting: bool = False,
        init: list[Obj] | None = None, scheduled: Obj | None = None) -> Obj:
    conditions: list[Obj] = []
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "lastTransitionTime": since})
    if scheduled is not None:
        conditions.append({"type": "PodScheduled", **scheduled})
    status: Obj = {"conditions": conditions, "containerStatuses": statuses or [],
                   "initContainerStatuses": init or []}
    if phase is not None:
        status["phase"] = phase
    meta: Obj = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def test_views_read_zero_values_for_missing_or_mistyped_fields() -> None:
    view = Pod({"metadata": "x", "spec": {"containers": "y"}, "status": {"phase": 3}})
    assert (view.metadata.name, view.spec.containers, view.status.phase) == ("", [], "Pending")
    assert Pod(None).status.container_statuses == []
    cs = Pod(pod(statuses=[{"name": "c", "restartCount": "2", "ready": "yes"}])) \
        .status.container_statuses[0]
    assert (cs.restart_count, cs.ready, cs.started, cs.state.waiting) == (2, False, False, False)


@pytest.mark.parametrize(("obj", "ready", "available", "active"), [
    (pod(ready="True", since="2024-01-01T00:00:00Z"), True, True, True),
    (pod(ready="True", since="2024-01-01T00:00:08Z"), True, False, True),  # ready 2s < 5s
    (pod(ready="True"), True, False, True),  # no transition time: never available
    (pod(ready="False"), False, False, True),
    (pod(), False, False, True),
    (pod("Succeeded", ready="False"), False, False, False),
    (pod("Failed"), False, False, False),
    (pod(ready="True", since="2024-01-01T00:00:00Z", deleting=True), True, True, False),
])
def test_readiness_availability_activity(obj: Obj, ready: bool, available: bool,
                                         active: bool) -> None:
    assert is_pod_ready(obj) is ready
    assert is_pod_available(obj, 5, T0 + 10) is available
    assert is_pod_available(obj, 0, T0) is ready
    assert is_pod_active(obj) is active


def test_phase_terminating_and_restarts() -> None:
    assert pod_phase(pod(None)) == "Pending"
    assert is_terminating(pod(deleting=True)) and not is_terminating(pod())
    counted = pod(statuses=[{"name": "a", "restartCount": 2}, {"name": "b", "restartCount": 1}],
                  init=[{"name": "i", "restartCount": 4}])
    assert restart_count(counted) == 7


WAITING = {"waiting": {"reason": "ImagePullBackOff", "message": "no registry"}}


@pytest.mark.parametrize(("obj", "problem"), [
    (pod(scheduled={"status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available"}),
     "Unschedulable: 0/1 nodes are available"),
    (pod(node=""), "not scheduled yet"),
    (pod(statuses=[{"name": "c", "state": WAITING}]),
     "container c: ImagePullBackOff: no registry"),
    (pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]),
     "phase Running"),
    (pod(init=[{"name": "i", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]),
     "container i exited 2 (Error)"),
    (pod(statuses=[{"name": "c", "ready": False, "state": {"running": {}}}]),
     "container c running but not ready (readiness probe)"),
    (pod("Pending"), "phase Pending"),
])
def test_pod_problem(obj: Obj, problem: str) -> None:
    assert pod_problem(obj) == problem
