"""The Kubernetes-shaped REST API over any ``Client`` (usually a ``LocalClient``).

The seam for the daemon::

    from gitkube.api import LocalClient
    from gitkube.api.server import APIServer, Attributes, Identity

    class TokenAuth:                       # any object with these two methods (auth.Auth)
        def authenticate(self, headers):   # headers: dict, lower-cased names
            token = headers.get("authorization", "").removeprefix("Bearer ")
            return Identity("admin", ("admin",)) if token == SECRET else None   # None -> 401
        def authorize(self, identity, verb, resource: Attributes):
            return "admin" in identity.groups or resource.read_only             # False -> 403

    server = APIServer(LocalClient(store), auth=TokenAuth(), log_requests=True)
    port = server.serve_tcp("127.0.0.1", 0, ssl_context=ctx)   # returns the bound port
    server.serve_unix(state_dir / "gitkube.sock", auth=None)    # mode 0600; no token needed
    ...
    server.shutdown()      # from any thread: stop accepting, end watches, close sockets

``serve_*`` start background threads and return at once; both may be used on one server,
several times. Each listener uses the server's ``auth`` unless given its own (``auth=None``
on the unix socket trusts its file permissions; a TLS listener can require tokens).
``/healthz``, ``/readyz``, ``/livez`` answer ``ok`` without authentication. Request logs go
to the ``gitkube.api.server.access`` logger (method, path, code, time; never headers, so
never tokens). ``logs=`` is the pods/log provider (``gitkube.api.server.logs``: a
``RuntimeLogs`` over the kubelet's container runtime; default: none, every request 404);
``streams=`` the provider of pods/exec, pods/attach and pods/portforward
(``gitkube.api.server.nodestreams``: a ``RuntimeStreams`` over the kubelet's container
runtime; default: none, every such request 404), served over WebSocket (docs/API.md);
``git_version=`` gitkube's version for ``/version`` (a bare ``0.1.0`` becomes
``v1.32.0-gitkube.0.1.0``; a string starting with ``v`` is used as the gitVersion itself);
``max_body_bytes=`` the request body limit (413 beyond, default 3 MiB); ``limits=`` every
bound of the transport (gitkube/api/server/limits.py: header size and count, timeouts,
connection caps per client and per listener). The auth hooks are
called from many connection threads at once: keep them thread-safe. The other side is
``gitkube.api.http_client.HTTPClient(url | socket path, token=, ca=)``, the same Client
protocol over this API. See docs/HTTP_API.md for paths, verbs and semantics.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from gitkube.api.client import Client
from gitkube.api.server.app import Router
from gitkube.api.server.auth import Attributes, Auth, Identity
from gitkube.api.server.limits import Limits
from gitkube.api.server.logs import LogOptions, LogsProvider, RuntimeLogs, no_logs
from gitkube.api.server.messages import Stream
from gitkube.api.server.nodestreams import RuntimeStreams, StreamsProvider
from gitkube.api.server.rejecter import Rejecter
from gitkube.api.server.transport import TCPServer, bind_unix, start_thread

# Kubernetes' own limit for a request body is 3 MiB.
DEFAULT_MAX_BODY = Limits().max_body_bytes

__all__ = ["DEFAULT_MAX_BODY", "APIServer", "Attributes", "Auth", "Identity", "Limits",
           "LogOptions", "LogsProvider", "RuntimeLogs", "RuntimeStreams", "StreamsProvider"]


class APIServer:
    """Serves the REST API of ``client`` on any number of TCP and unix listeners."""

    def __init__(self, client: Client, *, auth: Auth | None = None,
                 log_requests: bool = False, logs: LogsProvider | None = None,
                 max_body_bytes: int | None = None, limits: Limits | None = None,
                 git_version: str = "dev", streams: StreamsProvider | None = None):
        self.client = client
        self.auth = auth
        self.log_requests = log_requests
        limits = limits or Limits()
        if max_body_bytes is not None:
            limits = replace(limits, max_body_bytes=max_body_bytes)
        self.limits = limits
        self.max_body_bytes = limits.max_body_bytes
        self._stopping = threading.Event()
        provider: LogsProvider = logs if logs is not None else no_logs
        self.router = Router(client, auth=auth, logs=provider,
                             stopping=self._stopping, git_version=git_version,
                             streams=streams)
        self._servers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._connections: set[Any] = set()
        self._streams: set[Stream] = set()
        self._sessions: set[Any] = set()  # WebSocket loops (exec, attach, port-forward)
        self._busy = 0
        self._busy_cond = threading.Condition()
        self._unix_paths: list[Path] = []
        self._rejecter = Rejecter()

    def _busy_inc(self, delta: int) -> None:
        with self._busy_cond:
            self._busy += delta
            if self._busy == 0:
                self._busy_cond.notify_all()

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0,
                  ssl_context: ssl.SSLContext | None = None, *,
                  auth: Auth | Literal["default"] | None = "default") -> int:
        """Listen on ``host:port`` (0: a free port) in a background thread; returns the
        bound port. With ``ssl_context`` connections are TLS (handshake per connection).
        ``auth`` overrides the server's hook on this listener (None: allow everything)."""
        self._check_running()
        server = TCPServer((host, port), self, ssl_context)
        server.auth = auth
        self._servers.append(server)
        self._threads.append(start_thread(server, f"gitkube-api-tcp-{port}"))
        return int(server.server_address[1])

    def serve_unix(self, path: str | Path, *, mode: int = 0o600,
                   auth: Auth | Literal["default"] | None = "default") -> Path:
        """Listen on a unix socket at ``path`` (created with ``mode``; a stale socket file is
        replaced) in a background thread. ``auth`` overrides the server's hook on this
        listener, e.g. None to trust the socket's file permissions."""
        self._check_running()
        path = Path(path)
        server = bind_unix(str(path), self, mode)
        server.auth = auth
        self._servers.append(server)
        self._unix_paths.append(path)
        self._threads.append(start_thread(server, "gitkube-api-unix"))
        return path

    def _check_running(self) -> None:
        if self._stopping.is_set():
            raise RuntimeError("this APIServer was shut down")

    def shutdown(self, grace: float = 5.0) -> None:
        """Stop accepting, end every watch, log stream and WebSocket session, let
        requests in flight finish (up to ``grace`` seconds), then close all connections.
        Safe from any thread, and more than once."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._rejecter.stop()
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                stream.close()
        for session in list(self._sessions):
            with contextlib.suppress(Exception):
                session.stop()
        deadline = time.monotonic() + grace
        with self._busy_cond:
            while self._busy > 0 and time.monotonic() < deadline:
                self._busy_cond.wait(max(0.0, deadline - time.monotonic()))
        # WebSocket sessions end once their Close is written (and answered, briefly)
        while self._sessions and time.monotonic() < deadline:
            time.sleep(0.02)
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=grace)
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                path.unlink()

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def __enter__(self) -> APIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
