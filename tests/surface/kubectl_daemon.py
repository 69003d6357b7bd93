"""One `gitkube serve` (simulated kubelet) per test module, and the real kubectl against it
with an admin and a read-only kubeconfig from `gitkube kubeconfig`."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.daemon.daemon_env import RunningDaemon, gitkube_cmd, kubectl_binary


@dataclass
class KubectlAs:
    """kubectl with one kubeconfig, its own HOME and discovery cache."""

    binary: str
    home: Path
    config: Path

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
        env = {"KUBECONFIG": str(self.config), "HOME": str(self.home), "PATH": "/usr/bin:/bin"}
        done = subprocess.run([self.binary, "--request-timeout=30s", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=timeout)
        if check:
            assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done


def kubectl_for(daemon: RunningDaemon, home: Path, *user: str) -> KubectlAs:
    """kubectl as the daemon's admin, or as ``--user NAME --role ROLE`` (``user`` = the
    arguments of `gitkube kubeconfig`)."""
    binary = kubectl_binary()
    assert binary is not None
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GITKUBE_STATE_DIR": str(daemon.paths.root)}
    out = subprocess.run(gitkube_cmd("kubeconfig", *user), capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    config = home / "kubeconfig"
    config.write_text(out.stdout)
    if user:
        time.sleep(1.1)  # the daemon re-reads the tokens file at most once a second
    return KubectlAs(binary, home, config)


def wait_until(predicate: object, timeout: float = 60.0, poll: float = 0.2) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return bool(predicate())
