"""`gitkube get`, `describe` and `logs` over a real SQLite store (tables like kubectl's)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitkube.api.local import LocalClient
from gitkube.errors import GitkubeError
from gitkube.model.printers import human_duration
from gitkube.store import open_store
from tests.cliapp import app

Obj = dict[str, Any]
NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalClient]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("GITKUBE_STORE", url)
    yield LocalClient(open_store(url))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if isinstance(result.exception, GitkubeError):
        return 1, result.output + "error: " + result.exception.render()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _pod(client: LocalClient, name: str, ns: str = "default", **status: Any) -> Obj:
    pod = client.create({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": name, "namespace": ns},
                         "spec": {"nodeName": "node-1", "containers": [
                             {"name": "main", "image": "localhost/x:1"},
                             {"name": "side", "image": "localhost/y:1"}]}})
    if status:
        pod["status"] = status
        pod = client.update_status(pod)
    return pod


def _cs(name: str, ready: bool, state: Obj, restarts: int = 0, last: Obj | None = None) -> Obj:
    return {"name": name, "image": "x", "imageID": "", "ready": ready, "restartCount": restarts,
            "state": state, "lastState": last or {}}


def test_get_pods_table_wide_and_all_namespaces(client: LocalClient) -> None:
    _pod(client, "web", phase="Running", podIP="10.88.0.7", containerStatuses=[
        _cs("main", True, {"running": {"startedAt": NOW}}),
        _cs("side", False, {"waiting": {"reason": "CrashLoopBackOff"}}, restarts=3,
            last={"terminated": {"exitCode": 1, "finishedAt": NOW}})])
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    _pod(client, "other", "prod")
    code, out = run("get", "pods")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:4] == ["web", "1/2", "CrashLoopBackOff", "3"]
    assert "ago)" in lines[1] and len(lines) == 2
    code, out = run("get", "po", "-o", "wide")
    assert out.splitlines()[0].split()[-2:] == ["IP", "NODE"]
    assert out.splitlines()[1].split()[-2:] == ["10.88.0.7", "node-1"]
    code, out = run("get", "pods", "-A")
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [["default", "web"],
                                                                   ["prod", "other"]]
    assert out.splitlines()[2].split()[2:4] == ["0/2", "Pending"]
    code, out = run("get", "pods", "-n", "empty")
    assert code == 0 and "No resources found in empty namespace." in out


def test_get_one_object_as_yaml_json_and_name(client: LocalClient) -> None:
    _pod(client, "web")
    code, out = run("get", "pod", "web", "-o", "json")
    assert code == 0 and json.loads(out)["metadata"]["name"] == "web"
    code, out = run("get", "pods", "-o", "yaml")
    assert "kind: List" in out and "name: web" in out
    code, out = run("get", "pods", "-o", "name")
    assert out == "pod/web\n"
    code, out = run("get", "pod/missing")
    assert code == 1 and 'pods "missing" not found' in out
    code, out = run("get", "widgets")
    assert code != 0 and "widgets" in out


def test_tables_for_workloads_services_and_nodes(client: LocalClient) -> None:
    dep = client.create({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "web", "namespace": "default"},
                         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                  "template": {"metadata": {"labels": {"app": "web"}},
                                               "spec": {"containers": [
                                                   {"name": "c", "image": "i"}]}}}})
    dep["status"] = {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                     "availableReplicas": 2}
    client.update_status(dep)
    client.create({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "web", "namespace": "default"},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    _, out = run("get", "deploy")
    assert out.splitlines()[1].split()[:4] == ["web", "2/3", "3", "2"]
    _, out = run("get", "deploy", "-o", "wide")
    assert out.splitlines()[1].split()[-3:] == ["c", "i", "app=web"]
    _, out = run("get", "svc")
    assert out.splitlines()[0].split()[:3] == ["NAME", "TYPE", "CLUSTER-IP"]
    assert "80/TCP" in out
    _, out = run("get", "nodes")
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert out.splitlines()[1].split()[:3] == ["node-1", "Ready", "<none>"]
    _, out = run("get", "no", "node-1", "-n", "ignored")
    assert "node-1" in out


def test_describe_shows_the_pod_and_its_events(client: LocalClient) -> None:
    pod = _pod(client, "web", phase="Running", podIP="10.88.0.7", containerStatuses=[
        _cs("main", True, {"running": {"startedAt": NOW}}),
        _cs("side", True, {"running": {"startedAt": NOW}})])
    for i, reason in enumerate(("Pulled", "Started")):
        client.create({"apiVersion": "v1", "kind": "Event",
                       "metadata": {"name": f"web.{i}", "namespace": "default"},
                       "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default",
                                          "uid": pod["metadata"]["uid"]},
                       "reason": reason, "message": f"{reason} container main",
                       "type": "Normal", "count": 1, "firstTimestamp": NOW,
                       "lastTimestamp": NOW, "source": {"component": "kubelet"}})
    code, out = run("describe", "pod/web")
    assert code == 0, out
    assert "Name:" in out and "IP:               10.88.0.7" in out
    assert "Restart Count: 0" in out
    events = out[out.index("Events:"):].splitlines()
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert events[3].split()[:2] == ["Normal", "Pulled"] and "kubelet" in events[3]
    code, out = run("describe", "pods", "web")
    assert "Events:" in out


def test_logs_refuses_pods_without_containers(client: LocalClient) -> None:
    client.create({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "node-1", "labels": {"type": "simulated"}}})
    _pod(client, "web")
    code, out = run("logs", "web")
    assert code == 1 and "simulated node node-1" in out


def test_human_duration_matches_kubectl() -> None:
    cases = {5: "5s", 119: "119s", 125: "2m5s", 600: "10m", 3 * 3600 + 60: "3h1m",
             10 * 3600: "10h", 3 * 86400 + 3600: "3d1h", 20 * 86400: "20d"}
    assert {s: human_duration(s) for s in cases} == cases


def test_get_several_types_like_kubectl(client: LocalClient) -> None:
    _pod(client, "web")
    client.create({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "db", "namespace": "default"},
                   "spec": {"type": "ExternalName", "externalName": "db.example.com"}})
    code, out = run("get", "svc,pods")
    assert code == 0
    tables_out = out.split("\n\n")
    assert tables_out[0].splitlines()[0].split()[:4] == ["NAME", "TYPE", "CLUSTER-IP",
                                                         "EXTERNAL-IP"]
    assert tables_out[0].splitlines()[1].split()[:4] == ["service/db", "ExternalName", "<none>",
                                                         "db.example.com"]
    assert tables_out[1].splitlines()[1].split()[0] == "pod/web"
    code, out = run("get", "pods,svc", "-o", "name")
    assert out.split() == ["pod/web", "service/db"]
    code, out = run("get", "pods,svc", "-o", "json")
    assert [i["kind"] for i in json.loads(out)["items"]] == ["Pod", "Service"]
    code, out = run("get", "pods,svc", "web")
    assert code != 0 and "take no name" in out
    code, out = run("get", "pods,nope")
    assert code != 0 and 'resource type "nope"' in out


# ServiceAccounts: validated, planned, applied before the pods that name them, listed

SA_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: worker, namespace: default}
spec:
  serviceAccountName: robot
  automountServiceAccountToken: false
  containers:
    - name: main
      image: "localhost/gitkube-example:1"
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: default}
secrets:
  - name: robot-token
"""


def test_a_service_account_is_applied_before_the_pod_and_listed(
        client: LocalClient, tmp_path: Path) -> None:
    src = tmp_path / "m"
    src.mkdir()
    (src / "app.yaml").write_text(SA_MANIFEST)
    code, out = run("validate", str(src))
    assert code == 0, out
    code, out = run("apply", str(src), "--yes", "--no-wait")
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.strip().startswith("+")]
    assert [line.split()[1] for line in lines] == ["ServiceAccount", "Pod"]
    assert client.get("v1", "ServiceAccount", "default", "robot")["secrets"] == [
        {"name": "robot-token"}]
    code, out = run("get", "sa", "-n", "default")
    assert code == 0
    assert out.split() == ["NAME", "SECRETS", "AGE", "robot", "1", out.split()[-1]]


def test_asking_for_a_token_is_refused_with_the_reason(tmp_path: Path) -> None:
    src = tmp_path / "m"
    src.mkdir()
    (src / "sa.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n"
                                 "  name: robot\n  namespace: default\n"
                                 "automountServiceAccountToken: true\n")
    code, out = run("validate", str(src))
    assert code == 1
    assert "sa.yaml:6:1" in out
    assert "mounts no service account tokens" in out
