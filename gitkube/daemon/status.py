"""Is a daemon running for this state directory, where, and on which store?

``daemon_status()`` returns a ``DaemonStatus`` (plain data; ``render()`` is the text
``gitkube status`` prints). Other status sections (the GitOps loop) can build on it.
``running_daemon()`` is the cheap check the CLI makes before every command: the lock is
held and ``daemon.json`` is there (no network round trip).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.state import DaemonInfo, is_locked, read_info, read_pid
from gitkube.statedir import MIN_FREE, free_bytes


@dataclass(frozen=True)
class DaemonStatus:
    """The daemon of one state directory, as seen from outside it."""

    running: bool  # a process holds the daemon lock
    responding: bool | None  # GET /version over the socket answered (None: not probed)
    state_dir: Path
    pid: int | None = None
    info: DaemonInfo | None = None
    stale_pid_file: bool = False  # a PID file without a live daemon (it crashed)

    @property
    def store(self) -> str | None:
        return self.info.store if self.info else None

    @property
    def socket(self) -> str | None:
        return self.info.socket if self.info else None

    @property
    def url(self) -> str | None:
        return self.info.url if self.info else None

    def render(self) -> str:
        """What ``gitkube status`` prints about the daemon."""
        if not self.running:
            lines = [f"daemon: not running (state directory {self.state_dir})"]
            if self.stale_pid_file:
                lines.append(f"  a stale PID file (pid {self.pid}) is left from a daemon that "
                             "did not stop cleanly; `gitkube up` replaces it")
            lines.append("  commands work on the store directly; `gitkube up` starts one")
            return "\n".join(lines) + "\n"
        answer = {True: "responding", False: "NOT responding", None: "running"}[self.responding]
        lines = [f"daemon: {answer} (pid {self.pid})"]
        info = self.info
        if info is not None:
            lines.append(f"  store:    {info.store}")
            problem = store_problem(info.store)
            if problem:
                lines.append(f"            {problem}")
            lines.append(f"  socket:   {info.socket}")
            if info.url:
                lines.append(f"  url:      {info.url}" + ("" if info.tls else "  (plain HTTP)"))
            if info.ca_fingerprint:
                lines.append(f"  CA SHA-256 fingerprint: {info.ca_fingerprint}")
            lines.append("  kubelet:  " + (f"node {info.node_name}" if info.kubelet else "off"))
            if info.started:
                lines.append(f"  started:  {info.started}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, object]:
        return {
            "running": self.running, "responding": self.responding,
            "stateDir": str(self.state_dir), "pid": self.pid,
            "store": self.store, "socket": self.socket, "url": self.url,
            "caFingerprint": self.info.ca_fingerprint if self.info else None,
            "nodeName": self.info.node_name if self.info else None,
            "kubelet": self.info.kubelet if self.info else None,
            "started": self.info.started if self.info else None,
            "storeProblem": store_problem(self.store) if self.store else None,
        }


def store_problem(url: str) -> str | None:
    """Why writes to a SQLite store would fail now, as far as its file system tells (a full
    disk, a read-only file), or None; other stores: None."""
    if not url.startswith("sqlite:"):
        return None
    path = Path(urlsplit(url).path or url[len("sqlite:"):])
    free = free_bytes(path.parent)
    if free is not None and free < MIN_FREE:
        return (f"WRITES FAIL: the disk is full ({free:,} bytes free); reads still work — "
                "free some space (no restart needed)")
    if path.exists() and not os.access(path, os.W_OK):
        return "WRITES FAIL: the store file is read-only; reads still work"
    return None


class UnixConnection(http.client.HTTPConnection):
    """http.client over a unix socket (stdlib only)."""

    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def probe_socket(path: str | Path, timeout: float = 2.0) -> bool:
    """True when ``GET /version`` over the unix socket ``path`` answers 200 with JSON."""
    conn = UnixConnection(str(path), timeout)
    try:
        conn.request("GET", "/version", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return False
        json.loads(body)
        return True
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def running_daemon(paths: DaemonPaths) -> DaemonInfo | None:
    """The running daemon's record, or None (cheap: a lock test and a small file read)."""
    if not paths.info.exists() or not is_locked(paths):
        return None
    return read_info(paths)


def daemon_status(paths: DaemonPaths, *, probe: bool = True) -> DaemonStatus:
    """The daemon of ``paths``; ``probe`` asks it over its socket whether it answers."""
    pid = read_pid(paths)
    if not is_locked(paths):
        return DaemonStatus(False, None, paths.root, pid=pid, stale_pid_file=pid is not None)
    info = read_info(paths)
    responding = None
    if probe:
        sock = info.socket if info else str(paths.socket)
        responding = probe_socket(sock)
    return DaemonStatus(True, responding, paths.root, pid=pid, info=info)
