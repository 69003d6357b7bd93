"""The client side of pods/exec, pods/attach and pods/portforward over WebSocket (wsproto),
for gitkube's own CLI when a daemon serves the store: ``RemoteProcess`` is a
``ProcessStream`` (runtime/base.py) over ``v5.channel.k8s.io``, ``RemotePort`` one forwarded
connection over ``v4.channel.k8s.io`` (the channel protocol has no half-close: the
connection ends as a whole). Both talk to the daemon's unix socket (no token: it is mode
0600); a refused upgrade raises the APIError its Status describes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    RejectConnection,
    RejectData,
    Request,
)

from gitkube.errors import GitkubeError

RECV = 256 * 1024
# a unix socket's path, or a function that opens the connection (TLS to a node's kubelet)
Where = str | Callable[[], socket.socket]


class _Client:
    """One client WebSocket on a unix socket: the handshake, then whole messages."""

    def __init__(self, socket_path: Where, target: str, subprotocol: str, timeout: float):
        if callable(socket_path):  # a connection made by the caller (a node's kubelet)
            self.sock = socket_path()
            self.sock.settimeout(timeout)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(socket_path)
            except OSError as e:
                self.sock.close()
                raise GitkubeError(f"cannot reach the daemon at {socket_path}: {e}") from e
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._lock = threading.Lock()
        self._parts: list[bytes] = []
        self._queue: list[bytes] = []
        self.closed = False
        self._send_raw(Request(host="localhost", target=target, subprotocols=[subprotocol]))
        self._handshake()
        self.sock.settimeout(None)

    def _send_raw(self, event: Any) -> None:
        with self._lock:
            data = self._ws.send(event)
        self.sock.sendall(data)

    def _handshake(self) -> None:
        status, body = 0, b""
        while True:
            data = self.sock.recv(RECV)
            with self._lock:
                self._ws.receive_data(data or None)
                events = list(self._ws.events())
            for i, event in enumerate(events):
                if isinstance(event, AcceptConnection):
                    # messages that came with the 101 are the session's first
                    self._handle(events[i + 1:])
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        self._refused(status, body)
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        self._refused(status, body)
            if not data:
                self._refused(status, body)

    def _refused(self, status: int, body: bytes) -> None:
        from gitkube.api.http_client import error_from_status

        self.sock.close()
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body.decode(errors="replace") or f"the upgrade was refused ({status})"
        raise error_from_status(parsed, status or 500)

    def send(self, data: bytes) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                self._send_raw(BytesMessage(data))

    def receive(self) -> bytes | None:
        """The next whole message; None once the connection ended."""
        while not self._queue:
            if self.closed:
                return None
            try:
                data = self.sock.recv(RECV)
            except OSError:
                data = b""
            with self._lock:
                self._ws.receive_data(data or None)
                events = list(self._ws.events())
            self._handle(events)
            if not data:
                self.closed = True
        return self._queue.pop(0)

    def _handle(self, events: list[Any]) -> None:
        """Queue whole messages; answer a Close."""
        for event in events:
            if isinstance(event, Message):
                self._parts.append(bytes(event.data) if isinstance(event.data, bytes)
                                   else str(event.data).encode())
                if event.message_finished:
                    self._queue.append(b"".join(self._parts))
                    self._parts = []
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(Exception):
                    self._send_raw(event.response())
                self.closed = True

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class RemoteProcess:
    """A ``ProcessStream`` of an exec or attach served by the daemon (module docstring)."""

    def __init__(self, socket_path: Where, target: str, *, timeout: float = 30.0):
        self._ws = _Client(socket_path, target, "v5.channel.k8s.io", timeout)
        self._status: dict[str, Any] | None = None

    def read(self) -> tuple[int, bytes] | None:
        while (message := self._ws.receive()) is not None:
            if not message:
                continue
            channel, data = message[0], message[1:]
            if channel in (1, 2) and data:
                return channel, data
            if channel == 3:
                with contextlib.suppress(ValueError):
                    self._status = json.loads(data)
        return None

    def write(self, data: bytes) -> None:
        self._ws.send(b"\x00" + data)

    def close_stdin(self) -> None:
        self._ws.send(bytes((255, 0)))

    def resize(self, width: int, height: int) -> None:
        self._ws.send(b"\x04" + json.dumps({"Width": width, "Height": height}).encode())

    def exit_code(self, timeout: float = 5.0) -> int | None:
        status = self._status
        if status is None:
            return None
        if status.get("status") == "Success":
            return 0
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(ValueError, TypeError):
                    return int(cause.get("message"))
        raise GitkubeError(str(status.get("message") or "the session failed"))

    def close(self) -> None:
        self._ws.close()


class RemotePort:
    """One connection to a pod's port through the daemon's pods/portforward."""

    def __init__(self, socket_path: Where, target: str, port: int, *,
                 timeout: float = 30.0):
        self.port = port
        self._ws = _Client(socket_path, target, "v4.channel.k8s.io", timeout)
        self._seen = {0: False, 1: False}
        self.error = ""

    def recv(self) -> bytes:
        """What the pod's side sent; b"" at its end (``error`` says why, when it failed)."""
        while (message := self._ws.receive()) is not None:
            channel, data = message[0], message[1:]
            if channel in self._seen and not self._seen[channel]:
                self._seen[channel] = True  # the first message is the port
                continue
            if channel == 1 and data:
                self.error += data.decode(errors="replace")
            elif channel == 0 and data:
                return data
        return b""

    def sendall(self, data: bytes) -> None:
        self._ws.send(b"\x00" + data)

    def close(self) -> None:
        self._ws.close()


__all__ = ["RemotePort", "RemoteProcess"]
