"""WebSocket for exec, attach and port-forward: the handshake's checks and the connection's
I/O loop, framing by wsproto (a sans-I/O WebSocket implementation, as h11 is for HTTP).

Why one loop thread per connection owns the socket: a TLS socket must not be read and
written from two threads at once (OpenSSL's objects are not thread-safe), yet a session
sends from its own threads (a process's output, a forwarded connection) while the client
sends too. So the loop alone reads and writes the socket, non-blocking, in ``select``;
other threads hand it whole messages (``Outbox.send``), which wait while more than
``HIGH_WATER`` bytes are queued (a slow client slows its sources, nothing piles up).
Received messages go to the session (``Session.receive``), which must not block: it queues
them for its own threads, and while it reports ``backlogged()`` the loop stops reading the
client (TCP's flow control then slows the client).

The loop ends when the client closes (a Close frame, or the connection ends), when the
session closes it (``Outbox.close``: a Close frame, then a short wait for the client's),
when nothing could be written for ``write_timeout`` seconds (``STALL_TIMEOUT``), or at
server shutdown (``stop``); then ``Session.finish`` releases the session's resources and
joins its threads.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError, generate_accept_token

HIGH_WATER = 4 * 1024 * 1024
MAX_MESSAGE = 32 * 1024 * 1024
RECV_BYTES = 256 * 1024
CLOSE_WAIT = 5.0  # seconds to wait for the client's Close after ours
# A client that takes nothing for this long is given up on. Long, unlike a plain answer's
# write timeout: a forwarded connection's reader may rightly pause (TCP keep-alive notices
# a machine that is gone; this catches one that is there but stuck).
STALL_TIMEOUT = 600.0
POLL = 0.5
# TLS writes plaintext in records of at most 16 KiB: a message's small heads go out in one
# record with the start of its payload (a copy of at most this much) rather than as records
# of a few bytes each, which the client would read and decrypt one by one
RECORD = 16 * 1024
# what one turn of the loop writes at most before it looks at the socket again
FLUSH_BYTES = 4 * 1024 * 1024


class Outbox(Protocol):
    """What a session sends through (any thread)."""

    def send(self, data: bytes, *, text: bool = False) -> bool:
        """Queue one message; waits while the queue is full. False once the connection is
        closing or closed (the message was dropped)."""
        ...

    def send_parts(self, *parts: bytes) -> bool:
        """Queue one binary message made of ``parts`` (not joined: no copy). As ``send``."""
        ...

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a Close frame after what is queued; the loop ends once it is answered."""
        ...


def frame_head(size: int) -> bytes:
    """The head of a server's unfragmented binary frame of ``size`` bytes (RFC 6455 5.2:
    FIN, opcode 2, no mask)."""
    if size < 126:
        return bytes((0x82, size))
    if size < 65536:
        return bytes((0x82, 126)) + size.to_bytes(2, "big")
    return bytes((0x82, 127)) + size.to_bytes(8, "big")


def coalesced(head: bytes, parts: tuple[bytes, ...]) -> list[bytes | memoryview]:
    """A message's pieces to write: ``head`` and the small parts before the payload joined
    with the payload's first bytes up to one TLS record (RECORD), the rest as it is (a view,
    not a copy)."""
    if not parts:
        return [head]
    *small, payload = parts
    lead = head + b"".join(small)
    if len(lead) >= RECORD or not payload:
        return [lead, payload] if payload else [lead]
    cut = RECORD - len(lead)
    if len(payload) <= cut:
        return [lead + payload]
    return [lead + payload[:cut], memoryview(payload)[cut:]]


class Session(Protocol):
    """One exec, attach or port-forward over a WebSocket connection."""

    def start(self, outbox: Outbox) -> None:
        """The handshake is done: start sending (from the session's own threads)."""
        ...

    def receive(self, data: bytes, text: bool) -> None:
        """One message from the client. Must not block (queue it)."""
        ...

    def backlogged(self) -> bool:
        """True while the session has more queued than it wants (the loop stops reading)."""
        ...

    def finish(self) -> None:
        """The connection is over: release everything and join the session's threads."""
        ...


