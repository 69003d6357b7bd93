"""`gitkube delete namespace/X` through a daemon (simulated kubelet): the Namespace is
Terminating while the daemon's namespace controller empties it, then gone with its content."""

from __future__ import annotations

import threading
from pathlib import Path

from typer.testing import CliRunner

from gitkube.cli.connect import client_for
from gitkube.model import kinds
from tests.cliapp import app
from tests.daemon.daemon_env import RunningDaemon, wait_for

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: localhost/web:1
        imagePullPolicy: Never
"""


def test_delete_namespace_through_the_daemon(daemon: RunningDaemon, tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(MANIFEST)
    runner = CliRunner()
    result = runner.invoke(app, ["apply", str(tmp_path), "--yes", "--no-wait"])
    assert result.exit_code == 0, result.output
    client = client_for(None)

    def running() -> int:
        return sum(1 for p in client.list("v1", "Pod", "shop").items
                   if (p.get("status") or {}).get("phase") == "Running")

    assert wait_for(lambda: running() == 2, timeout=30)
    ns = client.get("v1", "Namespace", None, "shop")
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    phases: list[tuple[str, str]] = []
    watcher = client.watch("v1", "Namespace", None,
                           resource_version=ns["metadata"]["resourceVersion"])

    def record() -> None:
        for event in watcher:
            phases.append((event.type, (event.object.get("status") or {}).get("phase", "")))
            if event.type == "DELETED":
                return

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    result = runner.invoke(app, ["delete", "namespace/shop", "--timeout", "30"])
    assert (result.exit_code, result.output) == (0, 'namespace "shop" deleted\n')
    recorder.join(10)
    watcher.close()
    assert phases[0] == ("MODIFIED", "Terminating") and phases[-1][0] == "DELETED", phases
    left = [o["metadata"]["name"] for rt in kinds.RESOURCES if rt.namespaced
            for o in client.list(rt.api_version, rt.kind, "shop").items]
    assert left == []
