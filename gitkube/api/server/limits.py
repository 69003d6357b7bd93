"""What one client may cost the API server before it has proved who it is.

Everything here bounds the transport *before authentication*: how large and how many request
headers, how long a connection may take to send them, how many connections one peer and all
peers together may hold open. Each connection is a thread, so the connection caps are also
the bound on the server's threads. Upstream's figures where it has one: ``MaxHeaderBytes``
is 1 MiB there (Go's default), ``IdleTimeout`` 90 s and ``ReadHeaderTimeout`` 32 s
(k8s.io/apiserver ``secure_serving.go``), the body limit 3 MiB (``--max-request-bytes``);
gitkube's header cap is smaller because a thread per connection buffers it.

A connection over a cap is answered without a thread of its own: **429 TooManyRequests**
when its own peer holds too many, **503 ServiceUnavailable** when the listener is full, both
with ``Retry-After`` (gitkube/api/server/rejecter.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The transport's bounds; every field has upstream's value or a safe default."""

    max_body_bytes: int = 3 * MiB           # 413 beyond; chunked bodies counted as they come
    max_header_bytes: int = 64 * 1024       # request line + headers; 431 beyond
    max_headers: int = 100                  # header fields; 431 beyond
    max_connections: int = 2048             # per listener; 503 beyond
    max_connections_per_client: int = 1024  # per peer address and listener; 429 beyond
    idle_timeout: float = 90.0              # a keep-alive connection waiting for a request
    header_timeout: float = 32.0            # accept (or first byte) to the end of the head
    body_timeout: float = 60.0              # the head to the end of the body
    write_timeout: float = 300.0            # a peer that stops reading an answer or stream
    retry_after: int = 1                    # seconds, in 429/503 answers


@dataclass(frozen=True)
class Refusal:
    """Why a connection is turned away, as the Status it gets."""

    code: int
    reason: str
    message: str


def refusal(open_total: int, open_for_client: int, limits: Limits) -> Refusal | None:
    """The refusal for one more connection when ``open_total`` are open on the listener and
    ``open_for_client`` of them from the same peer; None when it may be served. The peer's
    own cap is checked first: a peer that alone fills the listener is told to slow down."""
    if open_for_client >= limits.max_connections_per_client:
        return Refusal(429, "TooManyRequests",
                       f"too many connections from this client ({open_for_client} open, the "
                       f"limit is {limits.max_connections_per_client}); retry later")
    if open_total >= limits.max_connections:
        return Refusal(503, "ServiceUnavailable",
                       f"the server has too many connections ({open_total} open, the limit "
                       f"is {limits.max_connections}); retry later")
    return None


def client_key(address: Any) -> str:
    """The peer a connection counts against: its IP address; ``unix`` for a unix socket."""
    if isinstance(address, tuple) and address:
        return str(address[0])
    return "unix"


class ConnectionLimiter:
    """Open connections per listener and per peer; ``admit`` and ``release`` pair up."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._lock = threading.Lock()
        self._total = 0
        self._by_client: dict[str, int] = {}

    def admit(self, client: str) -> Refusal | None:
        """Count one more connection from ``client`` and return None, or return the refusal
        (and count nothing)."""
        with self._lock:
            mine = self._by_client.get(client, 0)
            refused = refusal(self._total, mine, self.limits)
            if refused is None:
                self._total += 1
                self._by_client[client] = mine + 1
            return refused

    def release(self, client: str) -> None:
        """One connection admitted for ``client`` has closed."""
        with self._lock:
            self._total -= 1
            left = self._by_client.get(client, 1) - 1
            if left > 0:
                self._by_client[client] = left
            else:
                self._by_client.pop(client, None)

    @property
    def open(self) -> int:
        with self._lock:
            return self._total
