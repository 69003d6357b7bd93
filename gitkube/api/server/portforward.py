"""pods/portforward over WebSocket: the two protocols clients speak, over TCP connections made
inside the pod's network namespace (``Connector``: port -> connected socket).

- ``SPDY/3.1+portforward.k8s.io`` (kubectl 1.31+): SPDY/3.1 tunnelled in the WebSocket's
  binary messages (gitkube/api/server/spdy.py). The client opens two streams per local
  connection, headers ``streamtype`` (``error``, then ``data``), ``port`` and ``requestid``;
  the server answers each with SYN_REPLY, connects to the port when the data stream comes,
  copies both ways (a FIN from the client half-closes the pod's side; the pod's end is a
  FIN on the data stream), and writes a failure as text on the error stream.
- ``v4.channel.k8s.io`` (and ``portforward.k8s.io``, ``v4.base64.channel.k8s.io``; the
  Python client's ``portforward``): the ports come in the query (``ports=80,8080``), one
  connection each, opened at once; port i has data channel 2i and error channel 2i+1, and
  the first message on each channel is the port, 2 bytes little-endian. The WebSocket
  closes once every connection has ended. A client that offers no subprotocol at all (kr8s)
  gets this binary protocol, as from Kubernetes.

``Forward`` is one such TCP connection with its two pumps (a reader thread, an Outlet).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

from gitkube.api.server import spdy
from gitkube.api.server.channels import Codec, send_channel
from gitkube.api.server.pumps import Outlet
from gitkube.api.server.websocket import Outbox

SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_V1 = "portforward.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io", "v4.base64.channel.k8s.io", PORTFORWARD_V1)
READ_BYTES = 1024 * 1024
Connector = Callable[[int], socket.socket]


class Forward:
    """One TCP connection to a pod's port, pumped both ways (module docstring). ``on_data``
    sends what the pod wrote (False: the client is gone); ``on_end(error)`` is called once,
    from the reader thread, when the pod's side ended ("") or the connection failed."""

    def __init__(self, connect: Callable[[], socket.socket], *,
                 on_data: Callable[[bytes], bool], on_end: Callable[[str], None], name: str):
        self._connect = connect
        self._on_data = on_data
        self._on_end = on_end
        self._ready = threading.Event()
        self._sock: socket.socket | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.outlet = Outlet(self._write, name=f"{name}-in", ready=self._ready)
        self._reader = threading.Thread(target=self._run, name=f"{name}-out", daemon=True)
        self._reader.start()

    def _write(self, data: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(data)

    def _run(self) -> None:
        try:
            sock = self._connect()
        except Exception as e:
            self._on_end(str(e) or type(e).__name__)
            return
        with self._lock:
            if self._closed:
                sock.close()
                return
            self._sock = sock
        self._ready.set()
        with contextlib.suppress(OSError):
            while data := sock.recv(READ_BYTES):
                if not self._on_data(data):
                    break
        self._on_end("")

    def put(self, data: bytes) -> None:
        self.outlet.put(data)

    def put_eof(self) -> None:
        """The client sends no more: half-close the pod's side after what is queued."""
        def shut() -> None:
            if self._sock is not None:
                self._sock.shutdown(socket.SHUT_WR)
        self.outlet.put(shut)

    def close(self) -> None:
        """End the connection and both pumps (from any thread). Idempotent."""
        with self._lock:
            self._closed = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.outlet.stop()
        if threading.current_thread() is not self._reader:
            self._reader.join()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _port(value: str) -> int | None:
    try:
        port = int(value)
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


class _Pair:
    """The two SPDY streams of one forwarded connection."""

    def __init__(self) -> None:
        self.error_id = 0
        self.data_id = 0
        self.forward: Forward | None = None
        self.client_done = False
        self.pod_done = False


class SpdyPortForward:
    """kubectl's port-forward: SPDY/3.1 in the WebSocket (module docstring)."""

    def __init__(self, connector: Connector, *, describe: str, name: str):
        self.connector = connector
        self.describe = describe  # "pod NS/NAME, uid U", for error messages
        self.name = name
        self._parser = spdy.Parser()
        self._writer = spdy.Writer()
        self._outbox: Outbox | None = None
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, tuple[str, str]] = {}  # stream id -> (request id, type)
        self._lock = threading.Lock()
        self._finished = False

    def start(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def _send(self, frame: bytes) -> bool:
        return self._outbox is not None and self._outbox.send(frame)

    def _send_data(self, stream_id: int, data: bytes) -> bool:
        return self._outbox is not None and self._outbox.send_parts(
            spdy.data_head(stream_id, len(data)), data)

    def receive(self, data: bytes, text: bool) -> None:
        try:
            frames = self._parser.feed(data)
        except spdy.SpdyError as e:
            self._send(spdy.goaway_frame(0, 1))
            if self._outbox is not None:
                self._outbox.close(1002, f"not SPDY/3.1: {e}"[:120])
            return
        for frame in frames:
            self._frame(frame)

    def _frame(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.SYN_STREAM:
            self._syn_stream(frame)
        elif frame.kind == spdy.DATA:
            self._data(frame)
        elif frame.kind == spdy.RST_STREAM:
            self._reset(frame.stream_id)
        elif frame.kind == spdy.PING:
            self._send(spdy.ping_frame(frame.value))
        elif frame.kind == spdy.GOAWAY and self._outbox is not None:
            self._outbox.close(1000)

    def _syn_stream(self, frame: spdy.Frame) -> None:
        headers, sid = frame.headers, frame.stream_id
        kind, request = headers.get("streamtype", ""), headers.get("requestid", "")
        port = _port(headers.get("port", ""))
        if kind not in ("data", "error") or port is None:
            self._send(spdy.rst_frame(sid, spdy.RST_REFUSED_STREAM))
            return
        self._send(self._writer.syn_reply(sid))
        with self._lock:
            pair = self._pairs.setdefault(request, _Pair())
            self._by_stream[sid] = (request, kind)
            if kind == "error":
                pair.error_id = sid
                return
            pair.data_id = sid
        pair.forward = Forward(
            lambda: self.connector(port),
            on_data=lambda data: self._send_data(sid, data),
            on_end=lambda error: self._pod_ended(request, port, error),
            name=f"{self.name}-{port}")

    def _pod_ended(self, request: str, port: int, error: str) -> None:
        with self._lock:
            pair = self._pairs.get(request)
        if pair is None:
            return
        if error and pair.error_id:
            message = f"error forwarding port {port} to {self.describe}: {error}"
            self._send(spdy.data_frame(pair.error_id, message.encode()))
        if pair.error_id:
            self._send(spdy.data_frame(pair.error_id, b"", fin=True))
        if pair.data_id:
            self._send(spdy.data_frame(pair.data_id, b"", fin=True))
        pair.pod_done = True
        if pair.client_done or error:
            self._drop(request)

    def _data(self, frame: spdy.Frame) -> None:
        with self._lock:
            found = self._by_stream.get(frame.stream_id)
            pair = self._pairs.get(found[0]) if found else None
        if found is None or pair is None:
            return
        if found[1] != "data" or pair.forward is None:
            return  # the client writes nothing on the error stream but its FIN
        if frame.data:
            pair.forward.put(frame.data)
        if frame.fin:
            pair.forward.put_eof()
            pair.client_done = True
            if pair.pod_done:
                self._drop(found[0])

    def _reset(self, stream_id: int) -> None:
        with self._lock:
            found = self._by_stream.get(stream_id)
        if found is not None:
            self._drop(found[0])

    def _drop(self, request: str) -> None:
        with self._lock:
            pair = self._pairs.pop(request, None)
            if pair is not None:
                self._by_stream.pop(pair.data_id, None)
                self._by_stream.pop(pair.error_id, None)
        if pair is not None and pair.forward is not None:
            pair.forward.close()

    def backlogged(self) -> bool:
        with self._lock:
            forwards = [p.forward for p in self._pairs.values() if p.forward is not None]
        return any(f.outlet.backlogged() for f in forwards)

    def finish(self) -> None:
        with self._lock:
            requests = list(self._pairs)
        for request in requests:
            self._drop(request)


class ChannelPortForward:
    """The Python client's port-forward: channels per port (module docstring)."""

    def __init__(self, connector: Connector, ports: list[int], subprotocol: str, *,
                 describe: str, name: str):
        self.connector = connector
        self.ports = ports
        self.codec = Codec(subprotocol)
        self.describe = describe
        self.name = name
        self._forwards: list[Forward] = []
        self._left = len(ports)
        self._lock = threading.Lock()
        self._outbox: Outbox | None = None

    def _send(self, channel: int, data: bytes) -> bool:
        if self._outbox is None:
            return False
        return send_channel(self._outbox, self.codec, channel, data)

    def start(self, outbox: Outbox) -> None:
        self._outbox = outbox
        for i, port in enumerate(self.ports):
            self._send(2 * i, port.to_bytes(2, "little"))
            self._send(2 * i + 1, port.to_bytes(2, "little"))
        for i, port in enumerate(self.ports):
            self._forwards.append(Forward(
                lambda port=port: self.connector(port),  # type: ignore[misc]
                on_data=lambda data, i=i: self._send(2 * i, data),  # type: ignore[misc]
                on_end=lambda error, i=i, port=port: self._ended(i, port, error),  # type: ignore[misc]
                name=f"{self.name}-{port}"))

    def _ended(self, index: int, port: int, error: str) -> None:
        if error:
            self._send(2 * index + 1, f"error forwarding port {port} to {self.describe}: "
                                      f"{error}".encode())
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last and self._outbox is not None:
            self._outbox.close(1000)

    def receive(self, data: bytes, text: bool) -> None:
        decoded = self.codec.decode(data, text)
        if decoded is None:
            return
        channel, payload = decoded
        index = channel // 2
        if channel % 2 == 0 and index < len(self._forwards) and payload:
            self._forwards[index].put(payload)

    def backlogged(self) -> bool:
        return any(f.outlet.backlogged() for f in self._forwards)

    def finish(self) -> None:
        for forward in self._forwards:
            forward.close()


__all__ = ["CHANNEL_PROTOCOLS", "PORTFORWARD_V1", "SPDY_TUNNEL", "ChannelPortForward",
           "Connector", "Forward", "SpdyPortForward"]
