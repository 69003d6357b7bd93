"""Deletions converge embedded (no daemon) on real Podman: `gitkube delete namespace/X` runs
the agents until the Namespace (Terminating first), everything in it and its containers are
gone; `apply --wait` after a Deployment left git leaves no container of it. Pods deleted by
`gitkube delete` or pruned by `apply --wait` are Terminating until the in-process kubelet
confirms; `gitkube logs` takes --since, --since-time and --timestamps."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitkube.agents.kubelet.config import cluster_id
from gitkube.api.local import LocalClient
from gitkube.errors import GitkubeError
from gitkube.model import kinds
from gitkube.runtime.base import LABEL_CLUSTER, LABEL_NAMESPACE, LABEL_POD_NAME
from gitkube.settings import Settings
from gitkube.store import open_store
from tests.cliapp import app
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep

pytestmark = pytest.mark.podman


def _deployment(name: str, namespace: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {EXAMPLE_IMAGE}
        imagePullPolicy: IfNotPresent
        command: ["sleep", "3600"]
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if isinstance(result.exception, GitkubeError):
        return result.exception.exit_code, result.output + "error: " + \
            result.exception.render()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def embedded(_isolated_state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """No daemon, pods on Podman's default network, no Services add-ons; yields the
    namespace to use. Everything of this store's cluster id is swept at the end."""
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    monkeypatch.setenv("GITKUBE_NO_DAEMON", "1")
    monkeypatch.setenv("GITKUBE_POD_NETWORK", "")
    monkeypatch.setenv("GITKUBE_SERVICES", "0")
    yield f"gk-del-{uuid.uuid4().hex[:6]}"
    from gitkube.runtime.podman import PodmanRuntime

    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))
    base = Path(tempfile.mkdtemp(prefix="gk-del-"))
    runtime = PodmanRuntime(base_dir=base)
    try:
        left = sweep(runtime, {LABEL_CLUSTER: cluster_id(client)})
    finally:
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)
    assert left == 0, f"{left} sandboxes/containers were left behind"


def _sandboxes(namespace: str) -> list[str]:
    from gitkube.runtime.podman import PodmanRuntime

    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))
    base = Path(tempfile.mkdtemp(prefix="gk-del-"))
    runtime = PodmanRuntime(base_dir=base)
    try:
        return sorted(sb.labels.get(LABEL_POD_NAME, "")
                      for sb in runtime.list_sandboxes({LABEL_CLUSTER: cluster_id(client),
                                                        LABEL_NAMESPACE: namespace}))
    finally:
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)


def test_delete_and_prune_converge_embedded(embedded: str, tmp_path: Path) -> None:
    ns = embedded
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "ns.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")
    (root / "web.yaml").write_text(_deployment("web", ns))
    (root / "worker.yaml").write_text(_deployment("worker", ns))
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0 and "Converged: 3/3 objects ready" in out, out
    assert [p.split("-")[0] for p in _sandboxes(ns)] == ["web", "worker"]
    code, out = run("plan", str(root), "--detailed-exitcode")
    assert code == 0, out  # the defaulted spec.finalizers is no change

    # a Deployment removed from git: apply --wait waits until its pods' containers are gone
    (root / "worker.yaml").unlink()
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0 and "1 deleted object(s) gone" in out, out
    assert [p.split("-")[0] for p in _sandboxes(ns)] == ["web"]

    # delete the Namespace: Terminating, then everything inside and its containers go
    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))
    ns_obj = client.get("v1", "Namespace", None, ns)
    assert ns_obj["spec"]["finalizers"] == ["kubernetes"]
    phases: list[tuple[str, str]] = []
    watcher = client.watch("v1", "Namespace", None,
                           resource_version=ns_obj["metadata"]["resourceVersion"])

    def record() -> None:
        for event in watcher:
            phases.append((event.type, (event.object.get("status") or {}).get("phase", "")))
            if event.type == "DELETED":
                return

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    code, out = run("delete", f"namespace/{ns}", "--timeout", "120")
    assert code == 0, out
    assert out.startswith(f'namespace "{ns}" deleted\n'), out
    assert "Gone: 1 deleted object(s)" in out, out
    recorder.join(15)
    watcher.close()
    assert phases[0] == ("MODIFIED", "Terminating") and phases[-1][0] == "DELETED", phases
    left = [f"{rt.kind}/{o['metadata']['name']}" for rt in kinds.RESOURCES if rt.namespaced
            for o in client.list(rt.api_version, rt.kind, ns).items]
    assert left == []
    assert _sandboxes(ns) == []
    code, out = run("plan", str(root))  # the Namespace is gone: plan creates it again
    assert code == 0 and f"Namespace {ns}" in out, out


