"""Hostile and clumsy input against a real server on 127.0.0.1: every case gets a Status
answer (never a 5xx, never a dropped connection without one) and the server keeps serving.

Each test is named for the case it pins; raw sockets where a client library would refuse to
send the bytes. Timeouts here are the server's own (set small through ``Limits``) or a
generous bound on a wait that a fixed server answers at once."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from gitkube.api.server import Attributes, Identity, Limits
from gitkube.store import Store
from tests.api.server.httphelp import assert_status, call, deployment, pod
from tests.api.server.rawhttp import connect, exchange, read_reply, request
from tests.api.server.serving import Served, start

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def healthy(port: int) -> None:
    assert call(port, "GET", "/version").code == 200


@pytest.fixture
def small(store: Store) -> Iterator[Served]:
    """A server with small limits, so that each one is reached quickly."""
    s = start(store, limits=Limits(max_body_bytes=1024, max_header_bytes=4096, max_headers=20,
                                   header_timeout=1.0, idle_timeout=1.0, body_timeout=1.0))
    try:
        yield s
    finally:
        s.server.shutdown()


class OnlyToken:
    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        return Identity("admin") if headers.get("authorization") == "Bearer t" else None

    def authorize(self, identity: Identity, verb: str, resource: Attributes) -> bool:
        return True


@pytest.fixture
def guarded(store: Store) -> Iterator[Served]:
    s = start(store, auth=OnlyToken())
    try:
        yield s
    finally:
        s.server.shutdown()


# --- chunked bodies -------------------------------------------------------------------------


def test_chunk_size_minus_one_is_a_400_at_once_not_a_read_to_the_end(served: Served) -> None:
    with connect(served.port) as sock:  # the stream stays open: nothing ends the body
        sock.sendall(request("POST", CMS, headers={"Transfer-Encoding": "chunked"})
                     + b"-1\r\n" + b"x" * 65536)
        reply = read_reply(sock, wait=10)
    assert reply.code == 400 and reply.closed, reply.data[:300]
    assert reply.status["reason"] == "BadRequest"
    healthy(served.port)


@pytest.mark.parametrize("line", [b"-2", b"-1", b"zz", b"1x", b" 5", b"f" * 21, b"",
                                  b"5 5", b"0x10"])
def test_every_invalid_chunk_line_is_a_400(served: Served, line: bytes) -> None:
    reply = exchange(served.port, request("POST", CMS, headers={
        "Transfer-Encoding": "chunked"}) + line + b"\r\n{}\r\n0\r\n\r\n", shut=True)
    assert reply.code == 400 and reply.closed, reply.data[:300]
    assert reply.status["kind"] == "Status"
    healthy(served.port)


def test_chunked_body_over_the_limit_is_413_while_it_streams(small: Served) -> None:
    with connect(small.port) as sock:
        sock.sendall(request("POST", CMS, headers={"Transfer-Encoding": "chunked"}))
        for _ in range(8):  # 4 KiB in 512-byte chunks, never a last chunk
            sock.sendall(b"200\r\n" + b"x" * 512 + b"\r\n")
        reply = read_reply(sock, wait=10)
    assert reply.code == 413 and reply.status["reason"] == "RequestEntityTooLarge"
    healthy(small.port)


def test_a_chunked_body_is_read(served: Served) -> None:
    body = json.dumps({"metadata": {"name": "chunked"}}).encode()
    reply = exchange(served.port, request("POST", CMS, headers={
        "Transfer-Encoding": "chunked"}) + b"%x;ext=1\r\n%s\r\n0\r\n\r\n" % (len(body), body),
        until_close=False)
    assert reply.code == 201, reply.data[:300]


# --- framing --------------------------------------------------------------------------------


def test_two_content_lengths_that_differ_are_a_400(served: Served) -> None:
    reply = exchange(served.port, request("POST", CMS, headers={
        "Content-Length": "2", "content-length": "12"}) + b'{"x": 1}    ', shut=True)
    assert reply.code == 400 and "Content-Length" in reply.status["message"]
    assert call(served.port, "GET", CMS).json["items"] == []


def test_content_length_and_transfer_encoding_together_close_the_connection(
        served: Served) -> None:
    body = json.dumps({"metadata": {"name": "both"}}).encode()
    reply = exchange(served.port, request("POST", CMS, headers={
        "Transfer-Encoding": "chunked", "Content-Length": "3"})
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), wait=10)
    assert reply.code == 201 and reply.closed
    assert reply.header("Connection") == "close"


def test_unsupported_transfer_encoding_is_501(served: Served) -> None:
    reply = exchange(served.port, request("POST", CMS, headers={
        "Transfer-Encoding": "gzip, chunked"}), shut=True)
    assert reply.code == 501 and reply.status["kind"] == "Status"


def test_header_larger_than_the_limit_is_431(small: Served) -> None:
    reply = exchange(small.port, request("GET", CMS, headers={"X-Big": "y" * 8000}),
                     shut=True)
    assert reply.code == 431 and reply.status["reason"] == "RequestHeaderFieldsTooLarge"
    healthy(small.port)


def test_too_many_headers_is_431(small: Served) -> None:
    many = {f"X-H{i}": "v" for i in range(40)}
    reply = exchange(small.port, request("GET", CMS, headers=many), shut=True)
    assert reply.code == 431 and "too many request headers" in reply.status["message"]


def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    one = request("GET", "/version")
    two = request("POST", CMS, json.dumps({"metadata": {"name": "piped"}}).encode())
    three = request("GET", f"{CMS}/piped", headers={"Connection": "close"})
    reply = exchange(served.port, one + two + three)
    codes = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply.data)]
    assert codes == [200, 201, 200] and reply.closed


def test_http_1_0_is_answered_and_closed(served: Served) -> None:
    reply = exchange(served.port, b"GET /version HTTP/1.0\r\n\r\n")
    assert reply.code == 200 and reply.closed


# --- 100 Continue and reading bodies only when they will be used ---------------------------


def test_no_100_continue_before_a_413(served: Served) -> None:
    with connect(served.port) as sock:
        sock.sendall(request("POST", CMS, headers={"Content-Length": str(50 * 1024 * 1024),
                                                   "Expect": "100-continue"}))
        reply = read_reply(sock, wait=10)
    assert reply.data.startswith(b"HTTP/1.1 413 "), reply.data[:200]
    assert reply.closed


def test_100_continue_for_a_body_that_will_be_read(served: Served) -> None:
    body = json.dumps({"metadata": {"name": "continued"}}).encode()
    with connect(served.port) as sock:
        sock.sendall(request("POST", CMS, headers={"Content-Length": str(len(body)),
                                                   "Expect": "100-continue"}))
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
        sock.sendall(body)
        reply = read_reply(sock, until_close=False)
    assert reply.code == 201


def test_without_a_token_the_body_is_not_read(guarded: Served) -> None:
    with connect(guarded.port) as sock:  # 100 MB announced, none sent: answered at once
        sock.sendall(request("POST", CMS, headers={"Content-Length": str(100 * 1024 * 1024)}))
        reply = read_reply(sock, wait=10)
    assert reply.code == 401 and reply.closed, reply.data[:200]
    with connect(guarded.port) as sock:
        sock.sendall(request("POST", CMS, headers={"Content-Length": "1000000",
                                                   "Expect": "100-continue"}))
        reply = read_reply(sock, wait=10)
    assert reply.data.startswith(b"HTTP/1.1 401 "), reply.data[:200]


def test_a_chunked_stream_without_a_token_is_not_read(guarded: Served) -> None:
    with connect(guarded.port) as sock:
        sock.sendall(request("POST", CMS, headers={"Transfer-Encoding": "chunked"})
                     + b"-1\r\n")
        reply = read_reply(sock, wait=10)
    assert reply.code == 401


# --- text that is not UTF-8 -----------------------------------------------------------------


@pytest.mark.parametrize("name", ['"a\\ud800"', '"\\udfff"', '"x\\uDBFF"'])
def test_a_lone_surrogate_in_a_name_is_a_400(served: Served, name: str) -> None:
    body = b'{"metadata": {"name": ' + name.encode() + b"}}"
    reply = exchange(served.port, request("POST", CMS, body), until_close=False)
    assert reply.code == 400 and "surrogate" in reply.status["message"], reply.data[:300]
    healthy(served.port)


def test_a_surrogate_pair_is_text(served: Served) -> None:
    body = b'{"metadata": {"name": "cm", "annotations": {"a": "\\ud83d\\ude00"}}}'
    assert call(served.port, "POST", CMS, body).json["metadata"]["annotations"] == {
        "a": "\U0001f600"}


@pytest.mark.parametrize("body", [b'{"metadata": {"name": "\xff"}}',
                                  b'{"metadata": {"name": "\xed\xa0\x80"}}'])
def test_invalid_utf8_in_a_body_is_a_400(served: Served, body: bytes) -> None:
    reply = exchange(served.port, request("POST", CMS, body), until_close=False)
    assert reply.code == 400 and "UTF-8" in reply.status["message"]


@pytest.mark.parametrize("path", [f"{CMS}/%ED%A0%80", f"{CMS}/%FF", f"{CMS}?labelSelector=%FF",
                                  f"{CMS}/%"])
def test_invalid_utf8_in_a_url_is_a_400(served: Served, path: str) -> None:
    reply = exchange(served.port, request("GET", path), until_close=False)
    if path.endswith("%"):  # a lone % is no escape at all: a name that does not exist
        assert reply.code == 404
        return
    assert reply.code == 400 and "URL" in reply.status["message"]


def test_raw_non_ascii_bytes_in_the_request_line_are_a_400(served: Served) -> None:
    reply = exchange(served.port, b"GET /api/v1/namespaces/\xff HTTP/1.1\r\nHost: x\r\n\r\n",
                     shut=True)
    assert reply.code == 400


# --- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [300, 600, 100_000])
def test_deeply_nested_json_is_a_400_not_a_recursion_error(served: Served, depth: int) -> None:
    body = b'{"metadata": {"name": "deep"}, "data": {"x": ' + b"[" * depth + b"]" * depth \
        + b"}}"
    answer = call(served.port, "POST", CMS, body)
    assert_status(answer, 400, "BadRequest")
    assert "nests deeper" in answer.json["message"]


@pytest.mark.parametrize("text", [
    "x: " + "[" * 5000 + "]" * 5000,
    "x:\n" + "".join("  " * i + "- \n" for i in range(1, 400)),
])
def test_deeply_nested_yaml_is_a_400(served: Served, text: str) -> None:
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  " + text
    answer = call(served.port, "POST", CMS, body, content_type="application/yaml")
    assert_status(answer, 400, "BadRequest")


def test_a_yaml_alias_bomb_is_a_400(served: Served) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    answer = call(served.port, "POST", CMS, "\n".join(lines),
                  content_type="application/yaml")
    assert_status(answer, 400, "BadRequest")
    assert "alias" in answer.json["message"]


def doubling_copies(depth: int, ops: int, under: str = "") -> list[dict[str, object]]:
    """A chain ``{"n": {"n": ...}}`` of ``depth`` at ``under``/x, then ``copy`` operations
    that each put the whole chain into its own deepest map: the depth doubles each time,
    the size stays small."""
    chain: dict[str, object] = {}
    for _ in range(depth - 1):
        chain = {"n": chain}
    out: list[dict[str, object]] = [{"op": "add", "path": f"{under}/x", "value": chain}]
    deepest = "/n" * (depth - 1)
    for _ in range(ops):
        out.append({"op": "copy", "from": f"{under}/x", "path": f"{under}/x{deepest}/c"})
        deepest = f"{deepest}/c{deepest}"
    return out


def test_json_patch_copies_that_nest_too_deep_are_a_422(served: Served) -> None:
    call(served.port, "POST", CMS, {"metadata": {"name": "p"}})
    answer = call(served.port, "PATCH", f"{CMS}/p", doubling_copies(10, 6),
                  content_type="application/json-patch+json")
    status = assert_status(answer, 422, "Invalid")
    assert "nests deeper" in status["message"]


# --- patches --------------------------------------------------------------------------------


def test_json_patch_copy_amplification_is_a_422_at_once(served: Served) -> None:
    call(served.port, "POST", CMS, {"metadata": {"name": "amp"},
                                    "data": {"a": "x" * 1000}})
    ops = [{"op": "copy", "from": "/data", "path": f"/data/k{i}"} for i in range(25)]
    answer = call(served.port, "PATCH", f"{CMS}/amp", ops,
                  content_type="application/json-patch+json", timeout=20)
    status = assert_status(answer, 422, "Invalid")
    assert "copy" in status["message"]
    healthy(served.port)


def test_json_patch_with_too_many_operations_is_413(served: Served) -> None:
    call(served.port, "POST", CMS, {"metadata": {"name": "many"}})
    ops = [{"op": "test", "path": "/kind", "value": "ConfigMap"}] * 10_001
    answer = call(served.port, "PATCH", f"{CMS}/many", ops,
                  content_type="application/json-patch+json")
    status = assert_status(answer, 413, "RequestEntityTooLarge")
    assert "10000" in status["message"]


def test_put_of_a_deployment_to_scale_is_a_400(served: Served) -> None:
    call(served.port, "POST", DEPLOYS, deployment())
    body = deployment()
    body["spec"]["replicas"] = 5
    status = assert_status(call(served.port, "PUT", f"{DEPLOYS}/web/scale", body), 400,
                           "BadRequest")
    assert "cannot be handled as a Scale" in status["message"]
    assert call(served.port, "GET", f"{DEPLOYS}/web/scale").json["spec"]["replicas"] == 1
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
             "metadata": {"name": "web"}, "spec": {"replicas": 2}}
    assert call(served.port, "PUT", f"{DEPLOYS}/web/scale", scale).code == 200


def test_a_pod_posted_as_a_binding_is_a_400(served: Served) -> None:
    call(served.port, "POST", "/api/v1/namespaces/default/pods", pod("a"))
    status = assert_status(call(served.port, "POST", "/api/v1/namespaces/default/pods/a/"
                                "binding", pod("a")), 400, "BadRequest")
    assert "cannot be handled as a Binding" in status["message"]


@pytest.mark.parametrize(("path", "patch"), [
    (f"{DEPLOYS}/web/scale", {"spec": {"replicas": 2, "$foo": 1}}),
    (f"{DEPLOYS}/web", {"metadata": {"$foo": {"x": 1}}}),
    (f"{DEPLOYS}/web", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "$bar": "x"}]}}}}),
    (f"{DEPLOYS}/web", {"spec": {"$retainKeys": "replicas"}}),
    (f"{DEPLOYS}/web", {"spec": {"$patch": "merge"}}),
])
def test_unknown_strategic_merge_directives_are_a_400(served: Served, path: str,
                                                      patch: object) -> None:
    call(served.port, "POST", DEPLOYS, deployment())
    answer = call(served.port, "PATCH", path, patch,
                  content_type="application/strategic-merge-patch+json")
    assert_status(answer, 400, "BadRequest")
    assert call(served.port, "GET", f"{DEPLOYS}/web/scale").json["spec"]["replicas"] == 1


# --- time and connections -------------------------------------------------------------------


def test_a_slow_head_is_cut_off_with_a_408(small: Served) -> None:
    with connect(small.port, 20) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\n")
        for _ in range(5):  # a header byte every 0.1 s, never the end of the head
            sock.sendall(b"X")
            time.sleep(0.1)
        reply = read_reply(sock, wait=10)
    assert reply.code == 408 and reply.closed


def test_a_silent_connection_is_closed_after_the_header_timeout(small: Served) -> None:
    with connect(small.port) as sock:
        reply = read_reply(sock, wait=10)
    assert reply.closed and reply.data == b""


def test_an_idle_keep_alive_connection_is_closed(small: Served) -> None:
    with connect(small.port) as sock:
        sock.sendall(request("GET", "/version"))
        first = read_reply(sock, until_close=False)
        assert first.code == 200 and not first.closed
        rest = read_reply(sock, wait=10)
    assert rest.closed and rest.data == b""


def test_a_slow_body_is_cut_off_with_a_408(small: Served) -> None:
    with connect(small.port) as sock:
        sock.sendall(request("POST", CMS, headers={"Content-Length": "500"}) + b"{")
        reply = read_reply(sock, wait=10)
    assert reply.code == 408 and reply.closed


def _connections(port: int, n: int) -> list[socket.socket]:
    return [connect(port) for _ in range(n)]


def test_connection_caps_answer_429_and_503_with_retry_after(store: Store) -> None:
    s = start(store, limits=Limits(max_connections=4, max_connections_per_client=2))
    held: list[socket.socket] = []
    try:
        held = _connections(s.port, 2)
        time.sleep(0.2)  # both admitted
        with connect(s.port) as third:
            third.sendall(request("GET", "/version"))
            reply = read_reply(third)
        assert reply.code == 429 and reply.header("Retry-After") == "1"
        assert reply.status["reason"] == "TooManyRequests"
        assert reply.status["details"]["retryAfterSeconds"] == 1
        # other peers (another loopback address) still get in, up to the listener's cap
        others = []
        for _ in range(2):
            sock = socket.socket()
            sock.bind(("127.0.0.2", 0))
            sock.settimeout(10)
            sock.connect(("127.0.0.1", s.port))
            others.append(sock)
        held += others
        time.sleep(0.2)
        sock = socket.socket()
        sock.bind(("127.0.0.3", 0))
        sock.settimeout(10)
        sock.connect(("127.0.0.1", s.port))
        with sock:
            sock.sendall(request("GET", "/version"))
            reply = read_reply(sock)
        assert reply.code == 503 and reply.status["reason"] == "ServiceUnavailable"
        assert reply.header("Retry-After") == "1"
    finally:
        for sock in held:
            sock.close()
        time.sleep(0.2)
        healthy(s.port)
        s.server.shutdown()


def test_threads_are_bounded_by_the_connection_caps(store: Store) -> None:
    s = start(store, limits=Limits(max_connections_per_client=20, header_timeout=30))
    held: list[socket.socket] = []
    try:
        before = threading.active_count()
        held = _connections(s.port, 200)
        for sock in held:
            sock.sendall(b"GET /version HTTP/1.1\r\n")  # a head that never ends
        time.sleep(0.5)
        assert threading.active_count() - before <= 20 + 2  # 20 served, the rejecter, slack
        healthy_from_elsewhere = socket.socket()
        healthy_from_elsewhere.bind(("127.0.0.2", 0))
        healthy_from_elsewhere.settimeout(10)
        healthy_from_elsewhere.connect(("127.0.0.1", s.port))
        with healthy_from_elsewhere as sock:
            sock.sendall(request("GET", "/version", headers={"Connection": "close"}))
            assert read_reply(sock).code == 200
    finally:
        for sock in held:
            sock.close()
        s.server.shutdown()


def test_refusals_over_tls_are_answered_too(store: Store, tmp_path: Path) -> None:
    import ssl

    from gitkube.daemon.tls import ensure_certificates, server_context

    files = ensure_certificates(tmp_path / "tls", ["127.0.0.1"])
    s = start(store, limits=Limits(max_connections_per_client=1))
    port = s.server.serve_tcp("127.0.0.1", 0, ssl_context=server_context(files.cert,
                                                                        files.key))
    ctx = ssl.create_default_context(cafile=str(files.ca))
    try:
        with connect(port):  # admitted: its handshake never comes
            time.sleep(0.2)
            with ctx.wrap_socket(connect(port), server_hostname="127.0.0.1") as second:
                second.sendall(request("GET", "/version"))
                reply = read_reply(second, until_close=False)
        assert reply.code == 429, reply.data[:200]
        assert reply.header("Retry-After") == "1"
    finally:
        s.server.shutdown()


def test_http_client_waits_out_a_429_and_asks_again(store: Store) -> None:
    from gitkube.api.http_client import HTTPClient

    s = start(store, limits=Limits(max_connections_per_client=1))
    try:
        held = connect(s.port)
        time.sleep(0.2)
        threading.Timer(0.3, held.close).start()  # the cap frees up before Retry-After ends
        client = HTTPClient(s.url)
        assert client.create({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "after-429"}})["metadata"]["uid"]
        client.close()
    finally:
        s.server.shutdown()
