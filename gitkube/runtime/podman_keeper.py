"""The keeper of a Podman API service gitkube started: it stops the service once no owner has
used it for ``--linger`` seconds, and ends with it.

``python -m gitkube.runtime.podman_keeper --pid PID --socket SOCK --users FILE --linger S``

Owners (``podman_service.PodmanService``) hold a shared lock on FILE while they use the
service; the kernel drops the lock of a process that dies, however it dies. Every
``POLL`` seconds the keeper tries the lock exclusively: held by an owner, the service is in
use; free for ``S`` seconds in a row, it stops the service (SIGTERM, SIGKILL after 10 s)
while holding the lock, so an owner arriving meanwhile waits and then starts a fresh one.
Standard library only: it starts in a blink and never touches Podman's API.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import time
from pathlib import Path

POLL = 0.2
STOP_WAIT = 10.0


def is_service(pid: int, socket: str) -> bool:
    """Whether ``pid`` is still the `podman system service` on ``socket`` (not a reused
    PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "system service" in cmdline and socket in cmdline


def stop(pid: int, socket: str) -> None:
    """SIGTERM, then SIGKILL after STOP_WAIT seconds; returns once it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while is_service(pid, socket) and time.monotonic() < deadline:
            time.sleep(0.05)
        if is_service(pid, socket):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def keep(pid: int, socket: str, users: Path, linger: float) -> None:
    """Watch the service until it ends, stopping it after ``linger`` s without owners."""
    with open(users, "a") as lock:
        unused_since: float | None = None
        while is_service(pid, socket):
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                unused_since = None  # an owner holds it
            else:
                now = time.monotonic()
                unused_since = now if unused_since is None else unused_since
                if now - unused_since >= linger:
                    stop(pid, socket)  # under the lock: a new owner waits for the end
                    fcntl.flock(lock, fcntl.LOCK_UN)
                    return
                fcntl.flock(lock, fcntl.LOCK_UN)
            time.sleep(POLL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--users", type=Path, required=True)
    parser.add_argument("--linger", type=float, default=0.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    keep(args.pid, args.socket, args.users, args.linger)


if __name__ == "__main__":
    main()
