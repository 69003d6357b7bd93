"""Podman's hijacked connections: the standard streams of an exec session or of a container's
main process (``PodmanProcess``, a ``ProcessStream``); and ``connect_port``, a connection
into a container's network namespace.

``POST /exec/ID/start`` and ``POST /containers/ID/attach`` answer ``101 UPGRADED`` and then
carry the process's streams on the same connection, in both directions: what is written is
its stdin, half-closing the connection ends it; what is read is its output, framed with
8-byte headers (stream number, size) unless the process has a terminal. The ``podman``
package speaks requests, which cannot hand over such a connection, so this module talks
HTTP/1.1 on a socket of its own (unix or TCP, as the service's URL says).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from gitkube.runtime.base import NoSuchObject, RuntimeFailure, RuntimeUnavailable
from gitkube.runtime.netns import NamespaceDenied, connect_in

API_PREFIX = "/v4.0.0/libpod"
HEAD_LIMIT = 64 * 1024
READ_BYTES = 256 * 1024
EOT = b"\x04"  # a terminal's end-of-file character
RESIZE_RETRY = 2.0  # seconds
START_GRACE = 1.0  # seconds a terminal's process waits for its first size


def open_socket(url: str, timeout: float) -> socket.socket:
    """A connected socket to the Podman service at ``url`` (``unix://PATH``, ``tcp://H:P``,
    ``http://H:P``)."""
    parts = urlsplit(url)
    try:
        if parts.scheme in ("unix", "http+unix"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parts.path)
        else:
            sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                            timeout=timeout)
    except OSError as e:
        raise RuntimeUnavailable(f"Podman API at {url}: {e}") from e
    return sock


