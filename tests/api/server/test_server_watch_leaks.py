"""Watches end when their client goes: over plain HTTP and over TLS, a watch whose client
closed its connection is noticed while nothing else happens (no event has to reach it), and
its thread and socket are released. Also: bytes a client sends while its TLS watch runs
are kept for the next request on that connection."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitkube.store import Store
from tests.api.server.rawhttp import connect, request
from tests.api.server.serving import Served, start

WATCH = "/api/v1/namespaces/default/pods?watch=true"
N = 10
# the server looks for its peer once a second while a watch is idle; a few of those
RELEASED_WITHIN = 10.0


def conn_threads() -> int:
    """The server's connection threads (one per open connection)."""
    return sum(1 for t in threading.enumerate() if t.name == "gitkube-api-conn")


def server_sockets(port: int) -> int:
    """Open TCP sockets on the server's side of ``port`` (accepted connections, whatever
    their state but TIME_WAIT, CLOSE-WAIT included); the listener not counted."""
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state not in ("0A", "06"):
                count += 1  # 0A: LISTEN, 06: TIME_WAIT (nothing is held open)
    return count


def settle(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture(params=["http", "tls"])
def listener(request: pytest.FixtureRequest, store: Store,
             tmp_path: Path) -> Iterator[tuple[Served, int, ssl.SSLContext | None]]:
    served = start(store)
    try:
        if request.param == "http":
            yield served, served.port, None
        else:
            from gitkube.daemon.tls import ensure_certificates, server_context

            files = ensure_certificates(tmp_path / "tls", ["127.0.0.1"])
            port = served.server.serve_tcp("127.0.0.1", 0,
                                           ssl_context=server_context(files.cert, files.key))
            yield served, port, ssl.create_default_context(cafile=str(files.ca))
    finally:
        served.server.shutdown()


def open_watch(port: int, ctx: ssl.SSLContext | None) -> socket.socket:
    """A watch on pods, returned once its answer's head arrived (the stream is open)."""
    sock = connect(port)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    sock.sendall(request("GET", WATCH))
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        assert data, "the server closed the watch"
        head += data
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


def test_watches_whose_clients_left_release_threads_and_sockets(
        listener: tuple[Served, int, ssl.SSLContext | None]) -> None:
    served, port, ctx = listener
    threads, socks = conn_threads(), server_sockets(port)
    watches = [open_watch(port, ctx) for _ in range(N)]
    assert settle(lambda: conn_threads() == threads + N, RELEASED_WITHIN)
    assert server_sockets(port) == socks + N
    for sock in watches:
        sock.close()
    # nothing is written to the watches meanwhile: the server must notice on its own
    assert settle(lambda: conn_threads() == threads and server_sockets(port) == socks,
                  RELEASED_WITHIN), (conn_threads() - threads, server_sockets(port) - socks)
    # and it still serves watches and their events
    sock = open_watch(port, ctx)
    try:
        served.local.create({"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": "after", "namespace": "default"},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        data = b""
        while b'"after"' not in data:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    finally:
        sock.close()


def test_a_request_sent_during_a_tls_watch_is_answered_after_it(
        listener: tuple[Served, int, ssl.SSLContext | None]) -> None:
    _, port, ctx = listener
    sock = connect(port)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(request("GET", WATCH + "&timeoutSeconds=3"))
        time.sleep(1.5)  # the watch is open and idle: the server looks at the socket
        sock.sendall(request("GET", "/version"))
        data = b""
        while b"gitVersion" not in data:
            chunk = sock.recv(65536)
            assert chunk, data[-300:]
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.count(b"HTTP/1.1 200") == 2
