"""The pure parts of exec, attach and port-forward: SPDY/3.1 framing (against a client's
frames built here the way upstream's framer builds them), the channel codec, the upgrade
checks and the RBAC verb; and refusals over real HTTP from a server whose node is
simulated."""

from __future__ import annotations

import base64
import http.client
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from gitkube.api.local import LocalClient
from gitkube.api.server import APIServer, RuntimeStreams, spdy
from gitkube.api.server.channels import Codec, exit_status, parse_resize
from gitkube.api.server.handlers import verb_of
from gitkube.api.server.portforward import SpdyPortForward
from gitkube.api.server.routes import resolve
from gitkube.api.server.streaming import choose_protocol
from gitkube.api.server.websocket import Outbox, frame_head, upgrade_kind
from gitkube.errors import BadRequest
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.store.memory import MemoryStore


def _client_syn_stream(deflate: Any, stream_id: int, headers: dict[str, str]) -> bytes:
    """A SYN_STREAM as a SPDY/3 client sends it (header block compressed with the SPDY
    dictionary, sync-flushed)."""
    block = struct.pack(">I", len(headers)) + b"".join(
        struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        for k, v in headers.items())
    packed: bytes = deflate.compress(block) + deflate.flush(zlib.Z_SYNC_FLUSH)
    payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + packed
    return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(payload)) + payload


def test_the_spdy_dictionary_is_the_one_every_peer_names() -> None:
    assert zlib.adler32(spdy.DICTIONARY) == spdy.DICTIONARY_ADLER32


def test_spdy_parser_reads_a_clients_frames_in_any_pieces() -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=spdy.DICTIONARY)
    stream = (_client_syn_stream(deflate, 1, {"streamtype": "error", "port": "80",
                                              "requestid": "0"})
              + _client_syn_stream(deflate, 3, {"streamtype": "data", "port": "80",
                                                "requestid": "0"})
              + spdy.data_frame(3, b"hello") + spdy.data_frame(3, b"", fin=True)
              + spdy.ping_frame(7) + spdy.rst_frame(1))
    parser = spdy.Parser()
    frames = [f for i in range(0, len(stream), 5) for f in parser.feed(stream[i:i + 5])]
    assert [(f.kind, f.stream_id) for f in frames] == [
        (spdy.SYN_STREAM, 1), (spdy.SYN_STREAM, 3), (spdy.DATA, 3), (spdy.DATA, 3),
        (spdy.PING, 0), (spdy.RST_STREAM, 1)]
    assert frames[1].headers == {"streamtype": "data", "port": "80", "requestid": "0"}
    assert frames[2].data == b"hello" and not frames[2].fin and frames[3].fin
    assert frames[4].value == 7
    with pytest.raises(spdy.SpdyError, match="version 2"):
        spdy.Parser().feed(struct.pack(">HHI", 0x8002, 1, 0))


def test_spdy_replies_decode_with_the_shared_dictionary() -> None:
    writer = spdy.Writer()
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    for sid in (1, 3):  # one compression context for the connection
        frame = writer.syn_reply(sid)
        kind, length = struct.unpack(">HHI", frame[:8])[1:]
        assert kind == spdy.SYN_REPLY and length == len(frame) - 8
        assert struct.unpack(">I", frame[8:12])[0] == sid
        assert inflate.decompress(frame[12:]) == b"\0\0\0\0"


class _Collect(Outbox):
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.closed: int | None = None

    def send(self, data: bytes, *, text: bool = False) -> bool:
        self.messages.append(data)
        return True

    def send_parts(self, *parts: bytes) -> bool:
        self.messages.append(b"".join(parts))
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = code


def test_spdy_port_forward_reports_a_failed_connection_on_the_error_stream() -> None:
    def refuse(port: int) -> object:
        raise ConnectionRefusedError(111, "Connection refused")

    session = SpdyPortForward(refuse, describe="pod default/web, uid u", name="t")  # type: ignore[arg-type]
    out = _Collect()
    session.start(out)
    deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=spdy.DICTIONARY)
    session.receive(_client_syn_stream(deflate, 1, {"streamtype": "error", "port": "81",
                                                    "requestid": "4"}), False)
    session.receive(_client_syn_stream(deflate, 3, {"streamtype": "data", "port": "81",
                                                    "requestid": "4"}), False)
    session.receive(_client_syn_stream(deflate, 5, {"streamtype": "data", "port": "x",
                                                    "requestid": "5"}), False)
    for _ in range(100):
        if len(out.messages) >= 6:
            break
        threading.Event().wait(0.02)
    session.finish()
    frames = spdy.Parser()
    # the server's own frames parse too (its replies use the server's compression context)
    parsed = [f for m in out.messages for f in frames.feed(m)]
    kinds = [(f.kind, f.stream_id) for f in parsed]
    assert (spdy.SYN_REPLY, 1) in kinds and (spdy.SYN_REPLY, 3) in kinds
    assert (spdy.RST_STREAM, 5) in kinds  # a bad port is refused
    errors = [f.data for f in parsed if f.kind == spdy.DATA and f.stream_id == 1 and f.data]
    assert errors == [b"error forwarding port 81 to pod default/web, uid u: "
                      b"[Errno 111] Connection refused"]
    assert any(f.kind == spdy.DATA and f.stream_id == 3 and f.fin for f in parsed)