def hijack(url: str, path: str, body: Any, *, timeout: float,
           query: dict[str, str] | None = None) -> tuple[socket.socket, bytes]:
    """POST ``body`` (JSON) to ``path`` asking for the connection; the socket (blocking, no
    timeout) and the stream bytes that came with the answer's head. NoSuchObject for a 404,
    RuntimeFailure with Podman's message for other refusals."""
    sock = open_socket(url, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        target = API_PREFIX + path + (f"?{urlencode(query)}" if query else "")
        sock.sendall(f"POST {target} HTTP/1.1\r\nHost: podman\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode() + data)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk or len(head) > HEAD_LIMIT:
                raise RuntimeFailure(f"podman POST {path}: the connection ended before an "
                                     "answer")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status in (101, 200):
            sock.settimeout(None)
            return sock, rest
        message = _error_message(sock, rest)
        if status == 404:
            raise NoSuchObject(f"podman: {path}: {message or 'not found'}")
        raise RuntimeFailure(f"podman POST {path}: {message or status_line}")
    except BaseException:
        sock.close()
        raise


def _error_message(sock: socket.socket, rest: bytes) -> str:
    """The ``message`` of an error answer's JSON body (read for at most a second)."""
    sock.settimeout(1.0)
    with contextlib.suppress(OSError):
        while len(rest) < HEAD_LIMIT and b"}" not in rest:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
    text = rest.decode(errors="replace")
    start = text.find("{")
    if start >= 0:
        with contextlib.suppress(ValueError):
            return str(json.loads(text[start:text.rfind("}") + 1]).get("message") or "")
    return text.strip()


Starter = Callable[[tuple[int, int] | None], tuple[socket.socket, bytes]]


class PodmanProcess:
    """A ``ProcessStream`` over a hijacked connection (module docstring). ``exit_code`` asks
    ``ended`` (None: still running) after the output ends; ``resize`` calls ``resizer``.

    Given a ``starter`` instead of a connection, the process starts late: at the first
    ``resize`` (with that size: a terminal's first size is the client's, not 0x0, which
    sends line editors querying the terminal) or after ``START_GRACE`` seconds of reading or
    writing without one."""

    def __init__(self, sock: socket.socket | None, initial: bytes, *, tty: bool,
                 ended: Callable[[], tuple[bool, int | None]],
                 resizer: Callable[[int, int], None], starter: Starter | None = None):
        self._sock = sock
        self._buffer = bytearray(initial)
        self._eof = False
        self.tty = tty
        self._ended = ended
        self._resizer = resizer
        self._starter = starter
        self._started = threading.Event()
        self._start_lock = threading.Lock()
        self._start_error: Exception | None = None
        if sock is not None:
            self._started.set()
        self._write_lock = threading.Lock()
        self._closed = False
        self._stdin_closed = False

    def _start(self, size: tuple[int, int] | None) -> socket.socket:
        """The connection, starting the process first when it has not started."""
        with self._start_lock:
            if self._sock is None and self._start_error is None:
                if self._closed or self._starter is None:
                    self._start_error = RuntimeFailure("the stream was closed")
                else:
                    try:
                        self._sock, initial = self._starter(size)
                        self._buffer += initial
                    except Exception as e:
                        self._start_error = e
                self._started.set()
            if self._start_error is not None:
                raise self._start_error
            assert self._sock is not None
            return self._sock

    def _connection(self) -> socket.socket:
        if not self._started.is_set():
            self._started.wait(START_GRACE)
        return self._start(None)

    def _fill(self, need: int) -> bool:
        """Read until ``need`` bytes are buffered; False at the end of the stream."""
        sock = self._connection()
        while len(self._buffer) < need and not self._eof:
            try:
                chunk = sock.recv(READ_BYTES)
            except OSError:
                chunk = b""
            if not chunk:
                self._eof = True
                break
            self._buffer += chunk
        return len(self._buffer) >= need

    def read(self) -> tuple[int, bytes] | None:
        if self.tty:
            if not self._fill(1):
                return None
            data = bytes(self._buffer)
            self._buffer.clear()
            return 1, data
        while True:
            if not self._fill(8):
                return None
            stream = self._buffer[0]
            size = int.from_bytes(self._buffer[4:8], "big")
            if not self._fill(8 + size):
                return None
            data = bytes(self._buffer[8:8 + size])
            del self._buffer[:8 + size]
            if size:
                return (2 if stream == 2 else 1), data

    def write(self, data: bytes) -> None:
        sock = self._connection()
        with self._write_lock:
            if self._stdin_closed or self._closed:
                return
            try:
                sock.sendall(data)
            except OSError as e:
                raise RuntimeFailure(f"writing to the process's stdin: {e}") from e

    def close_stdin(self) -> None:
        sock = self._connection()
        with self._write_lock:
            if self._stdin_closed or self._closed:
                return
            self._stdin_closed = True
            with contextlib.suppress(OSError):
                if self.tty:  # a terminal reads EOF as a character, not as a closed pipe
                    sock.sendall(EOT)
                else:
                    sock.shutdown(socket.SHUT_WR)

    def resize(self, width: int, height: int) -> None:
        if not (self.tty and width > 0 and height > 0):
            return
        if not self._started.is_set():
            with contextlib.suppress(Exception):  # read() reports a failed start
                self._start((width, height))
            return
        # the first size often comes before Podman has the terminal set up: retry briefly
        deadline = time.monotonic() + RESIZE_RETRY
        while True:
            try:
                self._resizer(width, height)
                return
            except RuntimeFailure:
                if self._closed or time.monotonic() > deadline:
                    return  # a lost resize is not worth ending the session for
                time.sleep(0.02)

    def exit_code(self, timeout: float = 5.0) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            done, code = self._ended()
            if done or time.monotonic() >= deadline:
                return code if done else None
            time.sleep(0.01)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._started.set()  # a read or write waiting for the start ends
        with self._start_lock:
            sock = self._sock
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a read in another thread
        with contextlib.suppress(OSError):
            sock.close()


def connect_port(container: dict[str, Any], port: int, timeout: float) -> socket.socket:
    """A connection to ``port`` on the loopback of a running container (its inspect data)
    as seen from inside its network namespace; the host's for a host-network container;
    the container's address when this process may not join the namespace (not root)."""
    pid = int((container.get("State") or {}).get("Pid") or 0)
    if (container.get("HostConfig") or {}).get("NetworkMode") == "host":
        return socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return connect_in(pid, port, timeout)
    except NamespaceDenied as e:
        networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
        ip = next((str(n["IPAddress"]) for n in networks.values() if n.get("IPAddress")), "")
        if not ip:
            raise RuntimeFailure(f"port {port} of container {container.get('Name')}: {e}") \
                from e
        sock = socket.create_connection((ip, port), timeout=timeout)
        sock.settimeout(None)
        return sock


__all__ = ["PodmanProcess", "Starter", "connect_port", "hijack", "open_socket"]
