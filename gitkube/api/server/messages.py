"""What the transport hands to the handlers and gets back: plain values, no sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.api.server.bodies import JSON, encode_json
from gitkube.errors import APIError


@dataclass(frozen=True)
class Request:
    """One HTTP request: ``query`` keeps the last value of each parameter; ``headers`` have
    lower-cased names."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # the request target as sent (path and query), for parameters given more than once
    target: str = ""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass
class Response:
    """A complete answer; ``headers`` are sent besides Content-Type and Content-Length."""

    code: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, value: Any, code: int = 200) -> Response:
        return cls(code, encode_json(value))

    @classmethod
    def error(cls, error: APIError) -> Response:
        return cls(error.code, encode_json(error.status()))


@dataclass(eq=False)
class Stream:
    """A streamed answer (watch, log follow), sent chunked. ``chunks`` yields data to send
    now, or None as an idle tick (the transport checks that the peer is still there);
    ``close`` is called when the stream ends for any reason.

    ``finite``: a complete answer merely sent in pieces (a large list): it counts as a
    request in flight, so shutdown lets it finish (within its grace) instead of ending it."""

    chunks: Iterator[bytes | None]
    content_type: str = JSON
    code: int = 200
    close: Callable[[], None] = lambda: None
    finite: bool = False


@dataclass(eq=False)
class Upgrade:
    """A switch to WebSocket (exec, attach, port-forward): the transport answers ``101``
    with ``subprotocol`` and runs ``session`` (a gitkube.api.server.websocket.Session) on
    the connection until it ends; ``cancel`` releases the session's resources when the
    switch does not happen (the client left first)."""

    subprotocol: str
    session: Any
    cancel: Callable[[], None] = lambda: None
    code: int = 101


Answer = Response | Stream | Upgrade
