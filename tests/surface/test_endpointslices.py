"""EndpointSlices beside Endpoints: the pure decision, the embedded path and kubectl
(``describe svc`` reads its endpoints from the slices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.controllers.endpointslice import CONTROLLER, desired_slices
from tests.daemon.daemon_env import RunningDaemon
from tests.surface.embedded import Embedded
from tests.surface.kubectl_daemon import kubectl_for, wait_until

Obj = dict[str, Any]

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: main
        image: "localhost/web:1"
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, labels: {team: a}}
spec:
  selector: {app: web}
  ports: [{name: web, port: 80, targetPort: http}]
"""

SERVICE: Obj = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "default", "uid": "s-1"},
                "spec": {"selector": {"app": "web"},
                         "ports": [{"name": "web", "port": 80, "targetPort": "http",
                                    "protocol": "TCP"}]}}


def _pod(name: str, ip: str, *, ready: bool = True, deleting: bool = False,
         port: bool = True, phase: str = "Running") -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"u-{name}",
                 "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ports = [{"name": "http", "containerPort": 8080, "protocol": "TCP"}] if port else []
    return {"metadata": meta,
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": phase, "podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_slices_conditions_and_ports() -> None:
    pods = [_pod("a", "10.0.0.1"), _pod("b", "10.0.0.2", ready=False),
            _pod("c", "10.0.0.3", deleting=True), _pod("d", "10.0.0.4", port=False),
            _pod("e", "10.0.0.5", phase="Succeeded"), _pod("f", "")]
    slices = desired_slices(SERVICE, pods)
    assert len(slices) == 2  # the pod without the named port gets a slice of its own
    by_ports = {tuple(p["port"] for p in s["ports"]): s for s in slices}
    main = by_ports[(8080,)]
    assert main["metadata"]["labels"] == {"kubernetes.io/service-name": "web",
                                          "endpointslice.kubernetes.io/managed-by": CONTROLLER}
    assert main["metadata"]["ownerReferences"][0]["uid"] == "s-1"
    assert main["addressType"] == "IPv4"
    assert main["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    conditions = {e["targetRef"]["name"]: e["conditions"] for e in main["endpoints"]}
    assert conditions == {
        "a": {"ready": True, "serving": True, "terminating": False},
        "b": {"ready": False, "serving": False, "terminating": False},
        "c": {"ready": False, "serving": True, "terminating": True}}
    assert [e["addresses"] for e in by_ports[()]["endpoints"]] == [["10.0.0.4"]]
    assert by_ports[()]["metadata"]["name"] != main["metadata"]["name"]
    empty = desired_slices(SERVICE, [])
    assert len(empty) == 1 and empty[0]["endpoints"] == []
    assert desired_slices({**SERVICE, "spec": {"ports": SERVICE["spec"]["ports"]}}, pods) == []
    published = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    assert all(e["conditions"]["ready"] for s in desired_slices(published, pods)
               for e in s["endpoints"])


def test_embedded_endpointslices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = Embedded(tmp_path, monkeypatch)
    env.write(MANIFESTS)
    assert env.run("validate", str(env.root))[0] == 0
    env.apply()

    def addresses() -> int:
        return sum(len(s.get("endpoints") or []) for s in env.client.list(
            "discovery.k8s.io/v1", "EndpointSlice", "default",
            label_selector="kubernetes.io/service-name=web").items)

    env.converge([env.client.get("apps/v1", "Deployment", "default", "web")],
                 until=lambda: addresses() == 2)
    code, out = env.run("get", "endpointslices")
    assert code == 0, out
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert row.startswith("web-") and row.split()[1:3] == ["IPv4", "8080"]
    code, out = env.run("plan", str(env.root))
    assert code == 0 and "No changes" in out, out


def test_kubectl_describe_svc_and_get_endpointslices(shared_daemon: RunningDaemon,
                                                     tmp_path: Path) -> None:
    kubectl = kubectl_for(shared_daemon, tmp_path)
    kubectl.run("apply", "-f", "-", stdin=MANIFESTS)

    def endpoints_line() -> str:
        described = kubectl.run("describe", "svc", "web").stdout
        return next(line for line in described.splitlines() if line.startswith("Endpoints:"))

    assert wait_until(lambda: endpoints_line().count(":8080") == 2), endpoints_line()
    listed = kubectl.run("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    assert "IPv4" in listed.stdout and "8080" in listed.stdout
    sliced = kubectl.run("get", "endpointslices", "-o",
                         "jsonpath={.items[0].endpoints[*].conditions.ready}").stdout
    assert sliced.split() == ["true", "true"]
    kubectl.run("delete", "svc", "web", "--wait=true")
    assert wait_until(lambda: kubectl.run(
        "get", "endpointslices", "-o", "name").stdout.strip() == "")