def test_channel_codec_binary_base64_and_the_exit_status() -> None:
    v5 = Codec("v5.channel.k8s.io")
    assert v5.encode(1, b"out") == (b"\x01out", False)
    assert v5.decode(b"\x00in", False) == (0, b"in")
    assert v5.decode(b"\x00in", True) == (0, b"in")  # the Python client's text stdin
    b64 = Codec("v4.base64.channel.k8s.io")
    assert b64.encode(2, b"err") == (b"2" + base64.b64encode(b"err"), True)
    assert b64.decode(b"0" + base64.b64encode(b"in"), True) == (0, b"in")
    assert v5.decode(b"", False) is None
    assert exit_status(0) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3)
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert parse_resize(b'{"Width": 80, "Height": 24}') == (80, 24)
    assert parse_resize(b'{"Width": 0}') is None and parse_resize(b"nope") is None
    assert frame_head(5) == b"\x82\x05"
    assert frame_head(300) == b"\x82\x7e\x01\x2c"
    assert frame_head(70000)[:2] == b"\x82\x7f"


def test_upgrades_subprotocols_and_the_verb() -> None:
    assert upgrade_kind({"connection": "keep-alive, Upgrade", "upgrade": "websocket"}) == \
        "websocket"
    assert upgrade_kind({"connection": "Upgrade", "upgrade": "SPDY/3.1"}) == "spdy"
    assert upgrade_kind({"upgrade": "websocket"}) == ""
    assert choose_protocol(["v9", "v4.channel.k8s.io", "v5.channel.k8s.io"],
                           ("v5.channel.k8s.io", "v4.channel.k8s.io")) == "v4.channel.k8s.io"
    with pytest.raises(BadRequest, match="unsupported WebSocket subprotocol"):
        choose_protocol([], ("v5.channel.k8s.io",))
    for sub in ("exec", "attach", "portforward"):
        route = resolve("", "v1", ["namespaces", "d", "pods", "p", sub], "/x")
        assert verb_of("GET", route, {}) == "create"
        assert verb_of("POST", route, {}) == "create"


@pytest.fixture
def simulated_server() -> Iterator[tuple[int, LocalClient]]:
    client = LocalClient(MemoryStore())
    runtime = SimulatedRuntime()
    server = APIServer(client, streams=RuntimeStreams(lambda: runtime))
    port = server.serve_tcp("127.0.0.1", 0)
    try:
        yield port, client
    finally:
        server.shutdown()


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


WS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Protocol": "v5.channel.k8s.io"}


def test_refusals_over_http_on_a_simulated_node(
        simulated_server: tuple[int, LocalClient]) -> None:
    port, client = simulated_server
    client.create({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "p", "namespace": "default"},
                   "spec": {"containers": [{"name": "c", "image": "x"}]}})
    base = "/api/v1/namespaces/default/pods/p"
    code, status = _get(port, f"{base}/exec?command=true&stdout=1", WS)
    assert code == 400 and status["message"] == "pod p does not have a host assigned"
    client.bind("default", "p", "node-1")
    code, status = _get(port, f"{base}/exec?command=true&stdout=1", {})
    assert code == 400 and str(status["message"]).startswith("Upgrade request required")
    # the simulated runtime runs nothing: said so, before any 101
    code, status = _get(port, f"{base}/exec?command=true&stdout=1", WS)
    assert code == 400 and "simulated node" in str(status["message"])
    code, status = _get(port, f"{base}/portforward?ports=80", WS)
    assert code == 400 and "unsupported WebSocket subprotocol v5.channel.k8s.io" in str(
        status["message"])
    code, status = _get(port, f"{base}/exec?command=true", WS)
    assert code == 400 and "at least one of stdin, stdout, stderr" in str(status["message"])


def test_a_messages_heads_go_out_with_the_start_of_its_payload() -> None:
    """The small heads share the first TLS record with the payload; the payload's rest is
    a view of it, not a copy; the bytes are the message's, in order."""
    from gitkube.api.server.websocket import RECORD, coalesced

    big = bytes(range(256)) * 400  # 100 KiB
    pieces = coalesced(b"HEAD", (b"spdy", big))
    assert len(pieces[0]) == RECORD and isinstance(pieces[1], memoryview)
    assert b"".join(bytes(p) for p in pieces) == b"HEADspdy" + big
    assert coalesced(b"H", (b"x", b"small")) == [b"Hxsmall"]
    assert coalesced(b"H", ()) == [b"H"]
    assert coalesced(b"H", (b"",)) == [b"H"]
