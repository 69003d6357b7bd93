"""A `gitkube serve` process for the benchmarks that need a real daemon: started in a state
directory of the benchmark's own, waited for until its socket answers, and stopped by its
PID only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.state import DaemonInfo, read_info
from gitkube.daemon.status import probe_socket


def gitkube(*args: str) -> list[str]:
    """The command line of ``gitkube ARGS`` with this interpreter."""
    return [sys.executable, "-m", "gitkube.cli.main", *args]


def state_env(state: Path) -> dict[str, str]:
    """This process's environment, pointed at ``state`` (and its default store)."""
    env = {**os.environ, "GITKUBE_STATE_DIR": str(state)}
    env.pop("GITKUBE_STORE", None)
    return env


def start_serve(state: Path, *flags: str,
                log_name: str = "daemon.log") -> tuple[subprocess.Popen[bytes], DaemonInfo]:
    """`gitkube serve --listen 127.0.0.1:0 --log-level WARNING FLAGS` in ``state``, once it
    answers on its socket (its output in ``state/log_name``); SystemExit if it does not
    start within 60 s."""
    log_path = state / log_name
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            gitkube("serve", "--listen", "127.0.0.1:0", "--log-level", "WARNING", *flags),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=state_env(state))
    paths = DaemonPaths(state)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = read_info(paths)
        if info is not None and info.pid == proc.pid and probe_socket(info.socket, 1.0):
            return proc, info
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    raise SystemExit("gitkube serve did not start:\n" + log_path.read_text())


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to this PID only, SIGKILL after 60 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
