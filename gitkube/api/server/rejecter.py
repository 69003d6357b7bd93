"""Connections over a cap get their 429/503 here, all on one thread.

A connection the limiter turns away (gitkube/api/server/limits.py) must not cost a thread,
or the cap would bound nothing. The accept loop hands it to the one ``Rejecter`` thread,
which drives every refused socket without blocking: the TLS handshake (a kubectl over TLS
reads the Status too), one small Status answer with ``Retry-After``, then a short linger
that reads and drops what the client was still sending, so the answer is not lost to a
reset. Each refused connection is closed within ``LINGER`` seconds; beyond ``MAX_PENDING``
at once they are closed without an answer.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("gitkube.api.server")
MAX_PENDING = 512
LINGER = 2.0


@dataclass(eq=False)
class _Refused:
    sock: socket.socket
    payload: bytes
    deadline: float
    state: str = "handshake"   # handshake -> send -> drain
    sent: int = 0
    events: int = field(default=0)


class Rejecter:
    """Answers refused connections with a prepared payload; one thread, started on first
    use, stopped by ``stop``."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._incoming: list[_Refused] = []
        self._pending: dict[int, _Refused] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread: threading.Thread | None = None
        self._stopped = False

    def refuse(self, sock: socket.socket, payload: bytes) -> None:
        """Send ``payload`` (a whole HTTP answer) on ``sock``, then close it. Never blocks."""
        with self._lock:
            if self._stopped or len(self._pending) + len(self._incoming) >= MAX_PENDING:
                _close(sock)
                return
            sock.setblocking(False)
            tls = isinstance(sock, ssl.SSLSocket)
            self._incoming.append(_Refused(sock, payload, time.monotonic() + LINGER,
                                           "handshake" if tls else "send"))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gitkube-api-rejecter",
                                                daemon=True)
                self._thread.start()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def stop(self) -> None:
        """Close every pending connection and end the thread."""
        with self._lock:
            self._stopped = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            for item in [*self._pending.values(), *self._incoming]:
                _close(item.sock)
            self._pending.clear()
            self._incoming.clear()

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._stopped:
                        return
                    incoming, self._incoming = self._incoming, []
                for item in incoming:
                    self._step(item)
                now = time.monotonic()
                timeout = min((i.deadline for i in self._pending.values()), default=now + 1)
                for key, _mask in self._selector.select(max(0.0, min(1.0, timeout - now))):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                        continue
                    waiting = self._pending.get(id(key.fileobj))
                    if waiting is not None:
                        self._step(waiting)
                now = time.monotonic()
                for item in [i for i in self._pending.values() if i.deadline <= now]:
                    self._finish(item)
        except Exception:  # a bug must not leave refused sockets open forever
            log.exception("the connection rejecter failed")
        finally:
            with self._lock:
                for item in [*self._pending.values(), *self._incoming]:
                    _close(item.sock)
                self._pending.clear()
                self._incoming.clear()

    def _step(self, item: _Refused) -> None:
        """Advance one refused connection as far as it goes without blocking."""
        try:
            if item.state == "handshake":
                item.sock.do_handshake()  # type: ignore[attr-defined]
                item.state = "send"
            if item.state == "send":
                while item.sent < len(item.payload):
                    item.sent += item.sock.send(item.payload[item.sent:])
                if not isinstance(item.sock, ssl.SSLSocket):
                    item.sock.shutdown(socket.SHUT_WR)
                item.state = "drain"
            while item.state == "drain":
                if not item.sock.recv(65536):
                    self._finish(item)
                    return
        except ssl.SSLWantWriteError:
            self._wait(item, selectors.EVENT_WRITE)
        except (ssl.SSLWantReadError, BlockingIOError):
            self._wait(item, selectors.EVENT_WRITE if item.state == "send"
                       and not isinstance(item.sock, ssl.SSLSocket) else selectors.EVENT_READ)
        except (OSError, ValueError):
            self._finish(item)

    def _wait(self, item: _Refused, events: int) -> None:
        if id(item.sock) not in self._pending:
            self._pending[id(item.sock)] = item
            self._selector.register(item.sock, events)
        elif item.events != events:
            self._selector.modify(item.sock, events)
        item.events = events

    def _finish(self, item: _Refused) -> None:
        if self._pending.pop(id(item.sock), None) is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(item.sock)
        _close(item.sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
