"""Raw-socket helpers for the hostile-input tests: exact bytes out, whatever comes back."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    """What the server sent on one connection, and whether it closed it."""

    data: bytes
    closed: bool

    @property
    def code(self) -> int:
        """The status code of the first final answer (a ``100 Continue`` skipped)."""
        return int(self.final_head.split(b" ", 2)[1])

    @property
    def final_head(self) -> bytes:
        data = self.data
        while data.startswith(b"HTTP/1.1 100"):
            data = data.split(b"\r\n\r\n", 1)[1]
        return data.split(b"\r\n\r\n", 1)[0]

    @property
    def status(self) -> Any:
        data = self.data
        while data.startswith(b"HTTP/1.1 100"):
            data = data.split(b"\r\n\r\n", 1)[1]
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), len(body))
        return json.loads(body[:length])

    def header(self, name: str) -> str | None:
        for line in self.final_head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode()
        return None


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_reply(sock: socket.socket, *, until_close: bool = True, wait: float = 10) -> Reply:
    """Read until the peer closes (or, without ``until_close``, until one whole answer with
    a Content-Length has arrived); never longer than ``wait`` seconds."""
    data = b""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return Reply(data, True)
        if not chunk:
            return Reply(data, True)
        data += chunk
        if not until_close and _complete(data):
            break
    return Reply(data, False)


def _complete(data: bytes) -> bool:
    while data.startswith(b"HTTP/1.1 100"):
        data = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def exchange(port: int, data: bytes, *, shut: bool = False, until_close: bool = True,
             wait: float = 10) -> Reply:
    """Send ``data`` on a fresh connection (then half-close it with ``shut``) and read."""
    with connect(port, wait) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        return read_reply(sock, until_close=until_close, wait=wait)


def request(method: str, path: str, body: bytes = b"", *,
            headers: dict[str, str] | None = None) -> bytes:
    """A well-formed HTTP/1.1 request's bytes (Content-Length unless a header says else)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in hdrs):
        hdrs["Content-Length"] = str(len(body))
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
