"""`gitkube get pods` and `kubectl get pods` (the API's Table cells) print the same READY,
STATUS, RESTARTS and AGE for a pod, and they are the ones upstream's printer gives."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gitkube.api.server.tables import as_table
from gitkube.cli import tables
from gitkube.model import kinds

Obj = dict[str, Any]
NOW = 1_800_000_000.0


def _stamp(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


def _pod(age: float = 200, *, init: list[Obj] | None = None, statuses: list[Obj] | None = None,
         init_statuses: list[Obj] | None = None, phase: str = "Pending",
         conditions: list[Obj] | None = None, **extra: Any) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "x"}]}
    if init is not None:
        spec["initContainers"] = init
    status: Obj = {"phase": phase, "conditions": conditions or []}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    status.update(extra.pop("status", {}))
    meta = {"name": "p", "namespace": "default", "creationTimestamp": _stamp(age),
            **extra.pop("meta", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": status}


def _cs(name: str = "c", *, ready: bool = False, restarts: int = 0, state: Obj | None = None,
        last: Obj | None = None, started: bool | None = None) -> Obj:
    out: Obj = {"name": name, "ready": ready, "restartCount": restarts,
                "state": state or {"waiting": {"reason": "ContainerCreating"}},
                "lastState": last or {}}
    if started is not None:
        out["started"] = started
    return out


RUNNING = {"running": {"startedAt": _stamp(100)}}
READY = [{"type": "Ready", "status": "True"}]
INIT = [{"name": "setup", "image": "x"}]

# (pod, READY, STATUS, RESTARTS, AGE) as upstream's printPod and HumanDuration give them
CASES: dict[str, tuple[Obj, str, str, str, str]] = {
    "age of 3m20s": (_pod(200, statuses=[_cs(state=RUNNING, ready=True)], phase="Running",
                          conditions=READY), "1/1", "Running", "0", "3m20s"),
    "age of 90 minutes": (_pod(5400), "0/1", "Pending", "0", "90m"),
    "init container running": (
        _pod(init=INIT, init_statuses=[_cs("setup", state=RUNNING)],
             statuses=[_cs(state={"waiting": {"reason": "PodInitializing"}})]),
        "0/1", "Init:0/1", "0", "3m20s"),
    "init container crashing": (
        _pod(init=INIT, init_statuses=[_cs("setup", restarts=2, state={
            "waiting": {"reason": "CrashLoopBackOff"}}, last={
            "terminated": {"exitCode": 1, "finishedAt": _stamp(30)}})]),
        "0/1", "Init:CrashLoopBackOff", "2 (30s ago)", "3m20s"),
    "init container failed without reason": (
        _pod(init=INIT, init_statuses=[_cs("setup", state={"terminated": {"exitCode": 3}})]),
        "0/1", "Init:ExitCode:3", "0", "3m20s"),
    "container crashing": (
        _pod(phase="Running", statuses=[_cs(restarts=4, state={
            "waiting": {"reason": "CrashLoopBackOff"}}, last={
            "terminated": {"exitCode": 1, "finishedAt": _stamp(65)}})]),
        "0/1", "CrashLoopBackOff", "4 (65s ago)", "3m20s"),
    "container killed by a signal": (
        _pod(phase="Running", statuses=[_cs(state={"terminated": {"exitCode": 137,
                                                                   "signal": 9}})]),
        "0/1", "Signal:9", "0", "3m20s"),
    "completed, another running but pod not ready": (
        {**_pod(phase="Running", statuses=[
            _cs("a", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
            _cs("b", ready=True, state=RUNNING)]),
         "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]}},
        "1/2", "NotReady", "0", "3m20s"),
    "terminating": (_pod(phase="Running", statuses=[_cs(ready=True, state=RUNNING)],
                         conditions=READY, meta={"deletionTimestamp": _stamp(1)}),
                    "1/1", "Terminating", "0", "3m20s"),
    "node lost": (_pod(phase="Running", status={"reason": "NodeLost"},
                       meta={"deletionTimestamp": _stamp(1)}),
                  "0/1", "Unknown", "0", "3m20s"),
    "evicted": (_pod(phase="Failed", status={"reason": "Evicted"}),
                "0/1", "Evicted", "0", "3m20s"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_gitkube_get_and_kubectl_print_the_same_pod_columns(
        case: tuple[Obj, str, str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    pod, *expected = case
    monkeypatch.setattr(time, "time", lambda: NOW)  # the API's Table reads the clock itself
    rt = kinds.by_kind("Pod")
    assert rt is not None
    table = as_table(rt, [pod], "1")
    names = [c["name"] for c in table["columnDefinitions"]]
    served = dict(zip(names, table["rows"][0]["cells"], strict=True))
    printed = dict(zip(tables.columns("Pod"), tables.row(pod, NOW), strict=True))
    assert [str(served[c]) for c in ("Ready", "Status", "Restarts", "Age")] == expected
    assert [printed[c] for c in ("READY", "STATUS", "RESTARTS", "AGE")] == expected
