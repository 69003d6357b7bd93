"""Stopping a kubelet (and its daemon) never leaves a pod half stopped, nor a Podman service
behind: a termination in flight is finished first, and the runtime, once closed, starts no
service again. Real Podman, with services and labels of the tests' own."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
from gitkube.agents.manager import Manager
from gitkube.api.local import LocalClient
from gitkube.runtime.base import LABEL_NAMESPACE, LABEL_POD_UID
from gitkube.runtime.podman import PodmanRuntime
from gitkube.runtime.podman_service import stop_recorded_service
from gitkube.store import open_store
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep

pytestmark = [pytest.mark.podman, pytest.mark.slow]
RUN_LABEL = {"io.gitkube.test-run": f"kl-stop-{uuid.uuid4().hex[:8]}"}
GRACE = 15  # well over the 10 s a stopping kubelet used to wait for its workers
Obj = dict[str, Any]


def _services(socket: Path) -> list[int]:
    """PIDs of `podman system service` processes on ``socket``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"system\0service" in cmdline and str(socket).encode() in cmdline:
            found.append(int(entry.name))
    return found


def _stop_services(base: Path) -> None:
    """Stop whatever service a test left on ``base`` (its own, found by its socket)."""
    stop_recorded_service(base)
    for pid in _services(base / "podman.sock"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def base() -> Iterator[Path]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    path = Path(tempfile.mkdtemp(prefix="gk-stop-"))
    try:
        yield path
    finally:
        checker = PodmanRuntime(base_dir=path / "sweep")
        try:
            sweep(checker, RUN_LABEL)
        finally:
            checker.close()
        _stop_services(path)
        _stop_services(path / "sweep")
        shutil.rmtree(path, ignore_errors=True)


def _sleepers() -> list[Obj]:
    return [{"name": n, "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
             "command": ["sleep", "3600"]} for n in ("a", "b")]


def test_stopping_the_kubelet_finishes_the_pod_it_is_stopping(
        base: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The kubelet used to give up on its workers after 10 s and its owner then closed the
    runtime: the pod being stopped stayed, half stopped, its infra container running."""
    runtime = PodmanRuntime(base_dir=base)
    client = LocalClient(open_store("memory://"))
    manager = Manager(client)
    node = f"node-{uuid.uuid4().hex[:6]}"
    manager.add(Kubelet(manager, runtime, KubeletConfig(
        node_name=node, root_dir=base / "kubelet", runtime_labels=dict(RUN_LABEL),
        relist_period=0.2, heartbeat_interval=1.0)))
    manager.start()
    try:
        pod = client.create({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": GRACE,
                     "containers": _sleepers()}})
        uid = pod["metadata"]["uid"]
        _until(lambda: client.get("v1", "Pod", "default", "p").get("status", {}).get("phase")
               == "Running", "the pod to run")
        caplog.set_level(logging.INFO, logger="gitkube.kubelet")
        client.delete("v1", "Pod", "default", "p")  # outright, as the namespace controller
        _until(lambda: "stopping pod default/p" in caplog.text,
               "the kubelet to start stopping the pod")
        time.sleep(1.0)  # SIGTERM sent (and ignored): the containers wait for SIGKILL
    finally:
        manager.stop()
        runtime.close()
    assert _services(base / "podman.sock") == [], "the closed runtime's service is running"
    checker = PodmanRuntime(base_dir=base / "sweep")
    try:
        left = checker.list_sandboxes({LABEL_POD_UID: uid})
    finally:
        checker.close()
    assert left == [], "the pod being stopped was left behind"


def _gitkube(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitkube.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout)


def _cli(*args: str, timeout: float = 120) -> str:
    proc = _gitkube(*args, timeout=timeout)
    assert proc.returncode == 0, f"gitkube {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def test_down_right_after_deleting_a_namespace_leaves_nothing_running(
        _isolated_state_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`gitkube delete namespace/X` then `gitkube down`: the daemon's kubelet was stopping
    X's pod when the daemon stopped; its infra container and a fresh Podman service (started
    by the worker after the daemon closed the runtime) stayed running."""
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    monkeypatch.setenv("GITKUBE_POD_NETWORK", "")
    monkeypatch.setenv("GITKUBE_SERVICES", "0")
    ns = f"gk-down-{uuid.uuid4().hex[:6]}"
    manifests = tmp_path / "m"
    manifests.mkdir()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns},
           "spec": {"terminationGracePeriodSeconds": GRACE, "containers": _sleepers()}}
    (manifests / "ns.yaml").write_text(
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n{json.dumps(pod)}\n")
    podman_dir = _isolated_state_dir / "podman"
    try:
        _cli("up", "--listen", "none")
        _cli("apply", str(manifests), "--yes", "--wait", "--timeout", "90")
        _cli("delete", f"namespace/{ns}", "--no-wait")
        _until(lambda: _gitkube("get", "pod", "p", "-n", ns).returncode == 1,
               "the namespace controller to delete the pod")
        time.sleep(1.0)  # the kubelet is stopping it: SIGTERM sent (and ignored)
        _cli("down", "--timeout", "90")
        assert _eventually_gone(podman_dir / "podman.sock") == [], \
            "a Podman service outlived `gitkube down`"
        checker = PodmanRuntime(base_dir=tmp_path / "pm")
        try:
            left = checker.list_sandboxes({LABEL_NAMESPACE: ns})
        finally:
            checker.close()
        assert left == [], "the deleted namespace's pod was left running"
    finally:
        subprocess.run([sys.executable, "-m", "gitkube.cli.main", "down"],
                       capture_output=True, timeout=120)
        checker = PodmanRuntime(base_dir=tmp_path / "pm")
        try:
            sweep(checker, {LABEL_NAMESPACE: ns})
        finally:
            checker.close()
        _stop_services(podman_dir)
        _stop_services(tmp_path / "pm")


def _eventually_gone(socket: Path, seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _services(socket)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
