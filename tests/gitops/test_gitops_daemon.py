"""With a daemon serving the store, pushes and `gitkube watch` go through its API and its
agents converge what they apply (watch then runs no agents of its own)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitkube.api.client import Client
from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.state import read_info
from gitkube.daemon.status import probe_socket
from tests.gitops.gitops_env import GITKUBE, Clone, deployment, get_or_none, run, wait_for
from tests.gitrepo import GitRepo


@contextlib.contextmanager
def serving(state: Path, store_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """`gitkube serve` (kubelet on the simulated runtime, unix socket only), stopped by PID."""
    paths = DaemonPaths(state)
    with (state / "serve.log").open("ab") as log:
        proc = subprocess.Popen([GITKUBE, "serve", "--runtime", "simulated", "--listen", "none",
                                 "--store", store_url], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log)
    try:
        def ready() -> bool:
            info = read_info(paths)
            assert proc.poll() is None, (state / "serve.log").read_text()
            return info is not None and info.pid == proc.pid and probe_socket(info.socket, 1.0)

        wait_for(ready, timeout=60, what="the daemon answering")
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def daemon(_isolated_state_dir: Path, store_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with serving(_isolated_state_dir, store_url) as proc:
        yield proc


def test_push_and_watch_go_through_the_daemon(daemon: subprocess.Popen[bytes],
                                              deploy_repo: Callable[..., tuple[Path, Clone]],
                                              client: Client,
                                              tmp_path: Path, store_url: str) -> None:
    bare, clone = deploy_repo()
    clone.commit({"web.yaml": deployment(replicas=2)})
    push = clone.push("main")
    assert "-> the daemon" in push.stderr and "gitkube: applied" in push.stderr

    def running(n: int) -> bool:
        pods = client.list("v1", "Pod", "default").items
        return bool(sum(p["status"].get("phase") == "Running" for p in pods) == n)

    wait_for(lambda: running(2), timeout=30, what="the daemon's agents running 2 pods")

    # gitkube.wait: post-receive waits (bounded) for the daemon's agents to converge
    run([GITKUBE, "repo", "init", str(bare), "--wait", "30"], tmp_path)
    clone.commit({"web.yaml": deployment(replicas=3)})
    push = clone.push("main")
    assert "gitkube: Converged: 1/1 objects ready" in push.stderr, push.stderr
    assert running(3)
    clone.commit({"web.yaml": deployment(replicas=2)})
    run([GITKUBE, "repo", "init", str(bare), "--wait", "0"], tmp_path)
    assert "Converged" not in clone.push("main").stderr

    log = tmp_path / "watch.log"
    with log.open("w") as out:
        watch = subprocess.Popen([GITKUBE, "watch", ".", "--store", store_url, "--interval",
                                  "0"], cwd=clone.root, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "watching" in log.read_text(), what="watch started")
        assert "using the running daemon" in log.read_text()
        assert "agents running in this process" not in log.read_text()
        client.update_scale("apps/v1", "Deployment", "default", "web", 4)
        wait_for(lambda: "drift: Deployment default/web was changed outside git"
                 in log.read_text(), what="drift healed through the daemon")
        wait_for(lambda: (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"]
                 == 2, what="replicas back to 2")
        wait_for(lambda: running(2), timeout=30, what="the daemon's agents back at 2 pods")
    finally:
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(15) == 0
    assert run([GITKUBE, "status"], tmp_path).stdout.count("daemon: responding") == 1


def test_watch_hands_its_agents_over_to_a_daemon_that_starts(
        git_repo: Callable[..., GitRepo], client: Client, store_url: str, tmp_path: Path,
        _isolated_state_dir: Path) -> None:
    repo = git_repo("app")
    repo.commit("web", {"web.yaml": deployment(replicas=1)})
    log = tmp_path / "watch.log"
    with log.open("w") as out:
        watch = subprocess.Popen([GITKUBE, "watch", ".", "--store", store_url, "--agents",
                                  "simulated", "--interval", "0"],
                                 cwd=repo.root, stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        def running() -> bool:
            pods = client.list("v1", "Pod", "default").items
            return any(p["status"].get("phase") == "Running" for p in pods)

        wait_for(running, timeout=30, what="the watch's own agents running the pod")
        with serving(_isolated_state_dir, store_url):
            wait_for(lambda: "its agents take over" in log.read_text(), timeout=20,
                     what="the hand-over")
            client.update_scale("apps/v1", "Deployment", "default", "web", 2)
            wait_for(lambda: "drift: Deployment default/web" in log.read_text(),
                     what="drift still healed by the watch")
    finally:
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(15) == 0
