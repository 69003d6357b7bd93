"""HTTP/1.1 over TCP (optionally TLS) and unix sockets: a thread per connection, h11 parsing.

Why this shape (docs/HTTP_API.md, "HTTP stack"): a thread per connection keeps the handlers
plain blocking code and is plenty for one machine's clients; the connection caps of
gitkube/api/server/limits.py bound the threads. Requests are parsed and framed by h11 (a
strict, well-kept sans-I/O HTTP/1.1 parser: request line, headers, Content-Length and
chunked framing, ``Expect: 100-continue``) — the hand-written parser it replaced is where a
chunk size of ``-1`` read a stream to its end. Answers are written by gitkube
(gitkube/api/server/wire.py): head and body in one ``sendall`` with TCP_NODELAY, so small
answers do not wait on Nagle's algorithm.

The order for each request: the head (bounded in size, count and time), then
authentication and authorization from the head alone (``Router.admit``), then — only for a
request that will be served — ``100 Continue`` and the body (bounded by
``max_body_bytes`` as it streams, and in time), then the answer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import h11

from gitkube.api.server import wire
from gitkube.api.server.bodies import RequestEntityTooLarge
from gitkube.api.server.limits import ConnectionLimiter, Limits, client_key
from gitkube.api.server.messages import Answer, Request, Response, Stream, Upgrade
from gitkube.api.server.rejecter import Rejecter
from gitkube.api.server.websocket import WebSocketLoop, switching_head
from gitkube.errors import APIError, BadRequest

if TYPE_CHECKING:
    from gitkube.api.server import APIServer

log = logging.getLogger("gitkube.api.server")
access_log = logging.getLogger("gitkube.api.server.access")
# A refused body up to this much is read and dropped (for at most DRAIN_SECONDS) before the
# connection closes, so a client still sending sees the answer rather than a reset.
DRAIN_LIMIT = 32 * 1024 * 1024
DRAIN_SECONDS = 5.0
RECV_BYTES = 64 * 1024
# An answer this small fits the socket's send buffer: writing it does not wait on the peer.
SMALL_ANSWER = 64 * 1024
# TCP keepalive: first probe after this many idle seconds, then every INTERVAL s, and the
# connection is given up after PROBES unanswered ones
KEEPALIVE_IDLE = 30
KEEPALIVE_INTERVAL = 10
KEEPALIVE_PROBES = 3


class Connection:
    """One accepted connection, served in its own thread; requests in it one after another
    (keep-alive), pipelined bytes carried from one request to the next."""

    def __init__(self, api: APIServer, listener: Any, sock: socket.socket, peer: Any,
                 accepted: float):
        self.api = api
        self.listener = listener
        self.limits: Limits = api.limits
        self.sock = sock
        self.peer = peer
        self.accepted = accepted
        self._timeout: float | None = None  # the socket's timeout, as last set
        # bytes of a next request read (through TLS) while a stream looked for its peer
        self._early = b""

    def address(self) -> str:
        return self.peer[0] if isinstance(self.peer, tuple) and self.peer else "unix"

    # --- the connection's life --------------------------------------------------------------

    def run(self) -> None:
        api = self.api
        api._connections.add(self.sock)
        try:
            if self.sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                keep_alive(self.sock)
            if isinstance(self.sock, ssl.SSLSocket):
                self._set_timeout(self.limits.header_timeout)
                self.sock.do_handshake()
            leftover = b""
            first = True
            while not api._stopping.is_set():
                conn = h11.Connection(h11.SERVER,
                                      max_incomplete_event_size=self.limits.max_header_bytes)
                if leftover:
                    conn.receive_data(leftover)
                head = self._read_head(conn, first=first, pending=len(leftover))
                if head is None or not self._serve(conn, head):
                    return
                first = False
                leftover, closed = conn.trailing_data
                if closed:
                    return
                leftover, self._early = bytes(leftover) + self._early, b""
        except (OSError, ValueError):
            return
        finally:
            api._connections.discard(self.sock)
            with contextlib.suppress(OSError):
                self.sock.close()

    def _set_timeout(self, seconds: float) -> None:
        self.sock.settimeout(seconds)
        self._timeout = seconds

    def _recv(self, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        # a deadline is kept to within a second (a tenth of it when shorter): setting the
        # timeout is a system call, and the idle wait would make it before every request
        if self._timeout is None or abs(self._timeout - left) > min(1.0, left / 10):
            self._set_timeout(left)
        return self.sock.recv(RECV_BYTES)

    def _read_head(self, conn: h11.Connection, *, first: bool,
                   pending: int) -> h11.Request | None:
        """The next request's head; None when the connection ends (closed, idle too long, a
        head that is malformed, too large or too slow — those answered first)."""
        limits = self.limits
        if first:
            deadline = self.accepted + limits.header_timeout
        elif pending:
            deadline = time.monotonic() + limits.header_timeout
        else:
            deadline = time.monotonic() + limits.idle_timeout
        started = first or pending > 0
        fed = pending
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as e:
                self._refuse(e.error_status_hint, _protocol_message(e, limits))
                return None
            if isinstance(event, h11.Request):
                # h11 bounds a head that arrives in pieces; one that came whole is measured
                if fed > limits.max_header_bytes and \
                        fed - len(conn.trailing_data[0]) > limits.max_header_bytes:
                    self._refuse(431, f"the request head is too large (the limit is "
                                 f"{limits.max_header_bytes} bytes)")
                    return None
                return event
            if event is not h11.NEED_DATA:
                return None  # ConnectionClosed
            try:
                data = self._recv(deadline)
            except TimeoutError:
                if started and conn.trailing_data[0]:
                    self._refuse(408, "the request head was not received in time "
                                 f"({limits.header_timeout:g} s)")
                return None
            if data and not started:
                started = True
                deadline = time.monotonic() + limits.header_timeout
            fed += len(data)
            conn.receive_data(data)

    def _refuse(self, code: int, message: str) -> None:
        """Answer a head that cannot be served, then close (after reading away what the
        client still sends, so that it sees the answer rather than a reset)."""
        with contextlib.suppress(OSError):
            self._set_timeout(self.limits.write_timeout)
            self.sock.sendall(wire.refusal(code, message))
            self._drain()

    # --- one request ------------------------------------------------------------------------

    def _serve(self, conn: h11.Connection, head: h11.Request) -> bool:
        """Serve one request; True when the connection may serve another."""
        api = self.api
        started = time.monotonic()
        api._busy_inc(1)
        code = 0
        method = head.method.decode("ascii", "replace")
        keep = False
        try:
            headers = wire.header_dict(head.headers.raw_items())
            keep = wire.keep_alive(head.http_version, headers)
            if "transfer-encoding" in headers and "content-length" in headers:
                keep = False  # RFC 9112 6.3: chunked wins, and the connection closes after
            answer, keep, drain = self._answer(conn, head, method, headers, keep)
            code = answer.code
            if isinstance(answer, Response):
                self._write(answer, method == "HEAD", close=not keep)
                if drain:
                    self._drain()
            elif isinstance(answer, Upgrade):
                keep = False
                self._upgrade(conn, headers, answer)
            else:
                keep = self._stream(answer) and keep
        except OSError:
            keep = False
        except Exception:  # a bug while answering: the client sees the connection end
            log.exception("internal error serving %s %s", method, answer_path(head))
            keep = False
        finally:
            if api._stopping.is_set():
                keep = False
            api._busy_inc(-1)
            if api.log_requests:
                access_log.info("%s %s %s %d %.1fms", self.address(), method,
                                answer_path(head), code, (time.monotonic() - started) * 1000)
        return keep

    def _answer(self, conn: h11.Connection, head: h11.Request, method: str,
                headers: dict[str, str], keep: bool) -> tuple[Answer, bool, bool]:
        """The answer, whether the connection may go on, and whether a body the client is
        sending must be read away after the answer."""
        limits = self.limits
        has_body = "transfer-encoding" in headers or headers.get(
            "content-length", "0") not in ("0", "")
        if len(head.headers) > limits.max_headers:
            return self._refused(conn, _error(431, f"too many request headers "
                                              f"({len(head.headers)}, the limit is "
                                              f"{limits.max_headers})"), has_body, keep)
        try:
            path, query = wire.decode_target(head.target)
        except BadRequest as e:
            return self._refused(conn, Response.error(e), has_body, keep)
        req = Request(method, path, query, headers, b"",
                      target=head.target.decode("latin-1"))
        router = self.api.router
        auth = self.listener.auth
        refused = router.admit(req, auth)
        if refused is not None:
            return self._refused(conn, refused, has_body, keep)
        if has_body:
            try:
                req = replace(req, body=self._read_body(conn, headers))
            except RequestEntityTooLarge as e:
                return self._refused(conn, Response.error(e), True, keep)
            except APIError as e:  # malformed or too slow: the framing is lost
                return Response.error(e), False, False
        return router.answer(req, auth, admitted=True), keep, False

    def _refused(self, conn: h11.Connection, answer: Response, has_body: bool,
                 keep: bool) -> tuple[Response, bool, bool]:
        """An answer given without reading the body. Without a body the connection may go
        on; with one it closes after the answer, and a body the client is already sending
        (no ``Expect: 100-continue``) is read away first, so the client sees the answer."""
        if not has_body:
            return answer, keep, False
        return answer, False, not conn.they_are_waiting_for_100_continue

    def _read_body(self, conn: h11.Connection, headers: dict[str, str]) -> bytes:
        limits = self.limits
        limit = limits.max_body_bytes
        declared = headers.get("content-length")
        if "transfer-encoding" not in headers and declared is not None \
                and int(declared) > limit:
            raise RequestEntityTooLarge(f"the request body is too large: {int(declared)} "
                                        f"bytes, the limit is {limit}")
        if conn.they_are_waiting_for_100_continue:
            self.sock.sendall(wire.CONTINUE)  # a few bytes: never blocks
        deadline = time.monotonic() + limits.body_timeout
        parts: list[bytes] = []
        total = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as e:
                raise _error_of(e.error_status_hint, _protocol_message(e, limits)) from e
            if isinstance(event, h11.Data):
                total += len(event.data)
                if total > limit:
                    raise RequestEntityTooLarge(f"the request body is too large: over {limit} "
                                                "bytes")
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            elif event is h11.NEED_DATA:
                try:
                    conn.receive_data(self._recv(deadline))
                except TimeoutError as e:
                    raise _error_of(408, "the request body was not received in time "
                                    f"({limits.body_timeout:g} s)") from e
            else:
                raise ConnectionResetError("the client closed the connection mid-body")

    def _drain(self) -> None:
        """After the last answer: half-close, then read and drop what the client still
        sends (bounded in bytes and time), so that closing does not reset the connection
        under an answer the client has not read yet."""
        deadline = time.monotonic() + min(DRAIN_SECONDS, self.limits.body_timeout)
        left = DRAIN_LIMIT
        with contextlib.suppress(OSError, TimeoutError):
            if not isinstance(self.sock, ssl.SSLSocket):
                self.sock.shutdown(socket.SHUT_WR)
            while left > 0 and (data := self._recv(deadline)):
                left -= len(data)

    # --- writing ----------------------------------------------------------------------------

    def _write(self, answer: Response, head_only: bool, *, close: bool) -> None:
        if len(answer.body) > SMALL_ANSWER:  # may block on a slow reader: its own timeout
            self._set_timeout(self.limits.write_timeout)
        self.sock.sendall(wire.response(answer.code, answer.content_type, answer.body,
                                        close=close, head_only=head_only,
                                        extra=answer.headers))

    def _stream(self, stream: Stream) -> bool:
        """Chunked transfer: each chunk flushed as it comes; the stream ends with the
        generator, the peer leaving, or shutdown (a finite stream only with the generator
        or the peer). True when it ended cleanly (the connection may go on)."""
        api = self.api
        endless = not stream.finite
        if endless:
            api._streams.add(stream)
            api._busy_inc(-1)  # a stream is not a request in flight: shutdown ends it
        sock = self.sock
        try:
            self._set_timeout(self.limits.write_timeout)
            sock.sendall(wire.stream_head(stream.code, stream.content_type))
            for chunk in stream.chunks:
                if chunk is None:
                    if self._peer_gone():
                        return False
                    continue
                if chunk:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
            return True
        finally:
            if endless:
                api._busy_inc(1)
                api._streams.discard(stream)
            with contextlib.suppress(Exception):
                stream.close()

    def _upgrade(self, conn: h11.Connection, headers: dict[str, str],
                 upgrade: Upgrade) -> None:
        """Switch to WebSocket and serve the session until it ends (gitkube/api/server/
        websocket.py). Like an endless stream, it is not a request in flight: shutdown
        ends it rather than waiting for it."""
        api = self.api
        loop = WebSocketLoop(self.sock, upgrade.session, leftover=conn.trailing_data[0])
        try:
            self._set_timeout(self.limits.write_timeout)
            self.sock.sendall(switching_head(headers, upgrade.subprotocol))
        except BaseException:
            upgrade.cancel()
            raise
        api._sessions.add(loop)
        api._busy_inc(-1)
        try:
            loop.run()
        finally:
            api._busy_inc(1)
            api._sessions.discard(loop)

    def _peer_gone(self) -> bool:
        """True when the client closed its side (or the connection broke): a readable
        socket with nothing to read. Through TLS, which cannot be peeked at, what arrived is
        read: a close_notify or the end of the stream is the client gone; bytes of a next
        request are kept for after the stream."""
        sock = self.sock
        try:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                readable = True  # decrypted bytes wait in the TLS layer
            else:
                readable = bool(select.select([sock], [], [], 0)[0])
            if not readable:
                return False
            if not isinstance(sock, ssl.SSLSocket):
                return sock.recv(1, socket.MSG_PEEK) == b""
            sock.settimeout(0.0)
            try:
                data = sock.recv(RECV_BYTES)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return False  # only part of a TLS record so far
            finally:
                sock.settimeout(self._timeout)
        except (OSError, ValueError):  # ssl.SSLError included: the connection is broken
            return True
        if not data:
            return True
        self._early += data
        return False


def keep_alive(sock: socket.socket) -> None:
    """TCP keepalive probes after KEEPALIVE_IDLE s of silence, so that a client whose
    machine or network vanished (no FIN ever comes) is found out by an idle watch within
    about a minute instead of the kernel's two hours."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)


