"""The transport's pure parts, tested directly: connection-cap decisions, request-target
decoding, keep-alive, the bytes of an answer."""

from __future__ import annotations

import json

import pytest

from gitkube.api.server import wire
from gitkube.api.server.bodies import encode_json
from gitkube.api.server.limits import ConnectionLimiter, Limits, client_key, refusal
from gitkube.errors import BadRequest

LIMITS = Limits(max_connections=10, max_connections_per_client=4)


@pytest.mark.parametrize(("total", "mine", "code"), [
    (0, 0, None),
    (9, 3, None),
    (9, 4, 429),    # the peer's own cap first
    (10, 4, 429),
    (10, 0, 503),   # the listener is full
    (12, 1, 503),
])
def test_refusal_table(total: int, mine: int, code: int | None) -> None:
    refused = refusal(total, mine, LIMITS)
    assert (refused.code if refused else None) == code
    if refused is not None:
        assert refused.reason == {429: "TooManyRequests", 503: "ServiceUnavailable"}[refused.code]


def test_limiter_counts_admissions_and_releases() -> None:
    limiter = ConnectionLimiter(Limits(max_connections=3, max_connections_per_client=2))
    assert limiter.admit("a") is None and limiter.admit("a") is None
    refused = limiter.admit("a")
    assert refused is not None and refused.code == 429
    assert limiter.admit("b") is None
    refused = limiter.admit("c")
    assert refused is not None and refused.code == 503
    limiter.release("a")
    assert limiter.admit("c") is None and limiter.open == 3
    for key in ("a", "b", "c"):
        limiter.release(key)
    assert limiter.open == 0 and limiter.admit("a") is None


@pytest.mark.parametrize(("address", "key"), [
    (("127.0.0.1", 4242), "127.0.0.1"), (("::1", 1, 0, 0), "::1"), ("", "unix"),
    (None, "unix"),
])
def test_client_key(address: object, key: str) -> None:
    assert client_key(address) == key


@pytest.mark.parametrize(("target", "path", "query"), [
    (b"/api/v1/pods", "/api/v1/pods", {}),
    (b"/api/v1/namespaces/a%2Fb/pods?labelSelector=app%3Dweb&watch=1&watch=0",
     "/api/v1/namespaces/a/b/pods", {"labelSelector": "app=web", "watch": "0"}),
    (b"/x/%C3%A9t%C3%A9?n=%E2%82%AC", "/x/\u00e9t\u00e9", {"n": "\u20ac"}),
    (b"", "/", {}),
    (b"http://host:8080/version?a=", "/version", {"a": ""}),
])
def test_decode_target(target: bytes, path: str, query: dict[str, str]) -> None:
    assert wire.decode_target(target) == (path, query)


@pytest.mark.parametrize("target", [b"/%ED%A0%80", b"/%FF", b"/x?a=%C3", b"/\xff",
                                    b"/x?%FE=1"])
def test_decode_target_refuses_what_is_not_utf8(target: bytes) -> None:
    with pytest.raises(BadRequest):
        wire.decode_target(target)


@pytest.mark.parametrize(("version", "connection", "keep"), [
    (b"1.1", None, True), (b"1.1", "close", False), (b"1.1", "keep-alive, Close", False),
    (b"1.0", None, False), (b"1.0", "keep-alive", False),
])
def test_keep_alive(version: bytes, connection: str | None, keep: bool) -> None:
    headers = {"connection": connection} if connection else {}
    assert wire.keep_alive(version, headers) is keep


def test_refusal_bytes_carry_retry_after_and_a_status() -> None:
    data = wire.refusal(429, "slow down", retry_after=3)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert b"\r\nRetry-After: 3\r\n" in head and b"\r\nConnection: close" in head
    status = json.loads(body)
    assert status["reason"] == "TooManyRequests" and status["code"] == 429
    assert status["details"] == {"retryAfterSeconds": 3}
    assert f"Content-Length: {len(body)}".encode() in head


def test_answers_are_always_encodable() -> None:
    """A lone surrogate echoed in an error message is escaped, not a failed answer."""
    assert json.loads(encode_json({"message": "bad name a\ud800"})) == {
        "message": "bad name a\ud800"}
    assert encode_json({"a": "\u00e9"}) == '{"a":"\u00e9"}'.encode()
