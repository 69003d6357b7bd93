"""`apply --wait` and `rollout status` share one rule for the kinds kubectl's rollout status
knows: an object `rollout status` still waits for is not converged, and the other way round."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.converge import verdict
from gitkube.cli import rollout

Obj = dict[str, Any]


def _ds(**status: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default", "generation": 2},
            "spec": {"updateStrategy": {"type": "RollingUpdate"}},
            "status": {"observedGeneration": 2, **status}}


def _sts(rolling: Obj | None = None, **status: Any) -> Obj:
    strategy: Obj = {"type": "RollingUpdate"}
    if rolling is not None:
        strategy["rollingUpdate"] = rolling
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default", "generation": 1},
            "spec": {"replicas": 3, "updateStrategy": strategy},
            "status": {"observedGeneration": 1, **status}}


def _deploy(**status: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 1, **status}}


CASES = {
    "daemonset: every pod ready, one updated": _ds(
        desiredNumberScheduled=3, numberReady=3, numberAvailable=3, updatedNumberScheduled=1),
    "daemonset: rolled out": _ds(
        desiredNumberScheduled=3, numberReady=3, numberAvailable=3, updatedNumberScheduled=3),
    "daemonset: updated, one not available": _ds(
        desiredNumberScheduled=3, numberReady=3, numberAvailable=2, updatedNumberScheduled=3),
    "statefulset: every pod ready, old revision": _sts(
        readyReplicas=3, currentReplicas=2, updatedReplicas=1, currentRevision="db-a",
        updateRevision="db-b"),
    "statefulset: rolled out": _sts(
        readyReplicas=3, currentReplicas=3, updatedReplicas=3, currentRevision="db-b",
        updateRevision="db-b"),
    "statefulset: partition 0, one updated": _sts(
        {"partition": 0}, readyReplicas=3, updatedReplicas=1, currentRevision="db-a",
        updateRevision="db-b"),
    "statefulset: partition 2, one updated": _sts(
        {"partition": 2}, readyReplicas=3, updatedReplicas=1, currentRevision="db-a",
        updateRevision="db-b"),
    "statefulset: not observed": {**_sts(readyReplicas=3), "status": {"readyReplicas": 3}},
    "deployment: an old replica left": _deploy(
        replicas=3, updatedReplicas=2, availableReplicas=2, readyReplicas=2),
    "deployment: rolled out": _deploy(
        replicas=2, updatedReplicas=2, availableReplicas=2, readyReplicas=2),
}


@pytest.mark.parametrize("obj", CASES.values(), ids=CASES.keys())
def test_apply_wait_converges_exactly_when_rollout_status_is_done(obj: Obj) -> None:
    _message, done = rollout.STATUS_VIEWERS[obj["kind"]](obj)
    assert verdict(obj).done == done
