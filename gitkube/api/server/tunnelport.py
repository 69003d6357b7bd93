"""The client side of kubectl's port-forward tunnel (``SPDY/3.1+portforward.k8s.io``: SPDY
inside the WebSocket), for gitkube's own port-forward through a daemon and for the API
server's proxy to a node's kubelet. Unlike the v4 port channels it half-closes: the client
ends its writing with a FIN on the data stream and still reads the pod's reply.

Each ``TunnelPort`` is one forwarded connection on its own WebSocket: an error stream (id
1, closed for writing at once, as kubectl does) and a data stream (id 3).
"""

from __future__ import annotations

import threading

from gitkube.api.server import spdy
from gitkube.api.stream_client import Where, _Client

TUNNEL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 32 * 1024  # data frames as the kubelet's copy loop sends them
_ERROR, _DATA = 1, 3


class TunnelPort:
    """One connection to ``port`` of a pod (module docstring): ``recv``, ``sendall``,
    ``shutdown_write``, ``close``; ``error`` holds what the error stream said."""

    def __init__(self, where: Where, target: str, port: int, *, timeout: float = 30.0):
        self.port = port
        self.error = ""
        self._ws = _Client(where, target, TUNNEL, timeout)
        self._writer = spdy.Writer()
        self._parser = spdy.Parser()
        self._pending: list[bytes] = []
        self._eof = False
        self._shut = False
        self._lock = threading.Lock()
        headers = {"port": str(port), "requestid": "0"}
        self._ws.send(self._writer.syn_stream(_ERROR, {**headers, "streamtype": "error"}))
        self._ws.send(spdy.data_frame(_ERROR, b"", fin=True))
        self._ws.send(self._writer.syn_stream(_DATA, {**headers, "streamtype": "data"}))

    def recv(self) -> bytes:
        """What the pod's side sent; b"" once it ended (``error`` says why, if it failed)."""
        while not self._pending and not self._eof:
            message = self._ws.receive()
            if message is None:
                self._eof = True
                break
            try:
                frames = self._parser.feed(message)
            except spdy.SpdyError as e:
                self.error = str(e)
                self._eof = True
                break
            for frame in frames:
                self._frame(frame)
        return self._pending.pop(0) if self._pending else b""

    def _frame(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.DATA and frame.stream_id == _DATA:
            if frame.data:
                self._pending.append(frame.data)
            self._eof = self._eof or frame.fin
        elif frame.kind == spdy.DATA and frame.stream_id == _ERROR and frame.data:
            self.error += frame.data.decode(errors="replace")
        elif frame.kind == spdy.PING:
            self._ws.send(spdy.ping_frame(frame.value))
        elif frame.kind == spdy.GOAWAY or (frame.kind == spdy.RST_STREAM
                                           and frame.stream_id == _DATA):
            self._eof = True

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        for at in range(0, len(view), CHUNK):
            self._ws.send(spdy.data_frame(_DATA, bytes(view[at:at + CHUNK])))

    def shutdown_write(self) -> None:
        """End the writing side (the pod reads EOF); the reply can still be read."""
        with self._lock:
            if self._shut:
                return
            self._shut = True
        self._ws.send(spdy.data_frame(_DATA, b"", fin=True))

    def close(self) -> None:
        self._ws.close()


__all__ = ["TUNNEL", "TunnelPort"]
