"""HTTP/1.1 over TCP (optionally TLS) and unix sockets: the stdlib's threading server.

Why the stdlib: no dependency, one thread per connection is plenty for one machine's
clients (hundreds of watchers), keep-alive makes single GETs cheap, and chunked streaming is
a few lines. Each response is written with one ``sendall`` (headers and body together) and
TCP_NODELAY is set, so small answers do not wait on Nagle's algorithm.
"""

from __future__ import annotations

import contextlib
import http
import logging
import os
import select
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from gitkube.api.server.bodies import RequestEntityTooLarge
from gitkube.api.server.messages import Request, Response, Stream
from gitkube.errors import APIError, BadRequest

if TYPE_CHECKING:
    from gitkube.api.server import APIServer

log = logging.getLogger("gitkube.api.server")
# An oversized body up to this much beyond the limit is read and dropped before the 413.
DRAIN_LIMIT = 32 * 1024 * 1024
access_log = logging.getLogger("gitkube.api.server.access")


def _status_line(code: int) -> bytes:
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {code} {phrase}\r\n".encode()


class Handler(BaseHTTPRequestHandler):
    """One connection; requests in it are served one after another (keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "gitkube"
    # Idle keep-alive connections (and stalled writers) are dropped after this long.
    timeout = 300
    disable_nagle_algorithm = True
    api: APIServer  # set on the subclass made per APIServer

    # --- plumbing --------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.api._connections.add(self.connection)

    def finish(self) -> None:
        self.api._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def address_string(self) -> str:
        return self.client_address[0] if isinstance(self.client_address, tuple) else "unix"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Malformed requests caught by the stdlib parser, answered as a Status."""
        err = APIError(message or http.HTTPStatus(code).phrase)
        err.code = code
        err.reason = "BadRequest" if code == 400 else http.HTTPStatus(code).phrase.replace(
            " ", "")
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._write(Response.error(err), head_only=False)

    # --- requests --------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        started = time.monotonic()
        self.api._busy_inc(1)
        code = 0
        try:
            split = urlsplit(self.path)
            try:
                body = self._read_body()
            except APIError as e:
                self.close_connection = True
                answer: Response | Stream = Response.error(e)
            else:
                req = Request(self.command, unquote(split.path) or "/",
                              dict(parse_qsl(split.query, keep_blank_values=True)),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                answer = self.api.router.answer(req, self.server.auth)  # type: ignore[attr-defined]
            if isinstance(answer, Stream):
                code = answer.code
                self._stream(answer)
            else:
                code = answer.code
                self._write(answer, head_only=self.command == "HEAD")
        except OSError:
            self.close_connection = True
        except Exception:  # a bug while streaming: the client sees the stream end
            log.exception("internal error serving %s %s", self.command, self.path)
            self.close_connection = True
        finally:
            if self.api._stopping.is_set():
                self.close_connection = True
            self.api._busy_inc(-1)
            if self.api.log_requests:
                access_log.info("%s %s %s %d %.1fms", self.address_string(), self.command,
                                urlsplit(self.path).path, code,
                                (time.monotonic() - started) * 1000)

    def _read_body(self) -> bytes:
        limit = self.api.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        raw_length = self.headers.get("Content-Length")
        if not raw_length:
            return b""
        try:
            length = int(raw_length)
        except ValueError as e:
            raise BadRequest(f"invalid Content-Length {raw_length!r}") from e
        if length < 0:
            raise BadRequest(f"invalid Content-Length {raw_length!r}")
        if length > limit:
            if length <= limit + DRAIN_LIMIT:
                # Read it away, so the client (still sending) sees the 413 rather than a
                # connection reset by unread data.
                left = length
                while left > 0 and (chunk := self.rfile.read(min(left, 1 << 16))):
                    left -= len(chunk)
            raise RequestEntityTooLarge(f"the request body is too large: {length} bytes, "
                                        f"the limit is {limit}")
        data = self.rfile.read(length)
        if len(data) != length:
            raise BadRequest("the request body ended early")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as e:
                raise BadRequest("malformed chunked request body") from e
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise RequestEntityTooLarge(f"the request body is too large: over {limit} "
                                            "bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _write(self, response: Response, *, head_only: bool) -> None:
        head = [_status_line(response.code),
                f"Content-Type: {response.content_type}\r\n".encode(),
                f"Content-Length: {len(response.body)}\r\n".encode(),
                b"Cache-Control: no-cache, private\r\n"]
        if self.close_connection:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        if not head_only:
            head.append(response.body)
        self.wfile.write(b"".join(head))

    def _stream(self, stream: Stream) -> None:
        """Chunked transfer: each chunk flushed as it comes; the stream ends with the
        generator, the peer leaving, or shutdown (a finite stream only with the generator
        or the peer)."""
        endless = not stream.finite
        if endless:
            self.api._streams.add(stream)
            self.api._busy_inc(-1)  # a stream is not a request in flight: shutdown ends it
        try:
            self.wfile.write(b"".join([
                _status_line(stream.code),
                f"Content-Type: {stream.content_type}\r\n".encode(),
                b"Transfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n\r\n"]))
            for chunk in stream.chunks:
                if chunk is None:
                    if self._peer_gone():
                        self.close_connection = True
                        return
                    continue
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        finally:
            if endless:
                self.api._busy_inc(1)
                self.api._streams.discard(stream)
            with contextlib.suppress(Exception):
                stream.close()

    def _peer_gone(self) -> bool:
        """True when the client closed its side (a readable socket with nothing to read)."""
        sock = self.connection
        if isinstance(sock, ssl.SSLSocket):
            return False  # cannot peek through TLS; the next write finds out
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


# socketserver's default listen backlog is 5: hundreds of watchers connecting at once would
# be refused.
BACKLOG = 1024


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = BACKLOG
    auth: Any = "default"  # this listener's auth hook ("default": the server's)

    def __init__(self, address: tuple[str, int], handler: type[Handler],
                 ssl_context: ssl.SSLContext | None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.ssl_context = ssl_context
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # the handshake happens on first read, in the connection's own thread
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = BACKLOG
    auth: Any = "default"

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("unix connection failed", exc_info=True)


def bind_unix(path: str, handler: type[Handler], mode: int) -> UnixServer:
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
        # TCP_NODELAY does not exist on a unix socket (setsockopt fails: every connection
        # was dropped in setup).
        return UnixServer(path, type(handler.__name__, (handler,),
                                     {"disable_nagle_algorithm": False}))
    finally:
        os.umask(old)


def start_thread(server: socketserver.BaseServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=name, daemon=True)
    thread.start()
    return thread
