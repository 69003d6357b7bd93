"""The running daemon's record (``daemon.json``), its PID file and its lock.

A daemon holds an exclusive ``flock`` on ``daemon.pid`` for its whole life: the lock, not
the PID alone, says a daemon is alive (a PID can be reused after a crash; the kernel drops
the lock when the process dies, however it dies). ``daemon.json`` says what it serves; it
never holds a token.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from gitkube.daemon.paths import DaemonPaths
from gitkube.errors import GitkubeError


@dataclass(frozen=True)
class DaemonInfo:
    """What a running daemon serves, as written to ``daemon.json``."""

    pid: int
    store: str  # the store URL as given
    store_id: str  # store_identity(store): what the CLI compares its own --store with
    socket: str
    url: str | None = None  # https://127.0.0.1:7443 or None when TCP is off
    tls: bool = False
    ca_file: str | None = None
    ca_fingerprint: str | None = None
    tokens_file: str | None = None
    node_name: str | None = None
    kubelet: bool = True
    started: str = ""
    version: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DaemonInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def store_identity(url: str) -> str:
    """A canonical form of a store URL, so that ``sqlite:state.db``, ``./state.db`` and
    ``sqlite:///abs/state.db`` for the same file compare equal. Query options are dropped:
    they tune a store, they do not name another one."""
    if "://" not in url and not url.startswith(("sqlite:", "etcd:", "memory:")):
        url = f"sqlite:{url}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = parts.path
        if path.startswith("/"):
            path = "/" + path.lstrip("/")
        return "sqlite://" + str(Path(path).absolute().resolve())
    if scheme == "etcd":
        try:
            port = parts.port or 2379
        except ValueError:
            port = 2379
        return f"etcd://{(parts.hostname or '').lower()}:{port}"
    return f"{scheme}://{parts.netloc}{parts.path}"


class PidLock:
    """The daemon's exclusive lock on its PID file (see the module docstring)."""

    def __init__(self, paths: DaemonPaths):
        self.paths = paths
        self._file: TextIO | None = None

    def acquire(self) -> None:
        """Take the lock and write our PID; GitkubeError when another daemon holds it."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        f = self.paths.pid.open("a+", encoding="ascii")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.seek(0)
            other = f.read().strip() or "?"
            f.close()
            raise GitkubeError(
                f"a gitkube daemon (pid {other}) is already running for {self.paths.root}",
                hint="`gitkube status` shows it; `gitkube down` stops it") from exc
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        """Remove the PID file and daemon.json, then drop the lock."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self.paths.info.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.paths.pid.unlink(missing_ok=True)
        self._file.close()
        self._file = None


def is_locked(paths: DaemonPaths) -> bool:
    """True while some process holds the daemon lock of this state directory."""
    try:
        f = paths.pid.open("r", encoding="ascii")
    except OSError:
        return False
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def read_pid(paths: DaemonPaths) -> int | None:
    """The PID recorded in the PID file, or None."""
    try:
        text = paths.pid.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_info(paths: DaemonPaths, info: DaemonInfo) -> None:
    """Write ``daemon.json`` atomically (readable by the owner only)."""
    tmp = paths.info.with_name(paths.info.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(info.to_json())
    os.replace(tmp, paths.info)


def read_info(paths: DaemonPaths) -> DaemonInfo | None:
    """The recorded ``daemon.json``, or None when absent or unreadable."""
    try:
        data = json.loads(paths.info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return DaemonInfo.from_dict(data)
    except TypeError:
        return None
