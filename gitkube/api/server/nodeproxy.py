"""exec, attach, port-forward and logs of pods on another machine's kubelet: the API server
proxies them to that node's kubelet server, as upstream's API server does.

A kubelet run with ``gitkube agent kubelet --streams-listen HOST:PORT`` serves the same
``pods/exec``, ``pods/attach``, ``pods/portforward`` and ``pods/log`` paths over TLS
(gitkube/daemon/kubeletserver.py) and publishes on its Node where it listens
(``ENDPOINT_ANNOTATION``: ``HOST:PORT``) and the SHA-256 of its certificate
(``CERT_ANNOTATION``). Authenticated both ways:

- the API server pins that certificate: a kubelet whose certificate differs from the one
  its Node names is refused (the Node was written with the node's token);
- the kubelet accepts only a client certificate signed by the daemon's CA for client
  authentication, which only the API server holds (``tls.ensure_client_certificate``).

``NodeStreams`` (a ``StreamsProvider``) and ``NodeLogs`` (a ``LogsProvider``) send a pod on
such a node there and every other pod to the local provider they wrap.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from gitkube.api.client import Client
from gitkube.api.server.logs import LogOptions, LogsProvider
from gitkube.api.server.nodestreams import Connector, StreamsProvider
from gitkube.errors import BadRequest, GitkubeError, NotFound
from gitkube.runtime.base import ProcessStream, StreamOptions

Obj = dict[str, Any]
ENDPOINT_ANNOTATION = "gitkube.io/kubelet-streams"
CERT_ANNOTATION = "gitkube.io/kubelet-serving-cert-sha256"
CONNECT_TIMEOUT = 10.0


class NodeDialer:
    """TLS connections to nodes' kubelet servers, with the API server's client certificate,
    checked against the certificate each Node names."""

    def __init__(self, client: Client, credentials: Callable[[], tuple[Path, Path]]):
        """``credentials()``: the client certificate and key, made on first use (a daemon
        that never proxies needs none)."""
        self.client = client
        self._credentials = credentials
        self._ctx: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def _context(self, node: str) -> ssl.SSLContext:
        with self._lock:
            if self._ctx is None:
                try:
                    cert, key = self._credentials()
                except GitkubeError as e:
                    raise BadRequest(f"cannot reach the kubelet of node {node}: "
                                     f"{e.message}") from e
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE  # pinned by fingerprint in connect()
                ctx.load_cert_chain(str(cert), str(key))
                self._ctx = ctx
            return self._ctx

    def endpoint(self, pod: Obj) -> tuple[str, int, str] | None:
        """(host, port, certificate sha256) of the kubelet server of ``pod``'s node; None
        when its node serves none (the local kubelet's, or a node without one)."""
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return None
        try:
            node = self.client.get("v1", "Node", None, str(node_name))
        except NotFound:
            return None
        notes = (node.get("metadata") or {}).get("annotations") or {}
        where, pin = notes.get(ENDPOINT_ANNOTATION), notes.get(CERT_ANNOTATION)
        if not where or not pin:
            return None
        host, _, port = str(where).rpartition(":")
        try:
            return host.strip("[]"), int(port), str(pin)
        except ValueError:
            return None

    def connect(self, node: str, host: str, port: int, pin: str) -> socket.socket:
        """A TLS connection to a kubelet server whose certificate is ``pin``."""
        try:
            raw = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as e:
            raise BadRequest(f"cannot reach the kubelet of node {node} at {host}:{port}: "
                             f"{e}") from e
        try:
            sock = self._context(node).wrap_socket(raw)
        except (OSError, ssl.SSLError) as e:
            raw.close()
            raise BadRequest(f"TLS with the kubelet of node {node} failed: {e}") from e
        der = sock.getpeercert(binary_form=True) or b""
        if hashlib.sha256(der).hexdigest() != pin.lower():
            sock.close()
            raise BadRequest(f"the kubelet of node {node} at {host}:{port} presented a "
                             "certificate other than the one its Node names; refusing it")
        return sock


def _path(pod: Obj, sub: str, query: list[tuple[str, str]]) -> str:
    meta = pod["metadata"]
    return (f"/api/v1/namespaces/{quote(str(meta.get('namespace') or 'default'))}/pods/"
            f"{quote(str(meta['name']))}/{sub}?{urlencode(query)}")


def _pump(port: Any, end: socket.socket) -> None:
    """Copy between a TunnelPort and one end of a socket pair, each direction half-closing
    the other side at its end; both ended, both are closed."""
    left = [2]
    lock = threading.Lock()

    def ended() -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        port.close()
        with contextlib.suppress(OSError):
            end.close()

    def down() -> None:
        with contextlib.suppress(OSError, GitkubeError):
            while data := port.recv():
                end.sendall(data)
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_WR)
        ended()

    def up() -> None:
        with contextlib.suppress(OSError, GitkubeError):
            while data := end.recv(65536):
                port.sendall(data)
            port.shutdown_write()
        ended()

    threading.Thread(target=down, name="node-port-down", daemon=True).start()
    threading.Thread(target=up, name="node-port-up", daemon=True).start()


