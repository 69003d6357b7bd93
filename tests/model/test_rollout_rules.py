"""model/rollout.py: kubectl's rollout status, apply --wait's convergence and the Deployment
controller's "complete", table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.model.rollout import (
    convergence,
    deployment_complete,
    rollout_status,
)

Obj = dict[str, Any]


def deploy(generation: int = 1, want: int = 2, *, paused: bool = False,
           conditions: list[Obj] | None = None, **status: Any) -> Obj:
    spec: Obj = {"replicas": want}
    if paused:
        spec["paused"] = True
    return {"kind": "Deployment", "metadata": {"name": "web", "generation": generation},
            "spec": spec, "status": {"conditions": conditions or [], **status}}


def ds(strategy: str = "RollingUpdate", **status: Any) -> Obj:
    return {"kind": "DaemonSet", "metadata": {"name": "agent", "generation": 1},
            "spec": {"updateStrategy": {"type": strategy}}, "status": status}


def sts(partition: int | None = None, strategy: str = "RollingUpdate", **status: Any) -> Obj:
    update: Obj = {"type": strategy}
    if partition is not None:
        update["rollingUpdate"] = {"partition": partition}
    return {"kind": "StatefulSet", "metadata": {"name": "db", "generation": 1},
            "spec": {"replicas": 3, "updateStrategy": update}, "status": status}


DEADLINE = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet web-1 has timed out progressing."}]
WAIT_WEB = 'Waiting for deployment "web" rollout to finish: '
WAIT_AGENT = 'Waiting for daemon set "agent" rollout to finish: '

# (object, kubectl's message, done, error)
ROLLOUT: dict[str, tuple[Obj, str, bool, str]] = {
    "deployment not observed": (deploy(2, observedGeneration=1),
                                "Waiting for deployment spec update to be observed...", False,
                                ""),
    "deployment past its deadline": (deploy(observedGeneration=1, conditions=DEADLINE), "",
                                     False, 'deployment "web" exceeded its progress deadline'),
    "deployment updating": (deploy(observedGeneration=1, updatedReplicas=1),
                            f"{WAIT_WEB}1 out of 2 new replicas have been updated...", False, ""),
    "deployment old replicas": (deploy(observedGeneration=1, replicas=3, updatedReplicas=2),
                                f"{WAIT_WEB}1 old replicas are pending termination...", False,
                                ""),
    "deployment not available": (deploy(observedGeneration=1, replicas=2, updatedReplicas=2,
                                        availableReplicas=1),
                                 f"{WAIT_WEB}1 of 2 updated replicas are available...", False,
                                 ""),
    "deployment done": (deploy(observedGeneration=1, replicas=2, updatedReplicas=2,
                               availableReplicas=2),
                        'deployment "web" successfully rolled out', True, ""),
    "daemonset OnDelete": (ds("OnDelete"), "", True,
                           "rollout status is only available for RollingUpdate strategy type"),
    "daemonset not observed": (ds(), "Waiting for daemon set spec update to be observed...",
                               False, ""),
    "daemonset updating": (ds(observedGeneration=1, desiredNumberScheduled=3,
                              updatedNumberScheduled=2, numberAvailable=3),
                           f"{WAIT_AGENT}2 out of 3 new pods have been updated...", False, ""),
    "daemonset not available": (ds(observedGeneration=1, desiredNumberScheduled=3,
                                   updatedNumberScheduled=3, numberAvailable=1),
                                f"{WAIT_AGENT}1 of 3 updated pods are available...", False, ""),
    "daemonset done": (ds(observedGeneration=1, desiredNumberScheduled=3,
                          updatedNumberScheduled=3, numberAvailable=3),
                       'daemon set "agent" successfully rolled out', True, ""),
    "statefulset OnDelete": (sts(strategy="OnDelete"), "", True,
                             "rollout status is only available for RollingUpdate strategy "
                             "type"),
    "statefulset never observed": (sts(readyReplicas=3),
                                   "Waiting for statefulset spec update to be observed...",
                                   False, ""),
    "statefulset not ready": (sts(observedGeneration=1, readyReplicas=1),
                              "Waiting for 2 pods to be ready...", False, ""),
    "statefulset partitioned, updating": (
        sts(1, observedGeneration=1, readyReplicas=3, updatedReplicas=1),
        "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
        False, ""),
    "statefulset partitioned, done": (
        sts(1, observedGeneration=1, readyReplicas=3, updatedReplicas=2),
        "partitioned roll out complete: 2 new pods have been updated...", True, ""),
    "statefulset revision behind": (
        sts(observedGeneration=1, readyReplicas=3, updatedReplicas=1, currentRevision="db-1",
            updateRevision="db-2"),
        "waiting for statefulset rolling update to complete 1 pods at revision db-2...", False,
        ""),
    "statefulset done": (
        sts(observedGeneration=1, readyReplicas=3, currentReplicas=3, currentRevision="db-2",
            updateRevision="db-2"),
        "statefulset rolling update complete 3 pods at revision db-2...", True, ""),
}


@pytest.mark.parametrize("case", ROLLOUT.values(), ids=ROLLOUT.keys())
def test_rollout_status_is_kubectls(case: tuple[Obj, str, bool, str]) -> None:
    obj, message, done, error = case
    found = rollout_status(obj)
    assert found is not None
    assert (found.message, found.done, found.error) == (message, done, error)
    if not error:
        assert convergence(obj).done is done  # apply --wait agrees


def test_kinds_without_a_rollout_status() -> None:
    assert rollout_status({"kind": "Job"}) is None


# (object, done, failed, detail)
CONVERGENCE: dict[str, tuple[Obj, bool, bool, str]] = {
    "paused and observed": (deploy(observedGeneration=1, paused=True, updatedReplicas=0,
                                   availableReplicas=2), True, False,
                            "paused (2/2 available, 0/2 updated)"),
    "paused, not observed": (deploy(2, observedGeneration=1, paused=True), False, False,
                             "0/2 available, 0/2 updated"),
    "deadline exceeded": (deploy(observedGeneration=1, conditions=DEADLINE), False, True,
                          "progress deadline exceeded: ReplicaSet web-1 has timed out "
                          "progressing."),
    "daemonset OnDelete, all ready": (ds("OnDelete", observedGeneration=1,
                                         desiredNumberScheduled=2, numberReady=2), True, False,
                                      "2/2 ready"),
    "daemonset OnDelete, uncounted": (ds("OnDelete", observedGeneration=1), False, False,
                                      "0/0 ready"),
    "statefulset OnDelete": (sts(strategy="OnDelete", observedGeneration=1, readyReplicas=3),
                             True, False, "3/3 ready"),
    "replicaset": ({"kind": "ReplicaSet", "spec": {"replicas": 2},
                    "status": {"readyReplicas": 2, "availableReplicas": 1}}, False, False,
                   "2/2 ready"),
    "job complete": ({"kind": "Job", "spec": {"completions": 2}, "status": {
        "succeeded": 2, "conditions": [{"type": "Complete", "status": "True"}]}}, True, False,
                     "2/2 complete"),
    "job failed": ({"kind": "Job", "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}, False, True,
                   "failed: BackoffLimitExceeded"),
    "job suspended": ({"kind": "Job", "spec": {"suspend": True}, "status": {"conditions": [
        {"type": "Suspended", "status": "True"}]}}, True, False, "suspended (0/1 complete)"),
    "pod ready": ({"kind": "Pod", "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}]}}, True, False, "Running"),
    "pod succeeded": ({"kind": "Pod", "status": {"phase": "Succeeded"}}, True, False,
                      "Succeeded"),
    "pod failed": ({"kind": "Pod", "status": {"phase": "Failed"}}, False, True, "pod failed"),
    "namespace terminating": ({"kind": "Namespace", "status": {"phase": "Terminating"}}, False,
                              False, "Terminating"),
    "anything else": ({"kind": "ConfigMap"}, True, False, "present"),
}


@pytest.mark.parametrize("case", CONVERGENCE.values(), ids=CONVERGENCE.keys())
def test_convergence(case: tuple[Obj, bool, bool, str]) -> None:
    obj, done, failed, detail = case
    found = convergence(obj)
    assert (found.done, found.failed, found.detail) == (done, failed, detail)


def test_deployment_complete_wants_every_count_at_spec_replicas() -> None:
    d = deploy(2)
    full = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
            "availableReplicas": 2}
    assert deployment_complete(d, full)
    assert not deployment_complete(d, {**full, "replicas": 3})  # rollout status says done
    assert not deployment_complete(d, {**full, "observedGeneration": 1})
    assert not deployment_complete(d, {**full, "availableReplicas": 1})
