"""The bytes of HTTP/1.1 that gitkube writes, and the request parts it decodes: pure.

Requests are parsed and framed by h11 (gitkube/api/server/transport.py); what h11 hands over
is decoded here: the request target strictly as UTF-8 (invalid UTF-8, a lone surrogate or a
bad percent-escape is a 400, never a dropped connection), the headers as latin-1 text with
lower-cased names. Answers are written by hand: their heads are a fixed shape with no text
from the client in them, and one ``sendall`` of head and body keeps small answers fast.
"""

from __future__ import annotations

import http
import json
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from gitkube.errors import BadRequest

_PHRASES = {s.value: s.phrase for s in http.HTTPStatus}
# Kubernetes' StatusReason for the codes the transport answers by itself.
_REASONS = {400: "BadRequest", 408: "Timeout", 413: "RequestEntityTooLarge",
            429: "TooManyRequests", 431: "RequestHeaderFieldsTooLarge",
            500: "InternalError", 501: "NotImplemented", 503: "ServiceUnavailable"}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(code: int) -> bytes:
    return f"HTTP/1.1 {code} {_PHRASES.get(code, '')}\r\n".encode()


def reason_for(code: int) -> str:
    """The Kubernetes StatusReason of an answer the transport makes itself."""
    return _REASONS.get(code) or _PHRASES.get(code, "Unknown").replace(" ", "")


def status_body(code: int, message: str, *, reason: str | None = None,
                retry_after: int | None = None) -> bytes:
    """A Kubernetes Status failure as JSON bytes (``details.retryAfterSeconds`` as upstream
    sets it on 429 and 503)."""
    details: dict[str, int] = {}
    if retry_after is not None:
        details["retryAfterSeconds"] = retry_after
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message,
                       "reason": reason or reason_for(code), "details": details,
                       "code": code}, separators=(",", ":")).encode()


def response(code: int, content_type: str, body: bytes, *, close: bool,
             head_only: bool = False, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """A whole answer with a Content-Length: the bytes for one ``sendall``."""
    head = [status_line(code),
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode(),
            b"Cache-Control: no-cache, private\r\n"]
    for name, value in extra:
        head.append(f"{name}: {value}\r\n".encode())
    if close:
        head.append(b"Connection: close\r\n")
    head.append(b"\r\n")
    if not head_only:
        head.append(body)
    return b"".join(head)


def refusal(code: int, message: str, *, reason: str | None = None,
            retry_after: int | None = None) -> bytes:
    """A Status answer that closes the connection (Retry-After when given)."""
    extra = [("Retry-After", str(retry_after))] if retry_after is not None else []
    return response(code, "application/json",
                    status_body(code, message, reason=reason, retry_after=retry_after),
                    close=True, extra=extra)


def stream_head(code: int, content_type: str) -> bytes:
    return b"".join([status_line(code), f"Content-Type: {content_type}\r\n".encode(),
                     b"Transfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n\r\n"])


def decode_target(target: bytes) -> tuple[str, dict[str, str]]:
    """The decoded path and query (the last value of each parameter) of a request target.
    BadRequest when either is not UTF-8 once percent-escapes are decoded."""
    try:
        text = target.decode("utf-8")
        split = urlsplit(text)
        path = unquote(split.path, errors="strict") or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest("the request URL is not valid UTF-8 (or has a malformed "
                         "percent-escape)") from e
    return path, query


def header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as text with lower-cased names; a repeated header keeps its last
    value. Takes h11's ``headers.raw_items()`` (a plain list: iterating h11's Headers
    itself goes through the generic Sequence protocol, a call per item)."""
    return {name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in headers}


def keep_alive(http_version: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the connection may serve another request after this one: HTTP/1.1 without
    ``Connection: close`` (HTTP/1.0 closes after each answer, as with h11)."""
    if http_version != b"1.1":
        return False
    return "close" not in {t.strip().lower() for t in headers.get("connection", "").split(",")}