def _bare_pod(name: str, namespace: str, command: str, grace: int) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: {grace}
  containers:
  - name: main
    image: {EXAMPLE_IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "{command}"]
"""


def _deletions(client: LocalClient, namespace: str, name: str) -> tuple[list[Any],
                                                                        threading.Thread]:
    """Record the watch events of one pod from now until it is DELETED."""
    seen: list[Any] = []
    current = client.get("v1", "Pod", namespace, name)
    watcher = client.watch("v1", "Pod", namespace, field_selector=f"metadata.name={name}",
                           resource_version=current["metadata"]["resourceVersion"])

    def record() -> None:
        with watcher:
            for event in watcher:
                seen.append(event)
                if event.type == "DELETED":
                    return

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    return seen, thread


def test_embedded_deletions_are_graceful_and_logs_take_time_options(
        embedded: str, tmp_path: Path) -> None:
    ns = embedded
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "ns.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")
    # `sleep` as PID 1 ignores SIGTERM: each deletion waits out the grace period
    (root / "held.yaml").write_text(_bare_pod("held", ns, "sleep 3600", 3))
    (root / "pruned.yaml").write_text(_bare_pod("pruned", ns, "sleep 3600", 3))
    (root / "ticker.yaml").write_text(_bare_pod(
        "ticker", ns, "echo early; sleep 6; i=0; while true; do i=$((i+1)); echo tick $i; "
                      "sleep 1; done", 1))
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0 and "Converged: 4/4 objects ready" in out, out
    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))

    # gitkube logs, embedded: --since, --since-time and --timestamps through the runtime
    def logs(*extra: str) -> str:
        code, out = run("logs", "ticker", "-n", ns, *extra)
        assert code == 0, out
        return out

    deadline = time.monotonic() + 60
    while "tick 2" not in logs():
        assert time.monotonic() < deadline, logs()
        time.sleep(0.5)
    stamped = logs("--timestamps").splitlines()
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (early|tick \d+)", line)
               for line in stamped), stamped
    recent = logs("--since", "3s").splitlines()
    assert recent and "early" not in recent and all(r.startswith("tick ") for r in recent)
    tick = next(line.split(" ", 1)[0] for line in stamped if line.endswith(" tick 1"))
    assert "early" not in logs("--since-time", tick) and "tick 1" in logs("--since-time", tick)

    # delete without waiting: nothing runs the agents, the pod stays Terminating
    code, out = run("delete", "pod/held", "-n", ns, "--no-wait")
    assert code == 0 and out == 'pod "held" deleted\n', out
    code, out = run("get", "pods", "-n", ns)
    assert re.search(r"^held\s+\S+\s+Terminating\s", out, re.M), out
    assert client.get("v1", "Pod", ns, "held")["metadata"]["deletionGracePeriodSeconds"] == 3
    # delete again (nothing changes) and wait: the agents run until its containers are gone
    code, out = run("delete", "pod/held", "-n", ns, "--timeout", "60")
    assert code == 0 and "Gone: 1 deleted object(s)" in out, out
    assert "held" not in _sandboxes(ns)

    # pruned by apply --wait: Terminating (with the pod's grace period), then gone
    seen, recorder = _deletions(client, ns, "pruned")
    (root / "held.yaml").unlink()  # else the next apply makes it again
    (root / "pruned.yaml").unlink()
    (root / "ticker.yaml").unlink()
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0 and "2 deleted object(s) gone" in out, out
    recorder.join(15)
    assert seen[0].type == "MODIFIED" and seen[-1].type == "DELETED", seen
    assert seen[0].object["metadata"]["deletionGracePeriodSeconds"] == 3
    assert _sandboxes(ns) == []

    # --force: gone from the API at once
    (root / "forced.yaml").write_text(_bare_pod("forced", ns, "sleep 3600", 30))
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0, out
    code, out = run("delete", "pod/forced", "-n", ns, "--force", "--timeout", "60")
    assert code == 0 and 'pod "forced" force deleted' in out, out
    assert _sandboxes(ns) == []
