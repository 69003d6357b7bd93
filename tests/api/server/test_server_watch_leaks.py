"""Watches end when their client goes: over plain HTTP and over TLS, a watch whose client
closed its connection is noticed while nothing else happens (no event has to reach it), and
its thread and socket are released. Also: bytes a client sends while its TLS watch runs
are kept for the next request on that connection."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Served, start
from rawhttp import connect, request

from gitkube.store import Store

WATCH = "/api/v1/namespaces/default/pods?watch=true"
N = 10
# the server looks for its peer once a second while a watch is idle; a few of those
RELEASED_WITHIN = 10.0


def conn_threads() -> int:
    """The server's connection threads (one per open connection)."""
    return sum(1 for t in threading.enumerate() if t.name == "gitkube-api-conn")


def sockets() -> int:
    """This process's open sockets (the test's clients and the server's connections)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor among them)
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
    threads, socks = conn_threads(), sockets()
    watches = [open_watch(port, ctx) for _ in range(N)]
    assert settle(lambda: conn_threads() == threads + N, RELEASED_WITHIN)
    for sock in watches:
        sock.close()
    # nothing is written to the watches meanwhile: the server must notice on its own
    assert settle(lambda: conn_threads() == threads and sockets() == socks,
                  RELEASED_WITHIN), (conn_threads() - threads, sockets() - socks)
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
