"""TCP connections made inside another process's network namespace (port-forward).

A socket belongs to the network namespace it was created in, whichever thread uses it
afterwards. ``connect_in(pid, port)`` therefore creates the socket in a short-lived thread of
its own that first joins ``/proc/PID/ns/net`` with ``setns(2)`` (Python 3.11 has no
``os.setns``: libc through ctypes). Only that thread changes namespace, and it ends right
after, so no other thread of the process is affected. Joining needs CAP_SYS_ADMIN (root);
without it ``NamespaceDenied`` is raised and the caller may fall back to the pod's address.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import threading
from typing import Any

from gitkube.runtime.base import RuntimeFailure

CLONE_NEWNET = 0x40000000
_libc: Any = None
_libc_lock = threading.Lock()


class NamespaceDenied(RuntimeFailure):
    """This process may not join the namespace (not root, or the process is gone)."""


def _setns() -> Any:
    global _libc
    with _libc_lock:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return _libc.setns


def _connect_here(port: int, timeout: float) -> socket.socket:
    """Connect to ``port`` on this namespace's loopback: IPv4, then IPv6."""
    last: OSError | None = None
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
            sock.settimeout(None)
            return sock
        except OSError as e:
            sock.close()
            last = e
    assert last is not None
    raise last


def connect_in(pid: int, port: int, timeout: float = 10.0) -> socket.socket:
    """A blocking TCP connection to ``port`` on the loopback of process ``pid``'s network
    namespace. NamespaceDenied when the namespace cannot be joined; the connection's own
    OSError (refused, timed out) otherwise."""
    result: list[socket.socket | BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            result.append(NamespaceDenied(f"network namespace of process {pid}: "
                                           f"{e.strerror}"))
            return
        try:
            if _setns()(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                result.append(NamespaceDenied(f"setns into the network namespace of "
                                               f"process {pid}: {os.strerror(err)}"))
                return
        finally:
            os.close(fd)
        try:
            result.append(_connect_here(port, timeout))
        except BaseException as e:  # handed to the caller's thread
            result.append(e)

    # the thread ends in the pod's namespace: it runs nothing else
    thread = threading.Thread(target=run, name=f"netns-connect-{pid}", daemon=True)
    thread.start()
    thread.join()
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


__all__ = ["NamespaceDenied", "connect_in"]
