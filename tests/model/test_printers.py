"""model/printers.py and model/columns.py: what kubectl prints, table-driven. The duration
cases are upstream's (apimachinery/pkg/util/duration/duration_test.go)."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.model.columns import cells, columns_for
from gitkube.model.printers import (
    PodColumns,
    age,
    endpoints_text,
    human_duration,
    job_completions_text,
    job_duration_text,
    job_status_text,
    node_roles,
    node_status_text,
    pod_columns,
    service_external_ip,
    short_human_duration,
)
from gitkube.model.times import rfc3339

Obj = dict[str, Any]
MINUTE, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400
NOW = 1_800_000_000.0


@pytest.mark.parametrize(("seconds", "text"), [
    (1, "1s"), (70, "70s"), (190, "3m10s"), (70 * MINUTE, "70m"), (47 * HOUR, "47h"),
    (49 * HOUR, "2d1h"), ((8 * 24 + 2) * HOUR, "8d"), (367 * DAY, "367d"),
    (2 * YEAR + 25 * HOUR, "2y1d"), (8 * YEAR + 2 * HOUR, "8y"),
    (-2, "<invalid>"), (-1.5, "0s"), (0, "0s"), (0.9, "0s"), (119.999, "119s"),
    (120, "2m"), (121, "2m1s"), (200, "3m20s"), (600, "10m"), (601, "10m"),
    (3 * HOUR - 0.001, "179m"), (3 * HOUR, "3h"), (3 * HOUR + MINUTE, "3h1m"),
    (8 * HOUR - 0.001, "7h59m"), (8 * HOUR + 59 * MINUTE, "8h"), (2 * DAY, "2d"),
    (8 * DAY - 0.001, "7d23h"), (8 * DAY + 23 * HOUR, "8d"), (2 * YEAR - 0.001, "729d"),
    (2 * YEAR, "2y"), (2 * YEAR + DAY, "2y1d"), (8 * YEAR - 0.001, "7y364d"),
    (9 * YEAR, "9y"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (-2, "<invalid>"), (-1, "0s"), (59, "59s"), (200, "3m"), (59 * MINUTE, "59m"),
    (5 * HOUR, "5h"), (3 * DAY, "3d"), (400 * DAY, "1y"),
])
def test_short_human_duration(seconds: float, text: str) -> None:
    assert short_human_duration(seconds) == text


def test_age_is_unknown_without_a_creation_timestamp() -> None:
    assert age({"metadata": {"creationTimestamp": rfc3339(NOW - 200)}}, NOW) == "3m20s"
    assert age({"metadata": {}}, NOW) == "<unknown>"


def _pod(*, init: list[Obj] | None = None, statuses: list[Obj] | None = None,
         init_statuses: list[Obj] | None = None, conditions: list[Obj] | None = None,
         phase: str = "Running") -> Obj:
    return {"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}], "initContainers": init or []},
            "status": {"phase": phase, "conditions": conditions or [],
                       "containerStatuses": statuses or [],
                       "initContainerStatuses": init_statuses or []}}


RUNNING: Obj = {"running": {}}
SIDECAR = [{"name": "log", "restartPolicy": "Always"}, {"name": "setup"}]

# (pod, READY, STATUS, RESTARTS)
PODS: dict[str, tuple[Obj, str, str, str]] = {
    "started sidecar, second init container running": (
        _pod(init=SIDECAR, init_statuses=[
            {"name": "log", "started": True, "ready": True, "state": RUNNING,
             "restartCount": 1},
            {"name": "setup", "state": RUNNING}]), "1/2", "Init:1/2", "1"),
    "initialized with a sidecar": (
        _pod(init=SIDECAR, conditions=[{"type": "Initialized", "status": "True"}],
             init_statuses=[
                 {"name": "log", "started": True, "ready": True, "state": RUNNING,
                  "restartCount": 2},
                 {"name": "setup", "state": {"terminated": {"exitCode": 0}},
                  "restartCount": 5}],
             statuses=[{"name": "c", "ready": True, "state": RUNNING}]),
        "2/2", "Running", "2"),
    "scheduling gated": (_pod(phase="Pending", conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
        "0/1", "SchedulingGated", "0"),
    "pod reason": ({**_pod(phase="Failed"), "status": {"phase": "Failed", "reason": "Evicted"}},
                   "0/1", "Evicted", "0"),
}


@pytest.mark.parametrize("case", PODS.values(), ids=PODS.keys())
def test_pod_columns(case: tuple[Obj, str, str, str]) -> None:
    pod, ready, status, restarts = case
    assert pod_columns(pod, NOW) == PodColumns(ready, status, restarts)


@pytest.mark.parametrize(("node", "status", "roles"), [
    ({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, "Ready", "<none>"),
    ({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}, "NotReady",
     "<none>"),
    ({"spec": {"unschedulable": True}, "metadata": {"labels": {
        "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"}}},
     "Unknown,SchedulingDisabled", "control-plane,edge"),
])
def test_node_status_and_roles(node: Obj, status: str, roles: str) -> None:
    assert (node_status_text(node), node_roles(node)) == (status, roles)


def job(*conditions: str, deleting: bool = False, **spec: Any) -> Obj:
    meta: Obj = {"name": "j"}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(NOW)
    return {"metadata": meta, "spec": spec, "status": {
        "succeeded": 1, "conditions": [{"type": c, "status": "True"} for c in conditions]}}


@pytest.mark.parametrize(("obj", "status", "completions"), [
    (job("Complete", completions=2), "Complete", "1/2"),
    (job("Failed", "Suspended"), "Failed", "1/1"),
    (job("Suspended", deleting=True), "Terminating", "1/1"),
    (job("Suspended", parallelism=3), "Suspended", "1/1 of 3"),
    (job("FailureTarget"), "FailureTarget", "1/1"),
    (job(), "Running", "1/1"),
])
def test_job_status_and_completions(obj: Obj, status: str, completions: str) -> None:
    assert (job_status_text(obj), job_completions_text(obj)) == (status, completions)


def test_job_duration() -> None:
    started = {"status": {"startTime": rfc3339(NOW - 300)}}
    assert job_duration_text(started, NOW) == "5m"
    done = {"status": {"startTime": rfc3339(NOW - 300), "completionTime": rfc3339(NOW - 200)}}
    assert job_duration_text(done, NOW) == "100s"
    assert job_duration_text({"status": {}}, NOW) == ""


@pytest.mark.parametrize(("spec", "ingress", "shown"), [
    ({"type": "ClusterIP"}, [], "<none>"),
    ({"type": "NodePort", "externalIPs": ["1.2.3.4"]}, [], "1.2.3.4"),
    ({"type": "LoadBalancer"}, [], "<pending>"),
    ({"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]}, [{"ip": "127.0.0.1"}],
     "127.0.0.1,1.2.3.4"),
    ({"type": "LoadBalancer"}, [{"hostname": "lb.example"}], "lb.example"),
    ({"type": "ExternalName", "externalName": "db.example.com"}, [], "db.example.com"),
])
def test_service_external_ip(spec: Obj, ingress: list[Obj], shown: str) -> None:
    svc = {"spec": spec, "status": {"loadBalancer": {"ingress": ingress}}}
    assert service_external_ip(svc) == shown


def test_endpoints_text() -> None:
    four = {"subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 3)],
                         "ports": [{"port": 80}, {"port": 443}]}]}
    assert endpoints_text(four) == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    assert endpoints_text({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}) == "10.0.0.1"
    assert endpoints_text({}) == "<none>"


@pytest.mark.parametrize(("kind", "normal", "wide"), [
    ("Pod", ["Name", "Ready", "Status", "Restarts", "Age"], ["IP", "Node"]),
    ("Deployment", ["Name", "Ready", "Up-to-date", "Available", "Age"],
     ["Containers", "Images", "Selector"]),
    ("ReplicaSet", ["Name", "Desired", "Current", "Ready", "Age"],
     ["Containers", "Images", "Selector"]),
    ("StatefulSet", ["Name", "Ready", "Age"], ["Containers", "Images"]),
    ("DaemonSet", ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available",
                   "Node Selector", "Age"], ["Containers", "Images", "Selector"]),
    ("Job", ["Name", "Status", "Completions", "Duration", "Age"],
     ["Containers", "Images", "Selector"]),
    ("Service", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
    ("Node", ["Name", "Status", "Roles", "Age", "Version"],
     ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
    ("Event", ["Last Seen", "Type", "Reason", "Object", "Message"], ["Name"]),
    ("Widget", ["Name", "Age"], []),
])
def test_columns_are_upstreams(kind: str, normal: list[str], wide: list[str]) -> None:
    columns = columns_for(kind)
    assert [c.name for c in columns if c.priority == 0] == normal
    assert [c.name for c in columns if c.priority == 1] == wide


def test_workload_cells() -> None:
    deploy = {"kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells(columns_for("Deployment"), deploy, NOW) == [
        "web", "2/3", 3, 2, "<unknown>", "c", "i:1", "app=web"]
    ds = {"metadata": {"name": "agent"},
          "spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}},
          "status": {"desiredNumberScheduled": 2, "numberReady": 1}}
    assert cells(columns_for("DaemonSet"), ds, NOW)[:8] == [
        "agent", 2, 0, 1, 0, 0, "disk=ssd", "<unknown>"]
