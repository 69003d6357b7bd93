"""The daemon on real Podman: its kubelet runs a pod, `gitkube logs -f` streams the output
through the daemon's pods/log, and `gitkube delete` waits until the kubelet removed it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.api.http_client import HTTPClient
from tests.cliapp import app
from tests.daemon.daemon_env import start_daemon, wait_for
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def test_daemon_kubelet_on_podman_logs_and_delete(_isolated_state_dir: Path) -> None:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    daemon = start_daemon(_isolated_state_dir, "--listen", "none", "--node-name", "podman-node")
    try:
        client = HTTPClient(daemon.info.socket)
        client.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "echo hello from podman; sleep 60"]}]}})
        assert wait_for(lambda: (client.get("v1", "Pod", "default", "hello").get("status")
                                 or {}).get("phase") == "Running", timeout=90)
        runner = CliRunner()
        assert wait_for(lambda: "hello from podman" in runner.invoke(
            app, ["logs", "hello"]).output, timeout=20)
        # -f streams while the container runs and ends when it exits
        client.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "counter", "namespace": "default"},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                     "containers": [{
                         "name": "main", "image": EXAMPLE_IMAGE,
                         "imagePullPolicy": "IfNotPresent",
                         "command": ["sh", "-c", "sleep 2; for i in 1 2 3; do echo line $i; "
                                                 "sleep 0.5; done"]}]}})
        assert wait_for(lambda: (client.get("v1", "Pod", "default", "counter").get("status")
                                 or {}).get("phase") == "Running", timeout=90)
        followed = runner.invoke(app, ["logs", "-f", "counter"])
        assert followed.exit_code == 0
        assert followed.output.splitlines()[-3:] == ["line 1", "line 2", "line 3"], \
            followed.output
        assert runner.invoke(app, ["delete", "pod/counter"]).exit_code == 0
        result = runner.invoke(app, ["get", "pod", "hello", "-o", "json"])
        assert json.loads(result.output)["spec"]["nodeName"] == "podman-node"
        result = runner.invoke(app, ["delete", "pod/hello", "--timeout", "60"])
        assert result.exit_code == 0 and result.output == 'pod "hello" deleted\n'
        assert runner.invoke(app, ["get", "pod", "hello"]).exit_code == 1
    finally:
        daemon.stop(timeout=60)
