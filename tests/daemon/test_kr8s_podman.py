"""kr8s, a third real Kubernetes client (after kubectl and the official Python client), against
a daemon whose kubelet runs real Podman containers: create, list, get, watch and wait for a
Pod and a Deployment; exec over kr8s's WebSocket channel protocols; logs with since and
timestamps; port-forward; and a graceful delete.

kr8s is driven through its synchronous API (``kr8s.objects``) with the kubeconfig that
`gitkube kubeconfig` writes, as a user would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitkube.api.http_client import HTTPClient
from gitkube.model.times import parse_time_ns
from tests.daemon.daemon_env import RunningDaemon, gitkube_cmd, start_daemon, wait_for
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing

kr8s = pytest.importorskip("kr8s")
from kr8s.objects import Deployment, Pod  # noqa: E402

pytestmark = [pytest.mark.podman, pytest.mark.slow]

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) (.*)$")
# one line, a pause, then a line a second; an echo server on 9000 for port-forward
SERVER = ("echo early; nc -ll -p 9000 -e cat & sleep 5; "
          "i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done")


def _pod(name: str, command: str, grace: int = 1) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"suite": "kr8s"}},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": [{
                "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", command]}]}}


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "kd", "namespace": "default"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "kd"}},
             "template": {"metadata": {"labels": {"app": "kd"}},
                          "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                              "name": "main", "image": EXAMPLE_IMAGE,
                              "imagePullPolicy": "IfNotPresent",
                              "command": ["sleep", "3600"]}]}}}}


class Env:
    """The module's daemon and a kr8s API bound to its kubeconfig."""

    def __init__(self, daemon: RunningDaemon, config: Path):
        self.daemon = daemon
        self.client = HTTPClient(daemon.info.socket)
        self.api = kr8s.api(kubeconfig=str(config))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    state = tmp_path_factory.mktemp("kr8s-state")
    home = tmp_path_factory.mktemp("kr8s-home")
    daemon = start_daemon(state, "--listen", "127.0.0.1:0", "--node-name", "kr8s-node",
                          env={"GITKUBE_PODMAN_LINGER": "1"})
    client = HTTPClient(daemon.info.socket)
    try:
        config = home / "kubeconfig"
        kubeconfig = YAML(typ="safe").load(subprocess.run(
            gitkube_cmd("kubeconfig"), env={**os.environ, "GITKUBE_STATE_DIR": str(state)},
            check=True, capture_output=True, text=True).stdout)
        # the CA as a file of ours: given as data, kr8s writes it to a temporary file that
        # it never removes
        cluster = kubeconfig["clusters"][0]["cluster"]
        (home / "ca.crt").write_bytes(base64.b64decode(
            cluster.pop("certificate-authority-data")))
        cluster["certificate-authority"] = str(home / "ca.crt")
        config.write_text(json.dumps(kubeconfig))  # JSON is YAML too
        yield Env(daemon, config)
    finally:
        with contextlib.suppress(Exception):
            client.delete("apps/v1", "Deployment", "default", "kd")
        for p in client.list("v1", "Pod", "default").items:
            with contextlib.suppress(Exception):
                client.delete("v1", "Pod", "default", p["metadata"]["name"])
        # the kubelet stops the containers before the daemon goes
        wait_for(lambda: not client.list("v1", "Pod", "default").items, timeout=60)
        daemon.stop(timeout=60)


def _running_pod(e: Env, name: str, command: str, grace: int = 1) -> Any:
    pod = Pod(_pod(name, command, grace), api=e.api)
    pod.create()
    pod.wait("condition=Ready", timeout=120)
    return pod


def test_create_list_get_watch_and_wait_for_a_pod_and_a_deployment(env: Env) -> None:
    pod = Pod(_pod("kp", "sleep 3600"), api=env.api)
    pod.create()
    assert pod.metadata.uid and pod.metadata.resourceVersion
    deployment = Deployment(DEPLOYMENT, api=env.api)
    deployment.create()

    pod.wait("condition=Ready", timeout=120)
    assert pod.ready() and pod.status.phase == "Running"
    deployment.wait("condition=Available", timeout=120)
    assert deployment.ready()
    assert deployment.replicas == 2

    fetched = Pod.get("kp", namespace="default", api=env.api)
    assert fetched.metadata.uid == pod.metadata.uid
    assert fetched.spec.nodeName == "kr8s-node"
    listed = {p.name for p in env.api.get("pods", namespace="default",
                                          label_selector={"suite": "kr8s"})}
    assert "kp" in listed and not any(n.startswith("kd-") for n in listed), listed
    replicas = deployment.pods()
    assert len(replicas) == 2 and all(p.ready() for p in replicas)
    assert all(p.metadata.ownerReferences[0]["kind"] == "ReplicaSet" for p in replicas)

    # a watch of the pod sees a label set by someone else (gitkube's own client) once the
    # watch is open
    seen: list[tuple[str, str | None]] = []
    watched = Pod.get("kp", namespace="default", api=env.api)
    touch = threading.Timer(1.0, env.client.patch, ("v1", "Pod", "default", "kp",
                                                   {"metadata": {"labels": {"touched": "yes"}}}))
    touch.start()
    for event, obj in watched.watch():
        labels: dict[str, str] = obj.labels
        seen.append((event, labels.get("touched")))
        if labels.get("touched") == "yes":
            break
    assert seen[-1][1] == "yes" and seen[-1][0] in ("ADDED", "MODIFIED"), seen

    deployment.delete()
    assert wait_for(lambda: not deployment.exists(), timeout=60)


