"""SPDY/3.1 framing, as much as kubectl's port-forward uses (pure: bytes in, frames out).

(``Writer.syn_stream`` is the client's frame: gitkube's own port-forward speaks the same
tunnel, gitkube/api/stream_client.py's ``TunnelPort``.)

kubectl 1.31 and later forward ports over a WebSocket whose subprotocol is
``SPDY/3.1+portforward.k8s.io``: the WebSocket's binary messages carry a SPDY/3.1 byte stream
(upstream's "tunneling" dialer), in which each forwarded connection is a pair of SPDY
streams. Only the server's side is here: ``Parser`` reads frames (SYN_STREAM with its
compressed headers, DATA, RST_STREAM, PING, GOAWAY; SETTINGS and WINDOW_UPDATE are read
and ignored: upstream's SPDY library does no flow control either), and the ``*_frame``
functions build the frames a server sends. Header blocks are zlib streams, one per
direction and connection, primed with the dictionary the SPDY/3 draft defines.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass, field

from gitkube.errors import GitkubeError

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01
DATA = 0  # the kind of a data frame
MAX_FRAME = (1 << 24) - 1
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5

# The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): length-prefixed
# words, then a run of common values.
_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502"
    "504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
    "charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + \
    _TAIL.encode()
DICTIONARY_ADLER32 = 0xE3C6A7C2  # what the zlib streams of every SPDY/3 peer name


class SpdyError(GitkubeError, ValueError):
    """The byte stream is not SPDY/3.1 as a client sends it."""


@dataclass
class Frame:
    """One frame: ``kind`` is DATA or a control type; ``headers`` for SYN_STREAM/HEADERS
    (lower-cased names, values joined with NUL as sent), ``data`` the payload of a DATA
    frame, ``value`` the status of RST_STREAM/GOAWAY or the id of a PING."""

    kind: int
    stream_id: int = 0
    flags: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    value: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


def _name_values(block: bytes) -> dict[str, str]:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        at, out = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, at)
            name = block[at + 4:at + 4 + n].decode("latin-1").lower()
            at += 4 + n
            (n,) = struct.unpack_from(">I", block, at)
            out[name] = block[at + 4:at + 4 + n].decode("latin-1")
            at += 4 + n
        return out
    except struct.error as e:
        raise SpdyError(f"malformed header block: {e}") from e


class Parser:
    """Frames from the bytes of one direction of a connection, fed in any pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes (SpdyError on a stream that is not SPDY/3)."""
        self._buffer += data
        frames: list[Frame] = []
        buf = self._buffer
        while len(buf) >= 8:
            first, second = struct.unpack_from(">II", buf, 0)
            length = second & 0xFFFFFF
            if len(buf) < 8 + length:
                break
            payload = bytes(buf[8:8 + length])
            del buf[:8 + length]
            flags = second >> 24
            if not first & 0x80000000:
                frames.append(Frame(DATA, first & 0x7FFFFFFF, flags, data=payload))
                continue
            if (first >> 16) & 0x7FFF != VERSION:
                raise SpdyError(f"SPDY version {(first >> 16) & 0x7FFF}, not 3")
            frame = self._control(first & 0xFFFF, flags, payload)
            if frame is not None:
                frames.append(frame)
        return frames

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            return _name_values(self._inflate.decompress(block))
        except zlib.error as e:
            raise SpdyError(f"header block: {e}") from e

    def _control(self, kind: int, flags: int, payload: bytes) -> Frame | None:
        def word(at: int) -> int:
            if len(payload) < at + 4:
                raise SpdyError(f"control frame {kind} too short")
            return int(struct.unpack_from(">I", payload, at)[0])

        if kind == SYN_STREAM:
            return Frame(kind, word(0) & 0x7FFFFFFF, flags, headers=self._headers(payload[10:]))
        if kind in (SYN_REPLY, HEADERS):
            return Frame(kind, word(0) & 0x7FFFFFFF, flags, headers=self._headers(payload[4:]))
        if kind == RST_STREAM:
            return Frame(kind, word(0) & 0x7FFFFFFF, flags, value=word(4))
        if kind == PING:
            return Frame(kind, 0, flags, value=word(0))
        if kind == GOAWAY:
            return Frame(kind, word(0) & 0x7FFFFFFF, flags, value=word(4))
        if kind in (SETTINGS, WINDOW_UPDATE):
            return None  # no flow control (module docstring)
        raise SpdyError(f"unknown control frame type {kind}")


def _control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


class Writer:
    """The frames a server sends; header compression keeps state, so one Writer per
    connection, safe from several threads."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=DICTIONARY)
        self._lock = threading.Lock()

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None) -> bytes:
        items = sorted((headers or {}).items())
        return _control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._pack(items))

    def syn_stream(self, stream_id: int, headers: dict[str, str], *,
                   fin: bool = False) -> bytes:
        """A client's SYN_STREAM opening ``stream_id`` (no associated stream, priority 0)."""
        return _control_frame(SYN_STREAM, FLAG_FIN if fin else 0,
                              struct.pack(">IIH", stream_id, 0, 0)
                              + self._pack(sorted(headers.items())))

    def _pack(self, items: list[tuple[str, str]]) -> bytes:
        block = struct.pack(">I", len(items)) + b"".join(
            struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
            for k, v in items)
        with self._lock:
            return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def data_head(stream_id: int, size: int, *, fin: bool = False) -> bytes:
    """The 8-byte head of a DATA frame of ``size`` bytes (at most MAX_FRAME)."""
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | size)


def data_frame(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
    """A DATA frame (``data`` at most MAX_FRAME bytes)."""
    return data_head(stream_id, len(data), fin=fin) + data


def rst_frame(stream_id: int, status: int = RST_CANCEL) -> bytes:
    return _control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping_frame(ping_id: int) -> bytes:
    return _control_frame(PING, 0, struct.pack(">I", ping_id))


def goaway_frame(last_stream_id: int, status: int = 0) -> bytes:
    return _control_frame(GOAWAY, 0, struct.pack(">II", last_stream_id, status))


__all__ = ["DATA", "DICTIONARY", "GOAWAY", "HEADERS", "PING", "RST_STREAM", "SYN_REPLY",
           "SYN_STREAM", "Frame", "Parser", "SpdyError", "Writer", "data_frame", "data_head",
           "goaway_frame", "ping_frame", "rst_frame"]