def upgrade_kind(headers: Mapping[str, str]) -> str:
    """``"websocket"``, ``"spdy"`` (SPDY/3.1, which gitkube does not speak) or ``""`` (not
    an upgrade) for a request's headers (lower-cased names)."""
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if "upgrade" not in tokens:
        return ""
    upgrade = headers.get("upgrade", "").strip().lower()
    if upgrade == "websocket":
        return "websocket"
    if upgrade.startswith("spdy"):
        return "spdy"
    return upgrade or ""


def offered(headers: Mapping[str, str]) -> list[str]:
    """The subprotocols a client offers (``Sec-WebSocket-Protocol``), in its order."""
    return [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")
            if p.strip()]


def handshake_problem(headers: Mapping[str, str]) -> str | None:
    """Why a WebSocket upgrade request is malformed (RFC 6455 4.2.1), or None."""
    if headers.get("sec-websocket-version", "").strip() != "13":
        return "the WebSocket handshake needs Sec-WebSocket-Version: 13"
    if not headers.get("sec-websocket-key", "").strip():
        return "the WebSocket handshake needs a Sec-WebSocket-Key"
    return None


def switching_head(headers: Mapping[str, str], subprotocol: str) -> bytes:
    """The ``101 Switching Protocols`` answer to a checked handshake."""
    accept = generate_accept_token(headers["sec-websocket-key"].strip().encode())
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept.decode()}"]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def keepalive(sock: socket.socket) -> None:
    """TCP keep-alive probes, so a client whose machine vanished is noticed in about a
    minute even when no data flows (an idle port-forward)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


class WebSocketLoop:
    """The I/O loop of one server-side WebSocket connection (module docstring). Its
    ``send`` and ``close`` are the session's Outbox."""

    def __init__(self, sock: socket.socket, session: Session, *, leftover: bytes = b"",
                 write_timeout: float = STALL_TIMEOUT):
        self.sock = sock
        self.session = session
        self.write_timeout = write_timeout
        self._ws = Connection(ConnectionType.SERVER)
        self._cond = threading.Condition()
        # what is to be written, in pieces (written in order; a partly written head piece is
        # kept as a memoryview); ``_queued`` counts its bytes
        self._out: deque[bytes | memoryview] = deque()
        self._queued = 0
        self._close_sent_at: float | None = None
        self._done = False
        self._pending: list[bytes | str] = []
        self._pending_size = 0
        self._leftover = leftover
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    # --- the Outbox (any thread) -----------------------------------------------------------

    def send(self, data: bytes, *, text: bool = False) -> bool:
        event: TextMessage | BytesMessage = (
            TextMessage(data.decode("ascii")) if text else BytesMessage(data))
        with self._cond:
            while self._queued > HIGH_WATER and not self._done:
                self._cond.wait(POLL)
            if self._done or self._close_sent_at is not None:
                return False
            self._queue(self._ws.send(event))
        self._wake()
        return True

    def send_parts(self, *parts: bytes) -> bool:
        # framed here rather than by wsproto, so a large payload is queued as it is: a
        # whole message is one frame, which wsproto's state does not track
        head = frame_head(sum(len(p) for p in parts))
        with self._cond:
            while self._queued > HIGH_WATER and not self._done:
                self._cond.wait(POLL)
            if self._done or self._close_sent_at is not None \
                    or self._ws.state is not ConnectionState.OPEN:
                return False
            for piece in coalesced(head, parts):
                self._queue(piece)
        self._wake()
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        with self._cond:
            if self._done or self._close_sent_at is not None:
                return
            if self._ws.state is ConnectionState.OPEN:
                self._queue(self._ws.send(CloseConnection(code=code, reason=reason)))
            self._close_sent_at = time.monotonic()
        self._wake()

    def stop(self) -> None:
        """Server shutdown: close with 1001 (going away)."""
        self.close(1001, "the server is shutting down")

    def _queue(self, data: bytes | memoryview) -> None:
        """Queue bytes to write (the caller holds the condition)."""
        if data:
            self._out.append(data)
            self._queued += len(data)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # --- the loop (the connection's thread) ------------------------------------------------

    def run(self) -> None:
        """Serve the connection until it ends (module docstring)."""
        sock = self.sock
        keepalive(sock)
        sock.setblocking(False)
        try:
            self.session.start(self)
            if self._leftover:
                self._received(self._leftover)
            self._loop()
        except (OSError, RemoteProtocolError, LocalProtocolError):
            pass
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()
            try:
                self.session.finish()
            finally:
                for s in (self._wake_r, self._wake_w):
                    with contextlib.suppress(OSError):
                        s.close()

    def _loop(self) -> None:
        sock = self.sock
        tls = isinstance(sock, ssl.SSLSocket)
        progress = time.monotonic()
        while True:
            with self._cond:
                want_write = bool(self._out)
                closing = self._close_sent_at
                if not want_write and self._ws.state is ConnectionState.CLOSED:
                    return
            now = time.monotonic()
            if closing is not None and not want_write and now - closing > CLOSE_WAIT:
                return  # the client never answered our Close
            if want_write and now - progress > self.write_timeout:
                return  # the client reads nothing
            reading = not self.session.backlogged()
            if reading and tls and sock.pending():  # type: ignore[attr-defined]
                readable = True
            else:
                rlist: list[socket.socket] = [self._wake_r] + ([sock] if reading else [])
                r, w, _ = select.select(rlist, [sock] if want_write else [], [], POLL)
                if self._wake_r in r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                readable = sock in r
                if w and self._flush():
                    progress = time.monotonic()
            if not want_write:
                progress = time.monotonic()
            if readable and not self._read():
                return

    def _read(self) -> bool:
        """Read what the socket has; False when the client's side has ended."""
        try:
            data = self.sock.recv(RECV_BYTES)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return True
        if not data:
            return False
        self._received(data)
        return True

    def _received(self, data: bytes) -> None:
        with self._cond:
            self._ws.receive_data(data)
            events = list(self._ws.events())
        for event in events:
            if isinstance(event, Message):
                self._pending.append(event.data)
                self._pending_size += len(event.data)
                if self._pending_size > MAX_MESSAGE:
                    self.close(1009, "message too large")
                    return
                if event.message_finished:
                    self._deliver(isinstance(event, TextMessage))
            elif isinstance(event, Ping):
                with self._cond:
                    if self._ws.state is ConnectionState.OPEN:
                        self._queue(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                with self._cond:
                    if self._ws.state is ConnectionState.REMOTE_CLOSING:
                        self._queue(self._ws.send(event.response()))
                    if self._close_sent_at is None:
                        self._close_sent_at = time.monotonic()
                    self._cond.notify_all()

    def _deliver(self, text: bool) -> None:
        parts, self._pending, self._pending_size = self._pending, [], 0
        if text:
            self.session.receive("".join(str(p) for p in parts).encode("utf-8"), True)
        else:
            self.session.receive(b"".join(p for p in parts if isinstance(p, bytes)), False)

    def _flush(self) -> bool:
        """Write what the socket takes now (piece after piece, up to FLUSH_BYTES); True when
        something was written."""
        written = 0
        with self._cond:
            while self._out and written < FLUSH_BYTES:
                # TLS: a write that could not finish is retried with the same piece
                piece = self._out[0]
                try:
                    sent = self.sock.send(piece)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    break
                written += sent
                self._queued -= sent
                if sent < len(piece):
                    self._out[0] = memoryview(piece)[sent:]
                    break  # the socket is full
                self._out.popleft()
            if written and self._queued <= HIGH_WATER:
                self._cond.notify_all()
        return written > 0


__all__ = ["Outbox", "Session", "WebSocketLoop", "frame_head", "handshake_problem",
           "keepalive", "offered", "switching_head", "upgrade_kind"]
