"""The state directory and the store file are private: they hold Secrets.

``secure_dir(path)`` creates the state directory with mode 0700, or, when it exists with
bits for the group or others, takes them away (0755 from an older gitkube, a umask of 022,
a copy); ``secure_file(path)`` does the same for a file (0600). Both return one line per
change they made, for the caller to show (a warning: someone could have read it before).
A path that cannot be changed (not ours, read-only) is left as it is: the command that needs
to write there says so itself.

SQLite creates a database's ``-wal`` and ``-shm`` files with the database's permissions, so
a store file made 0600 here keeps them 0600 too (gitkube/store/sqlite.py).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def secure_dir(path: Path) -> list[str]:
    """Create ``path`` (and missing parents) as 0700, or make an existing one 0700."""
    if not path.exists():
        with contextlib.suppress(OSError):
            path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
        return []
    return _tighten(path, DIR_MODE)


def secure_file(path: Path) -> list[str]:
    """Make an existing ``path`` 0600 when others could read it (a missing one: nothing)."""
    return _tighten(path, FILE_MODE) if path.exists() else []


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then untouched)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))


MIN_FREE = 1024 * 1024  # bytes a daemon needs to start: its log, lock and store pages


def free_bytes(path: Path) -> int | None:
    """Bytes the current user may still write on ``path``'s file system (None: unknown)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _tighten(path: Path, mode: int) -> list[str]:
    try:
        st = path.stat()
        if not stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.geteuid():
            return []  # already private, or not ours to change
        os.chmod(path, mode)
    except OSError:
        return []
    return [f"{path} could be read by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"it is {mode:04o} now"]


__all__ = ["DIR_MODE", "FILE_MODE", "MIN_FREE", "create_private", "free_bytes", "secure_dir",
           "secure_file"]
