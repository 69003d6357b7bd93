"""UDP forwarding: one session per client address, closed after ``idle_timeout``.

The listener socket receives a client's datagram; the client's session (a connected socket
to the backend the ``Balancer`` chose) sends it on; the backend's answers come back through
the listener socket, so the client sees them from the address it wrote to. A session whose
backend reports an error (ICMP port unreachable) is dropped, and the next datagram chooses
again. Datagrams that arrive while a session is being opened are queued (bounded).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, cast

from gitkube.agents.proxy.balancer import Balancer
from gitkube.agents.proxy.table import Backend

log = logging.getLogger("gitkube.proxy")
Address = tuple[str, int]
_QUEUE_LIMIT = 64


class _Session(asyncio.DatagramProtocol):
    def __init__(self, listener: UdpListener, client: Address, backend: Backend):
        self.listener = listener
        self.client = client
        self.backend = backend
        self.transport: asyncio.DatagramTransport | None = None
        self.queue: list[bytes] = []
        self.last = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        for data in self.queue:
            self.transport.sendto(data)
        self.queue.clear()

    def send(self, data: bytes) -> None:
        self.last = time.monotonic()
        if self.transport is None:
            if len(self.queue) < _QUEUE_LIMIT:
                self.queue.append(data)
        else:
            self.transport.sendto(data)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.last = time.monotonic()
        out = self.listener.transport
        if out is not None:
            out.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        log.debug("proxy %s: %s: %s", self.listener.name, self.backend, exc)
        self.listener.balancer.failed(self.backend)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def close(self) -> None:
        self.listener.sessions.pop(self.client, None)
        if self.transport is not None:
            self.transport.close()


class UdpListener(asyncio.DatagramProtocol):
    """Receives on ``address``:``port`` and forwards per client session."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, address: str, port: int,
                 balancer: Balancer, *, idle_timeout: float = 30.0):
        self.loop = loop
        self.name = name
        self.address = address
        self.port = port
        self.balancer = balancer
        self.idle_timeout = idle_timeout
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[Address, _Session] = {}
        self.tasks: set[asyncio.Task[None]] = set()  # sessions being opened

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        await self.loop.create_datagram_endpoint(lambda: self, sock=sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        session = self.sessions.get(addr)
        if session is not None and session.backend not in self.balancer.backends:
            session.close()  # its backend went away: choose again
            session = None
        if session is None:
            candidates = self.balancer.candidates(addr[0])
            if not candidates:
                return
            backend = candidates[0]
            self.balancer.connected(addr[0], backend)
            session = _Session(self, addr, backend)
            self.sessions[addr] = session
            task = self.loop.create_task(self._open(session))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        session.send(data)

    async def _open(self, session: _Session) -> None:
        try:
            await self.loop.create_datagram_endpoint(
                lambda: session, remote_addr=(session.backend.ip, session.backend.port))
        except OSError as e:
            log.debug("proxy %s: %s: %s", self.name, session.backend, e)
            self.balancer.failed(session.backend)
            session.close()

    def expire(self) -> None:
        """Close sessions idle for longer than ``idle_timeout``."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if now - session.last > self.idle_timeout:
                session.close()

    def close(self, *, connections: bool = False) -> None:
        """Stop receiving (the port then answers ICMP port unreachable); sessions go too."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        for session in list(self.sessions.values()):
            session.close()

    def describe(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "protocol": "UDP",
                "sessions": len(self.sessions)}


__all__ = ["UdpListener"]