class NodeStreams:
    """A ``StreamsProvider``: pods on a node with a kubelet server through it (module
    docstring), the rest through ``local``."""

    def __init__(self, local: StreamsProvider, dialer: NodeDialer):
        self.local = local
        self.dialer = dialer

    def _remote(self, pod: Obj) -> Callable[[], socket.socket] | None:
        found = self.dialer.endpoint(pod)
        if found is None:
            return None
        host, port, pin = found
        node = str(pod["spec"]["nodeName"])
        return lambda: self.dialer.connect(node, host, port, pin)

    def exec(self, pod: Obj, container: str, command: list[str],
             options: StreamOptions) -> ProcessStream:
        dial = self._remote(pod)
        if dial is None:
            return self.local.exec(pod, container, command, options)
        return self._process(dial, pod, "exec", container, command, options)

    def attach(self, pod: Obj, container: str, options: StreamOptions) -> ProcessStream:
        dial = self._remote(pod)
        if dial is None:
            return self.local.attach(pod, container, options)
        return self._process(dial, pod, "attach", container, [], options)

    @staticmethod
    def _process(dial: Callable[[], socket.socket], pod: Obj, sub: str, container: str,
                 command: list[str], options: StreamOptions) -> ProcessStream:
        from gitkube.api.stream_client import RemoteProcess

        query = [("container", container)] + [("command", c) for c in command]
        query += [(k, "true") for k, on in (("stdin", options.stdin),
                                            ("stdout", options.stdout),
                                            ("stderr", options.stderr),
                                            ("tty", options.tty)) if on]
        return RemoteProcess(dial, _path(pod, sub, query))

    def connector(self, pod: Obj) -> Connector:
        dial = self._remote(pod)
        if dial is None:
            return self.local.connector(pod)
        from gitkube.api.server.tunnelport import TunnelPort

        def connect(port: int) -> socket.socket:
            remote = TunnelPort(dial, _path(pod, "portforward", []), port)
            ours, theirs = socket.socketpair()
            _pump(remote, theirs)
            return ours

        return connect


class NodeLogs:
    """A ``LogsProvider``: the logs of pods on a node with a kubelet server from it, the
    rest from ``local``."""

    def __init__(self, local: LogsProvider, dialer: NodeDialer):
        self.local = local
        self.dialer = dialer

    def __call__(self, pod: Obj, options: LogOptions) -> Iterator[str]:
        found = self.dialer.endpoint(pod)
        if found is None:
            return self.local(pod, options)
        return self._remote(pod, options, found)

    def _remote(self, pod: Obj, options: LogOptions,
                found: tuple[str, int, str]) -> Iterator[str]:
        host, port, pin = found
        node = str(pod["spec"]["nodeName"])
        sock = self.dialer.connect(node, host, port, pin)
        conn = http.client.HTTPConnection(host, port)
        conn.sock = sock
        conn.request("GET", _path(pod, "log", options.query()))
        response = conn.getresponse()
        if response.status != 200:
            body = response.read().decode(errors="replace")
            conn.close()
            raise BadRequest(f"the kubelet of node {node}: {body[:500]}")
        return _RemoteLines(conn, sock, response)


class _RemoteLines:
    """A node's log answer line by line; ``close()`` from any thread ends a waiting read."""

    def __init__(self, conn: http.client.HTTPConnection, sock: socket.socket,
                 response: http.client.HTTPResponse):
        self._conn, self._sock, self._response = conn, sock, response

    def __iter__(self) -> _RemoteLines:
        return self

    def __next__(self) -> str:
        try:
            line = self._response.readline()
        except (OSError, ValueError, http.client.HTTPException):
            line = b""
        if not line:
            self.close()
            raise StopIteration
        return line.decode(errors="replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._conn.close()


__all__ = ["CERT_ANNOTATION", "ENDPOINT_ANNOTATION", "NodeDialer", "NodeLogs", "NodeStreams"]
