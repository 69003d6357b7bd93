"""The WebSocket machinery of exec and port-forward in process, over TLS, without Podman: the
node side is local processes and loopback ports (``LocalNode``, a provider like the daemon's
RuntimeStreams, with a real process behind each stream). Driven by the official Python
client's ``stream()`` and ``portforward()``; shutdown and vanished clients leave no thread."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Message, Request

from gitkube.api.local import LocalClient
from gitkube.api.server import APIServer
from gitkube.daemon.tls import ensure_certificates, server_context
from gitkube.runtime.base import StreamOptions
from gitkube.store.memory import MemoryStore

kubernetes = pytest.importorskip("kubernetes")
from kubernetes.stream import portforward, stream  # noqa: E402


class LocalProcess:
    """A ProcessStream over a local subprocess's pipes."""

    def __init__(self, command: list[str]):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._items: list[tuple[int, bytes] | None] = []
        self._cond = threading.Condition()
        self._ended = 0
        self._readers = [threading.Thread(target=self._pump, args=(n, f), daemon=True)
                         for n, f in ((1, self.proc.stdout), (2, self.proc.stderr))]
        for reader in self._readers:
            reader.start()

    def _pump(self, channel: int, pipe: Any) -> None:
        while data := pipe.read1(65536):
            with self._cond:
                self._items.append((channel, data))
                self._cond.notify_all()
        with self._cond:
            self._items.append(None)
            self._cond.notify_all()

    def read(self) -> tuple[int, bytes] | None:
        with self._cond:
            while True:
                if self._items:
                    item = self._items.pop(0)
                    if item is not None:
                        return item
                    self._ended += 1
                    continue
                if self._ended == 2:
                    return None
                self._cond.wait()

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        pass

    def exit_code(self, timeout: float = 5.0) -> int | None:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


class LocalNode:
    """The streams provider: local processes, loopback ports."""

    def exec(self, pod: Any, container: str, command: list[str],
             options: StreamOptions) -> LocalProcess:
        return LocalProcess(command)

    def attach(self, pod: Any, container: str, options: StreamOptions) -> LocalProcess:
        return LocalProcess(["cat"])

    def connector(self, pod: Any) -> Any:
        return lambda port: socket.create_connection(("127.0.0.1", port), timeout=5)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[APIServer, Any]]:
    client = LocalClient(MemoryStore())
    client.create({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "p", "namespace": "default"},
                   "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "x"}]}})
    tls = ensure_certificates(tmp_path / "tls", ["127.0.0.1"])
    server = APIServer(client, streams=LocalNode())
    port = server.serve_tcp("127.0.0.1", 0, ssl_context=server_context(tls.cert, tls.key))
    config = kubernetes.client.Configuration()
    config.host = f"https://127.0.0.1:{port}"
    config.ssl_ca_cert = str(tls.ca)
    api = kubernetes.client.ApiClient(config)
    try:
        yield server, kubernetes.client.CoreV1Api(api)
    finally:
        api.close()
        server.shutdown()


def _session_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("exec-", "attach-", "portforward-"))]


def test_exec_over_tls_carries_10_mib_both_ways_and_the_exit_code(
        served: tuple[APIServer, Any]) -> None:
    _, core = served
    both = stream(core.connect_get_namespaced_pod_exec, "p", "default",
                  command=["sh", "-c", "echo out; echo err >&2"], stderr=True, stdin=False,
                  stdout=True, tty=False)
    assert sorted(both.splitlines()) == ["err", "out"]  # two pipes: either may come first
    resp = stream(core.connect_get_namespaced_pod_exec, "p", "default",
                  command=["sh", "-c", "md5sum; exit 9"], stderr=True, stdin=True,
                  stdout=True, tty=False, binary=True, _preload_content=False)
    payload = bytes(range(256)) * (40 * 1024)  # 10 MiB
    for i in range(0, len(payload), 1 << 20):
        resp.write_stdin(payload[i:i + (1 << 20)])
    resp.close_channel(0)
    resp.run_forever(timeout=60)
    assert resp.read_stdout().split()[0].decode() == hashlib.md5(payload).hexdigest()
    assert resp.returncode == 9
    deadline = time.monotonic() + 10
    while _session_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_threads() == []


def test_portforward_channels_reach_a_loopback_port(served: tuple[APIServer, Any]) -> None:
    _, core = served
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def echo_once() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    threading.Thread(target=echo_once, daemon=True).start()
    pf = portforward(core.connect_get_namespaced_pod_portforward, "p", "default",
                     ports=str(port))
    sock = pf.socket(port)
    sock.setblocking(True)
    sock.sendall(b"hello")
    got = b""
    while len(got) < 5:
        got += sock.recv(100)
    assert got == b"HELLO"
    sock.close()
    listener.close()


def test_portforward_without_a_subprotocol_speaks_the_binary_channels(
        served: tuple[APIServer, Any]) -> None:
    """As Kubernetes: a client that offers no subprotocol (kr8s does so) gets the binary
    channel protocol, and a 101 that names none; the pod's bytes come in messages no larger
    than the kubelet's."""
    _, core = served
    config = core.api_client.configuration
    api_port = int(config.host.rsplit(":", 1)[1])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def echo_once() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    threading.Thread(target=echo_once, daemon=True).start()
    context = ssl.create_default_context(cafile=config.ssl_ca_cert)
    ws = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection(("127.0.0.1", api_port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(ws.send(Request(
            host="127.0.0.1",
            target=f"/api/v1/namespaces/default/pods/p/portforward?ports={port}")))
        messages: list[bytes] = []
        accepted: list[AcceptConnection] = []
        part = b""

        def pump() -> None:  # whole messages (the server sends one in fragments)
            nonlocal part
            ws.receive_data(sock.recv(65536))
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    accepted.append(event)
                elif isinstance(event, BytesMessage):
                    part += bytes(event.data)
                    if event.message_finished:
                        messages.append(part)
                        part = b""

        while not accepted:
            pump()
        assert accepted[0].subprotocol is None
        # the port, little-endian, first on the data and the error channel
        while len(messages) < 2:
            pump()
        assert sorted(messages) == sorted([b"\x00" + port.to_bytes(2, "little"),
                                           b"\x01" + port.to_bytes(2, "little")])
        payload = b"hello" * 40_000  # 200 kB, more than one recv of the pod's side
        sock.sendall(ws.send(Message(data=b"\x00" + payload)))
        while len(b"".join(m[1:] for m in messages[2:])) < len(payload):
            pump()
        assert b"".join(m[1:] for m in messages[2:]) == payload.upper()
        assert all(m[0] == 0 for m in messages[2:])
        # no message larger than the kubelet's (clients such as kr8s refuse over 64 KiB)
        assert max(len(m) for m in messages) <= 1 + 32 * 1024
    listener.close()


def test_shutdown_ends_open_sessions_and_their_threads(
        served: tuple[APIServer, Any]) -> None:
    server, core = served
    resp = stream(core.connect_get_namespaced_pod_exec, "p", "default", command=["cat"],
                  stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    resp.write_stdin("still here\n")
    resp.update(timeout=5)
    assert _session_threads()
    started = time.monotonic()
    server.shutdown(grace=2)
    assert time.monotonic() - started < 10
    resp.run_forever(timeout=10)
    assert not resp.is_open()
    deadline = time.monotonic() + 10
    while _session_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_threads() == []
