"""Crashes: SIGKILL at random moments of an apply (embedded, and the daemon's), of a rolling
update (the daemon with its simulated kubelet), and of a store (etcd killed and back).
Every time the store holds all of an apply or none of it, and the next run converges."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from gitkube.api.http_client import HTTPClient
from gitkube.api.local import LocalClient
from gitkube.store import open_store
from tests.daemon.daemon_env import RunningDaemon, gitkube_cmd, start_daemon, wait_for
from tests.support.etcdserver import EtcdServer

N = 1200  # ConfigMaps in one apply: its transaction takes a moment to write

pytestmark = pytest.mark.slow


def write_manifests(root: Path, n: int = N, version: str = "1") -> Path:
    root.mkdir(exist_ok=True)
    (root / "all.yaml").write_text("".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: default}}\n"
        f"data: {{v: '{version}'}}\n" for i in range(n)))
    return root


def counts(url: str) -> tuple[int, list[str]]:
    """ConfigMaps in the store, and the results of the history records."""
    store = open_store(url)
    try:
        client = LocalClient(store)
        cms = len(client.list("v1", "ConfigMap", "default").items)
        history = [r.value["result"] for r in client.list_records("/gitkube/history/")]
        return cms, history
    finally:
        store.close()


def gitkube_env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITKUBE_")}
    return {**env, "GITKUBE_STATE_DIR": str(state), **extra}


def _timed_apply(state: Path, manifests: Path) -> float:
    """How long an uninterrupted embedded apply takes here (a throw-away store)."""
    started = time.monotonic()
    subprocess.run(gitkube_cmd("apply", "--yes", "--no-wait", str(manifests)),
                   env=gitkube_env(state, GITKUBE_NO_DAEMON="1"), check=True,
                   capture_output=True, timeout=120)
    return time.monotonic() - started


def test_sigkill_during_an_embedded_apply(tmp_path: Path) -> None:
    manifests = write_manifests(tmp_path / "m")
    took = _timed_apply(tmp_path / "measure", manifests)
    rng = random.Random(7)
    killed = 0
    for round_ in range(5):
        state = tmp_path / f"state{round_}"
        url = f"sqlite:///{state / 'state.db'}"
        env = gitkube_env(state, GITKUBE_NO_DAEMON="1")
        proc = subprocess.Popen(gitkube_cmd("apply", "--yes", "--no-wait", str(manifests)),
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(took * rng.uniform(0.3, 0.95))  # somewhere in reading, planning, writing
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(30)
        if (state / "state.db").exists():
            cms, history = counts(url)
            assert cms in (0, N), cms  # all of the apply or none of it
            assert (cms == N) == ("applied" in history), (cms, history)
        final = subprocess.run(gitkube_cmd("apply", "--yes", "--no-wait", str(manifests)),
                               env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        assert counts(url)[0] == N
        again = subprocess.run(gitkube_cmd("plan", str(manifests), "--detailed-exitcode"),
                               env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout  # converged: no changes left
    assert killed >= 3, f"only {killed} of 5 applies were still running when killed"


def test_sigkill_of_the_daemon_during_an_apply(_isolated_state_dir: Path,
                                               tmp_path: Path) -> None:
    state = _isolated_state_dir
    manifests = write_manifests(tmp_path / "m")
    rng = random.Random(11)
    outcomes: list[str] = []
    for _ in range(3):
        daemon = start_daemon(state, "--runtime", "simulated", "--no-kubelet", "--listen",
                              "none")
        url = daemon.info.store
        apply = subprocess.Popen(gitkube_cmd("apply", "--yes", "--no-wait", str(manifests)),
                                 env=gitkube_env(state), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        time.sleep(rng.uniform(0.5, 2.5))
        os.kill(daemon.proc.pid, signal.SIGKILL)  # this PID only
        daemon.proc.wait(30)
        out, _ = apply.communicate(timeout=120)
        cms = counts(url)[0]
        assert cms in (0, N), (cms, out)
        if "the store shows it landed" in out or "Apply complete" in out:
            assert cms == N, out
            outcomes.append("landed")
        elif "it did not land: nothing was written" in out:
            assert cms == 0, out
            outcomes.append("not landed")
        else:  # killed before the apply was sent, or it read the plan from a dead daemon
            assert "Traceback" not in out, out
            outcomes.append("not sent")
        if cms == N:
            break
    daemon = start_daemon(state, "--runtime", "simulated", "--no-kubelet", "--listen", "none")
    try:
        final = subprocess.run(gitkube_cmd("apply", "--yes", "--no-wait", str(manifests)),
                               env=gitkube_env(state), capture_output=True, text=True,
                               timeout=120)
        assert final.returncode == 0, final.stdout + final.stderr
        assert counts(daemon.info.store)[0] == N
    finally:
        daemon.stop()
    assert outcomes


def _ready(client: HTTPClient, image: str, replicas: int) -> bool:
    d = client.get("apps/v1", "Deployment", "default", "web")
    st = d.get("status") or {}
    pods = [p for p in client.list("v1", "Pod", "default", label_selector="app=web").items
            if not p["metadata"].get("deletionTimestamp")]
    return (st.get("updatedReplicas") == replicas and st.get("availableReplicas") == replicas
            and st.get("replicas") == replicas and len(pods) == replicas
            and all(p["spec"]["containers"][0]["image"] == image for p in pods)
            and (st.get("observedGeneration") or 0) >= d["metadata"]["generation"])


def test_sigkill_of_the_daemon_during_a_rolling_update(_isolated_state_dir: Path) -> None:
    state = _isolated_state_dir
    args = ("--runtime", "simulated", "--listen", "none", "--node-name", "crash-node")
    daemon: RunningDaemon = start_daemon(state, *args)
    client = HTTPClient(daemon.info.socket)
    client.create({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "default"},
                   "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                            "strategy": {"rollingUpdate": {"maxSurge": 1,
                                                           "maxUnavailable": 1}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "c",
                                                                  "image": "x:1"}]}}}})
    assert wait_for(lambda: _ready(client, "x:1", 6), timeout=60)
    client.patch("apps/v1", "Deployment", "default", "web",
                 {"spec": {"template": {"spec": {"containers": [{"name": "c",
                                                                  "image": "x:2"}]}}}})
    time.sleep(0.4)  # mid-rollout
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(30)
    daemon = start_daemon(state, *args)
    try:
        client = HTTPClient(daemon.info.socket)
        assert wait_for(lambda: _ready(client, "x:2", 6), timeout=90), \
            client.get("apps/v1", "Deployment", "default", "web")["status"]
    finally:
        daemon.stop()


@pytest.mark.etcd
def test_etcd_killed_during_an_apply_and_back(tmp_path: Path) -> None:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    etcd = EtcdServer(tmp_path / "etcd")
    etcd.wait_healthy()
    state = tmp_path / "state"
    manifests = write_manifests(tmp_path / "m")
    env = gitkube_env(state, GITKUBE_STORE=etcd.url, GITKUBE_NO_DAEMON="1")
    try:
        apply = subprocess.Popen(gitkube_cmd("apply", "--yes", "--no-wait", str(manifests)),
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        time.sleep(1.0)
        ports = (etcd.client_port, etcd.peer_port)
        etcd.process.send_signal(signal.SIGKILL)  # this PID only
        etcd.stop()
        out, _ = apply.communicate(timeout=120)
        assert "Traceback" not in out, out
        etcd = EtcdServer(tmp_path / "etcd", ports=ports)
        etcd.wait_healthy()
        cms = counts(etcd.url)[0]
        assert cms in (0, N), (cms, out)
        final = subprocess.run(gitkube_cmd("apply", "--yes", "--no-wait", str(manifests)),
                               env=env, capture_output=True, text=True, timeout=180)
        assert final.returncode == 0, final.stdout + final.stderr
        assert counts(etcd.url)[0] == N
    finally:
        etcd.stop()


def test_sigkill_during_a_push(tmp_path: Path) -> None:
    """The whole push (git, receive-pack and the post-receive hook's gitkube) killed while
    the hook applies: the store holds all of the commit's objects or none, and `repo sync`
    converges."""
    state = tmp_path / "state"
    env = gitkube_env(state)
    bare = tmp_path / "deploy.git"
    subprocess.run(gitkube_cmd("repo", "init", str(bare)), env=env, check=True,
                   capture_output=True, timeout=60)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True,
                   capture_output=True)
    write_manifests(work)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
           "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "add", "."], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "many"], cwd=work, check=True)
    url = f"sqlite:///{state / 'state.db'}"
    push = subprocess.Popen(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own group: the hook is in it
    deadline = time.monotonic() + 60
    # wait until the hook's apply is under way (the history record appears with the objects,
    # so look for the hook's gitkube process), then kill the whole group
    while time.monotonic() < deadline and push.poll() is None:
        if any("repo hook post-receive" in _cmdline(pid) for pid in _group(push.pid)):
            time.sleep(random.Random(5).uniform(0.2, 1.0))
            break
        time.sleep(0.02)
    killed = push.poll() is None
    if killed:
        os.killpg(push.pid, signal.SIGKILL)  # the group this test started
    push.wait(30)
    assert killed, "the push ended before it could be killed"
    if (state / "state.db").exists():
        cms, history = counts(url)
        assert cms in (0, N), cms
        assert (cms == N) == ("applied" in history), (cms, history)
    sync = subprocess.run(gitkube_cmd("repo", "sync", str(bare)), env=env,
                          capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert counts(url)[0] == N


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
