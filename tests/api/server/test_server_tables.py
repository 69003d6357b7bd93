"""Table cells as kubectl prints them (pure functions)."""

from __future__ import annotations

from typing import Any

from gitkube.api.server.tables import as_table, wants_table
from gitkube.model import kinds

Obj = dict[str, Any]


def cells(kind: str, obj: Obj) -> dict[str, Any]:
    rt = kinds.by_kind(kind)
    assert rt is not None
    table = as_table(rt, [obj], "1")
    names = [c["name"] for c in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][0]["cells"], strict=True))


def test_pod_status_shows_the_reason_kubectl_shows() -> None:
    pod: Obj = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
                "status": {"phase": "Running", "containerStatuses": [
                    {"name": "c", "ready": False, "restartCount": 4,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    row = cells("Pod", pod)
    assert (row["Ready"], row["Status"], row["Restarts"]) == ("0/1", "CrashLoopBackOff", "4")
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert cells("Pod", pod)["Status"] == "Terminating"


def test_service_node_secret_columns() -> None:
    svc = {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIP": "10.0.0.1",
                                               "ports": [{"port": 80, "nodePort": 30080}]}}
    row = cells("Service", svc)
    assert (row["Type"], row["Cluster-IP"], row["External-IP"], row["Port(s)"]) == (
        "NodePort", "10.0.0.1", "<none>", "80:30080/TCP")
    node = {"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    row = cells("Node", node)
    assert (row["Status"], row["Roles"]) == ("Ready,SchedulingDisabled", "worker")
    secret = {"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "", "b": ""}}
    assert cells("Secret", secret)["Data"] == 2


def test_external_ip_column_like_kubectl() -> None:
    lb = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.2",
                                               "ports": [{"port": 80, "nodePort": 30081}]}}
    assert cells("Service", lb)["External-IP"] == "<pending>"
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    assert cells("Service", lb)["External-IP"] == "127.0.0.1"
    ext = {"metadata": {"name": "x"}, "spec": {"type": "ExternalName",
                                               "externalName": "db.example.com"}}
    assert cells("Service", ext)["External-IP"] == "db.example.com"
    assert cells("ServiceAccount", {"metadata": {"name": "sa"},
                                    "secrets": [{"name": "t"}]})["Secrets"] == 1


def test_accept_header_parsing() -> None:
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io")
    assert not wants_table("application/json")
    assert not wants_table("application/json, application/json;as=Table;g=meta.k8s.io")
    assert not wants_table(None)