def test_exec_returns_stdout_stderr_and_the_exit_code(env: Env) -> None:
    pod = _running_pod(env, "kx", "sleep 3600")
    done = pod.exec(["sh", "-c", "echo $HOSTNAME; echo to-err >&2"])
    assert done.returncode == 0
    assert done.stdout == b"kx\n" and done.stderr == b"to-err\n"
    # more than one WebSocket message's worth (kr8s refuses a message over 64 KiB)
    large = pod.exec(["sh", "-c", "dd if=/dev/zero bs=65536 count=16 2>/dev/null | tr '\\0' x"])
    assert large.stdout == b"x" * (1 << 20)
    failed = pod.exec(["sh", "-c", "echo out; exit 3"], check=False)
    assert failed.returncode == 3 and failed.stdout == b"out\n"
    # check=True: a non-zero status is kr8s's ExecError with the Status's message (its sync
    # wrapper may hand it on inside an exception group)
    with pytest.raises(Exception) as raised:
        pod.exec(["false"])
    errors: list[BaseException] = [raised.value]
    while isinstance(errors[-1], BaseExceptionGroup):
        errors.append(errors[-1].exceptions[0])
    assert isinstance(errors[-1], kr8s.ExecError), raised.value
    assert "exit code 1" in str(errors[-1])


def test_logs_with_since_and_timestamps(env: Env) -> None:
    pod = _running_pod(env, "kl", SERVER)
    assert wait_for(lambda: "tick 3" in list(pod.logs()), timeout=60)
    stamped = list(pod.logs(timestamps=True))
    parsed = [STAMP.match(line) for line in stamped]
    assert all(parsed), stamped
    lines = [(parse_time_ns(m.group(1)) or 0, m.group(2)) for m in parsed if m]
    assert lines[0][1] == "early" and [t for t, _ in lines] == sorted(t for t, _ in lines)
    # "early" is at least 5 s older than the first tick
    recent = list(pod.logs(since_seconds=3))
    assert recent and all(r.startswith("tick ") for r in recent), recent
    second = next(m.group(1) for m in parsed if m and m.group(2) == "tick 2")
    since = list(pod.logs(since_time=second))
    assert "early" not in since and "tick 2" in since, since
    tail = list(pod.logs(tail_lines=2))
    assert len(tail) == 2 and all(t.startswith("tick ") for t in tail), tail


def _echo(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_port_forward_carries_bytes_to_a_port_inside_the_pod(env: Env) -> None:
    pod = _running_pod(env, "kf", SERVER)
    assert wait_for(lambda: pod.exec(["sh", "-c", "netstat -ltn | grep -q :9000"],
                                     check=False).returncode == 0, timeout=30)
    payload = os.urandom(256 * 1024)
    with pod.portforward(remote_port=9000, local_port="auto") as port:
        assert _echo(port, payload) == payload
        assert _echo(port, b"second connection\n") == b"second connection\n"
    # start()/stop(): kr8s's sync start() returns nothing, so the local port is chosen here
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    forward = pod.portforward(remote_port=9000, local_port=free)
    forward.start()
    try:
        assert wait_for(lambda: _listening(free), timeout=20)
        assert _echo(free, b"started\n") == b"started\n"
    finally:
        forward.stop()


def test_delete_is_graceful_then_gone(env: Env) -> None:
    # sleep as PID 1 ignores SIGTERM: the pod stays until its grace period is over
    pod = _running_pod(env, "kg", "sleep 3600", grace=4)
    pod.delete()
    pod.refresh()
    assert pod.metadata.deletionTimestamp
    assert pod.metadata.deletionGracePeriodSeconds == 4
    assert pod.exists()  # still there while the kubelet stops it
    assert wait_for(lambda: not pod.exists(), timeout=60)
    with pytest.raises(kr8s.NotFoundError):
        Pod.get("kg", namespace="default", api=env.api)