def answer_path(head: h11.Request) -> str:
    """The request's path for the access log (no query: it may carry anything)."""
    return head.target.split(b"?", 1)[0].decode("latin-1")


def _error(code: int, message: str) -> Response:
    return Response.error(_error_of(code, message))


def _error_of(code: int, message: str) -> APIError:
    err = APIError(message)
    err.code = code
    err.reason = wire.reason_for(code)
    return err


def _protocol_message(error: h11.RemoteProtocolError, limits: Limits) -> str:
    if error.error_status_hint == 431:
        return (f"the request head is too large (the limit is {limits.max_header_bytes} "
                "bytes)")
    return f"malformed HTTP request: {error}"


# --- listeners ------------------------------------------------------------------------------

# socketserver's default listen backlog is 5: hundreds of watchers connecting at once would
# be refused.
BACKLOG = 1024


class _Listener:
    """What TCP and unix listeners share: admission against the caps, then a thread."""

    api: APIServer
    auth: Any = "default"  # this listener's auth hook ("default": the server's)
    limiter: ConnectionLimiter
    rejecter: Rejecter

    def process_request(self, request: Any, client_address: Any) -> None:
        key = client_key(client_address)
        refused = self.limiter.admit(key)
        if refused is not None:
            self.rejecter.refuse(request, wire.refusal(
                refused.code, refused.message, reason=refused.reason,
                retry_after=self.api.limits.retry_after))
            return
        accepted = time.monotonic()
        try:
            threading.Thread(target=self._serve_connection,
                             args=(request, client_address, key, accepted),
                             name="gitkube-api-conn", daemon=True).start()
        except RuntimeError:  # no thread could be started: refuse rather than crash
            self.limiter.release(key)
            self.rejecter.refuse(request, wire.refusal(503, "the server cannot take more "
                                                       "connections; retry later",
                                                       retry_after=self.api.limits.retry_after))

    def _serve_connection(self, request: Any, client_address: Any, key: str,
                          accepted: float) -> None:
        try:
            Connection(self.api, self, request, client_address, accepted).run()
        finally:
            self.limiter.release(key)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)


class TCPServer(_Listener, socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], api: APIServer,
                 ssl_context: ssl.SSLContext | None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.api = api
        self.ssl_context = ssl_context
        self.limiter = ConnectionLimiter(api.limits)
        self.rejecter = api._rejecter
        super().__init__(address, socketserver.BaseRequestHandler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # the handshake happens in the connection's own thread (or the rejecter's)
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr


class UnixServer(_Listener, socketserver.UnixStreamServer):
    request_queue_size = BACKLOG

    def __init__(self, path: str, api: APIServer):
        self.api = api
        self.limiter = ConnectionLimiter(api.limits)
        self.rejecter = api._rejecter
        super().__init__(path, socketserver.BaseRequestHandler)


def bind_unix(path: str, api: APIServer, mode: int) -> UnixServer:
    """A unix socket server at ``path``; a stale socket file (nobody listening) is replaced,
    a live one is refused."""
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
        else:
            raise OSError(f"{path}: another server is listening on this socket")
        finally:
            probe.close()
    old = os.umask(0o777 & ~mode)
    try:
        return UnixServer(path, api)
    finally:
        os.umask(old)


def start_thread(server: socketserver.BaseServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=name, daemon=True)
    thread.start()
    return thread
