"""The CLI behaves the same embedded (store opened in-process) and against a running daemon
(every command through its unix socket): a representative set of commands, run both ways."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.api.local import LocalClient
from gitkube.cli.connect import client_for, daemon_for
from gitkube.errors import GitkubeError
from tests.cliapp import app
from tests.daemon.daemon_env import RunningDaemon, start_daemon, wait_for

MANIFESTS = {
    "settings.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  colour: blue
""",
    "web.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: localhost/web:1
        imagePullPolicy: Never
""",
}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if isinstance(result.exception, GitkubeError):
        return result.exception.exit_code, result.output + "error: " + \
            result.exception.render()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(params=["embedded", "daemon"])
def mode(request: pytest.FixtureRequest, _isolated_state_dir: Path) -> Iterator[str]:
    """Each test once without a daemon and once with one serving the default store."""
    if request.param == "embedded":
        yield "embedded"
        return
    running: RunningDaemon = start_daemon(_isolated_state_dir)
    try:
        yield "daemon"
    finally:
        running.stop()


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    root.mkdir()
    for name, text in MANIFESTS.items():
        (root / name).write_text(text)
    return root


def test_commands_give_the_same_results(mode: str, manifests: Path) -> None:
    assert (daemon_for(None) is not None) == (mode == "daemon")
    assert isinstance(client_for(None), LocalClient) == (mode == "embedded")
    code, out = run("apply", str(manifests), "--yes", "--no-wait")
    assert code == 0 and "Apply complete! Objects: 2 added" in out, out
    code, out = run("get", "cm")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    assert out.splitlines()[1].split()[:2] == ["settings", "1"]
    code, out = run("get", "deploy", "web", "-o", "json")
    assert code == 0 and json.loads(out)["spec"]["replicas"] == 1
    code, out = run("scale", "deploy/web", "--replicas", "3")
    assert (code, out) == (0, "deployment.apps/web scaled\n")
    code, out = run("get", "deploy/web", "-o", "json")
    assert json.loads(out)["spec"]["replicas"] == 3
    code, out = run("scale", "deploy/web", "--replicas", "2", "--current-replicas", "5")
    assert code == 1 and "Expected replicas to be 5, was 3" in out
    code, out = run("plan", str(manifests), "--detailed-exitcode")
    assert code == 2 and "web" in out  # git says 1 replica: drift
    code, out = run("describe", "cm/settings")
    assert code == 0 and "Name:" in out and "colour: blue" in out
    code, out = run("delete", "cm/settings")
    assert (code, out) == (0, 'configmap "settings" deleted\n')
    code, out = run("get", "cm", "settings")
    assert code == 1 and 'configmaps "settings" not found' in out
    code, out = run("delete", "configmap", "settings")
    assert code == 1 and 'Error from server (NotFound): configmaps "settings" not found' in out
    assert run("delete", "cm/settings", "--ignore-not-found")[0] == 0
    client = client_for(None)
    for name in ("a", "b"):
        client.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": "default",
                                    "labels": {"batch": "x"}}})
    code, out = run("delete", "cm", "-l", "batch=x")
    assert (code, out) == (0, 'configmap "a" deleted\nconfigmap "b" deleted\n')
    code, out = run("delete", "cm", "-l", "batch=x")
    assert (code, out) == (0, "No resources found in default namespace.\n")
    code, out = run("delete", "cm")
    assert code == 2 and "give a name, --selector or --all" in out
    code, out = run("events", "-A")
    assert code == 0
    code, out = run("get", "svc", "nothing-here")
    assert code == 1 and "not found" in out


def test_get_watch_prints_changes(mode: str) -> None:
    client = client_for(None)
    client.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "first", "namespace": "default"}})
    outputs: list[tuple[int, str]] = []
    thread = threading.Thread(target=lambda: outputs.append(
        run("get", "cm", "-w", "--watch-timeout", "4")))
    thread.start()
    time.sleep(1.5)
    client.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "second", "namespace": "default"},
                   "data": {"k": "v"}})
    thread.join(20)
    assert outputs, "get -w did not end after its --watch-timeout"
    code, out = outputs[0]
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "DATA", "AGE"]
    assert lines[1].split()[0] == "first"
    assert any(line.split()[:2] == ["second", "1"] for line in lines[2:]), out


@pytest.mark.parametrize("mode", ["daemon"], indirect=True)
def test_daemon_runs_the_agents_for_the_cli(mode: str, manifests: Path) -> None:
    """Only a daemon runs agents between commands (embedded, apply --wait runs them)."""
    assert run("apply", str(manifests), "--yes", "--no-wait")[0] == 0

    def running_pods() -> list[str]:
        _code, out = run("get", "pods", "-o", "json")
        return [p["metadata"]["name"] for p in json.loads(out)["items"]
                if (p.get("status") or {}).get("phase") == "Running"]

    assert wait_for(lambda: len(running_pods()) == 1, timeout=30)
    code, out = run("rollout", "status", "deploy/web", "--timeout", "30")
    assert code == 0 and 'deployment "web" successfully rolled out' in out, out
    pod = running_pods()[0]
    code, out = run("delete", f"pod/{pod}")  # waits until the kubelet let it go
    assert (code, out) == (0, f'pod "{pod}" deleted\n')
    code, out = run("get", "pods", pod)
    assert code == 1
    assert wait_for(lambda: len(running_pods()) == 1 and pod not in running_pods(), 30)
