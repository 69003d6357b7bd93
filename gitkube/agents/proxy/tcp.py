"""TCP forwarding on asyncio protocols (no streams: fewer copies and wake-ups).

A ``TcpListener`` accepts on one address; each accepted connection pauses reading, asks the
listener's ``Balancer`` for candidates and connects to them in order (each attempt bounded
by ``connect_timeout``; a failure marks the backend and tries the next). When one answers,
bytes flow both ways with back-pressure (a side whose peer's send buffer is full stops
reading) and half-closes are passed on. When none answers the client is reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Any

from gitkube.agents.proxy.balancer import Balancer
from gitkube.agents.proxy.table import Backend

log = logging.getLogger("gitkube.proxy")
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset
_HIGH_WATER = 512 * 1024


class _Side(asyncio.Protocol):
    """One socket of a proxied pair; ``peer`` is the other side."""

    def __init__(self, conns: set[_Side]) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.conns = conns
        self.pending: list[bytes] = []  # client bytes that arrived before the backend
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conns.add(self)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None or peer.transport is None:
            return True  # not linked yet: link() passes the EOF on
        if peer.eof:  # both directions are finished: close both sockets
            peer.transport.close()
            return False
        if peer.transport.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                peer.transport.write_eof()
        return True  # keep our write side open: the peer may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)
        peer, self.peer = self.peer, None
        if peer is not None and peer.transport is not None:
            peer.peer = None
            peer.transport.close()

    # back-pressure: our send buffer is full -> the peer stops reading
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def link(self, other: _Side) -> None:
        self.peer, other.peer = other, self
        assert self.transport is not None and other.transport is not None
        for chunk in self.pending:
            other.transport.write(chunk)
        self.pending.clear()
        if self.eof and other.transport.can_write_eof():
            other.transport.write_eof()
        if self.eof and other.eof:
            self.transport.close()
            other.transport.close()


class _Client(_Side):
    """The accepted side: finds a backend, then links."""

    def __init__(self, listener: TcpListener) -> None:
        super().__init__(listener.conns)
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()
        peer = self.transport.get_extra_info("peername") or ("", 0)
        task = self.listener.loop.create_task(self._connect(str(peer[0])))
        self.listener.tasks.add(task)
        task.add_done_callback(self.listener.tasks.discard)

    async def _connect(self, client_ip: str) -> None:
        listener = self.listener
        for backend in listener.balancer.candidates(client_ip):
            if self.transport is None or self.transport.is_closing():
                return
            try:
                async with asyncio.timeout(listener.connect_timeout):
                    _, upstream = await listener.loop.create_connection(
                        lambda: _Side(self.conns), backend.ip, backend.port)
            except (TimeoutError, OSError) as e:
                log.debug("proxy %s: %s failed: %s", listener.name, backend, e)
                listener.balancer.failed(backend)
                continue
            listener.balancer.connected(client_ip, backend)
            if self.transport.is_closing():
                if upstream.transport is not None:
                    upstream.transport.close()
                return
            self.link(upstream)
            self.transport.resume_reading()
            return
        self.reset()

    def reset(self) -> None:
        """Close the client with a TCP reset (no backend could take it)."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.transport.abort()


class TcpListener:
    """Listens on ``address``:``port`` and forwards to ``balancer``'s backends."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, address: str, port: int,
                 balancer: Balancer, *, connect_timeout: float = 1.0,
                 reuse_port: bool = False):
        self.loop = loop
        self.name = name
        self.address = address
        self.port = port
        self.balancer = balancer
        self.connect_timeout = connect_timeout
        self.reuse_port = reuse_port
        self.conns: set[_Side] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # connects in flight
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.reuse_port:  # the data plane's workers share the port (kernel-spread)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.address, self.port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.server = await self.loop.create_server(lambda: _Client(self), sock=sock)

    def close(self, *, connections: bool = False) -> None:
        """Stop accepting (the port then refuses at once); ``connections``: also close the
        established ones."""
        if self.server is not None:
            self.server.close()
            self.server = None
        if connections:
            for side in list(self.conns):
                if side.transport is not None:
                    side.transport.close()

    def describe(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "protocol": "TCP",
                "connections": len(self.conns)}


__all__ = ["Backend", "TcpListener"]
