"""The channel protocol of exec and attach over WebSocket (``v5.channel.k8s.io``,
``v4.channel.k8s.io`` and ``v4.base64.channel.k8s.io``), and ``ProcessSession``, which runs
it over a process's streams.

Every message starts with its channel: 0 stdin (client to server), 1 stdout, 2 stderr, 3
error (server to client: one Status, then the end), 4 resize (client to server: JSON
``{"Width": W, "Height": H}``); v5 adds 255, *close*: ``[255, N]`` ends channel N (the
client's stdin). The base64 variant sends text messages: the channel as a digit, then the
payload in base64. The error channel's Status is ``Success``, or ``Failure`` with reason
``NonZeroExitCode`` and the exit code in ``details.causes`` (reason ``ExitCode``), which
kubectl turns into its own exit code, as upstream's kubelet writes it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from typing import Any

from gitkube.api.server.pumps import Outlet
from gitkube.api.server.websocket import Outbox
from gitkube.runtime.base import ProcessStream

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4, V4_BASE64)

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
# at most this much data a message, as the kubelet's copy loop (Go's io.Copy buffer) sends:
# clients such as kr8s (httpx-ws) close the connection on a message over 64 KiB
MESSAGE_BYTES = 32 * 1024


def send_channel(outbox: Outbox, codec: Codec, channel: int, data: bytes) -> bool:
    """``data`` on ``channel`` in messages of at most MESSAGE_BYTES of it; False once the
    client is gone."""
    for start in range(0, max(len(data), 1), MESSAGE_BYTES):
        part = data[start:start + MESSAGE_BYTES]
        if codec.text:
            message, text = codec.encode(channel, part)
            sent = outbox.send(message, text=text)
        else:
            sent = outbox.send_parts(bytes((channel,)), part)
        if not sent:
            return False
    return True


class Codec:
    """Messages of one subprotocol: binary (channel byte first) or base64 text."""

    def __init__(self, subprotocol: str):
        self.subprotocol = subprotocol
        self.text = ".base64." in subprotocol or subprotocol.startswith("base64.")
        self.v5 = subprotocol.startswith("v5.")

    def encode(self, channel: int, data: bytes) -> tuple[bytes, bool]:
        """The message for ``data`` on ``channel`` and whether it is text."""
        if self.text:
            return str(channel).encode() + base64.b64encode(data), True
        return bytes((channel,)) + data, False

    def decode(self, message: bytes, text: bool) -> tuple[int, bytes] | None:
        """(channel, payload) of a client's message; None for an empty or undecodable one."""
        if not message:
            return None
        # a text message in a binary subprotocol is read as binary: the Python client
        # sends its str stdin so, the channel as a raw first character
        if self.text:
            if not message[:1].isdigit():
                return None
            try:
                return int(message[:1]), base64.b64decode(message[1:], validate=False)
            except ValueError:
                return None
        return message[0], message[1:]


def exit_status(code: int | None) -> dict[str, Any]:
    """The error channel's Status for a process that ended with ``code`` (None: unknown,
    as for an attach whose container still runs: Success)."""
    if not code:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure_status(message: str) -> dict[str, Any]:
    """The error channel's Status when the session itself failed."""
    return {"metadata": {}, "status": "Failure", "message": message,
            "reason": "InternalError", "code": 500}


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of a resize message; None when it is not one."""
    try:
        size = json.loads(payload)
        width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    if 0 < width < 65536 and 0 < height < 65536:
        return width, height
    return None


class ProcessSession:
    """Exec or attach: a ``ProcessStream`` behind the channel protocol (module docstring).
    Its output is sent from a thread of its own; stdin and resizes go through an Outlet."""

    def __init__(self, stream: ProcessStream, subprotocol: str, *, stdin: bool, name: str):
        self.stream = stream
        self.codec = Codec(subprotocol)
        self.stdin = stdin
        self.name = name
        self._outlet: Outlet | None = None
        self._sizes: Outlet | None = None
        self._reader: threading.Thread | None = None

    def start(self, outbox: Outbox) -> None:
        self._outlet = Outlet(self.stream.write, name=f"{self.name}-stdin")
        # resizes in a queue of their own: a terminal's process may wait for its first size
        # (runtime/podman_stream.py) while stdin waits for the process
        self._sizes = Outlet(_no_bytes, name=f"{self.name}-resize")
        self._reader = threading.Thread(target=self._pump, args=(outbox,),
                                        name=f"{self.name}-out", daemon=True)
        self._reader.start()

    def _send(self, outbox: Outbox, channel: int, data: bytes) -> bool:
        return send_channel(outbox, self.codec, channel, data)

    def _pump(self, outbox: Outbox) -> None:
        try:
            while (item := self.stream.read()) is not None:
                if not self._send(outbox, *item):
                    return  # the client is gone
            status = exit_status(self.stream.exit_code())
        except Exception as e:  # the runtime failed mid-stream: say so on the error channel
            status = failure_status(f"the stream ended with an error: {e}")
        self._send(outbox, ERROR, json.dumps(status).encode())
        outbox.close(1000)

    def receive(self, data: bytes, text: bool) -> None:
        decoded = self.codec.decode(data, text)
        outlet = self._outlet
        if decoded is None or outlet is None:
            return
        channel, payload = decoded
        if channel == STDIN and self.stdin and payload:
            outlet.put(payload)
        elif channel == RESIZE and self._sizes is not None:
            size = parse_resize(payload)
            if size is not None:
                width, height = size
                self._sizes.put(lambda: self._resize(width, height))
        elif channel == CLOSE and self.codec.v5 and payload[:1] == bytes((STDIN,)):
            outlet.put(self.stream.close_stdin)

    def _resize(self, width: int, height: int) -> None:
        # a failed resize must not end the outlet: stdin still flows
        with contextlib.suppress(Exception):
            self.stream.resize(width, height)

    def backlogged(self) -> bool:
        return self._outlet is not None and self._outlet.backlogged()

    def finish(self) -> None:
        # closing the stream first unblocks a write or read in the session's threads
        with contextlib.suppress(Exception):
            self.stream.close()
        for outlet in (self._outlet, self._sizes):
            if outlet is not None:
                outlet.stop()
        if self._reader is not None:
            self._reader.join()


def _no_bytes(data: bytes) -> None:
    """The resize queue carries calls only."""


__all__ = ["EXEC_PROTOCOLS", "V4", "V4_BASE64", "V5", "Codec", "ProcessSession", "exit_status",
           "parse_resize"]
