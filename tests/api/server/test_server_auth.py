"""The auth hook (401/403 as Status), unix sockets, TLS and shutdown."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from gitkube.api.http_client import HTTPClient, ServerUnavailable
from gitkube.api.server import Attributes, Identity
from gitkube.errors import Forbidden, NotFound, Unauthorized
from gitkube.store import Store
from tests.api.server.httphelp import assert_status, call, pod
from tests.api.server.serving import Served, start

PODS = "/api/v1/namespaces/default/pods"
TOKENS = {"admin-token": Identity("alice", ("admin",)),
          "reader-token": Identity("bob", ("read-only",))}


class TokenAuth:
    def __init__(self) -> None:
        self.seen: list[Attributes] = []

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return TOKENS.get(token) if scheme == "Bearer" else None

    def authorize(self, identity: Identity, verb: str, resource: Attributes) -> bool:
        self.seen.append(resource)
        return "admin" in identity.groups or resource.read_only


@pytest.fixture
def guarded(store: Store) -> Iterator[Served]:
    s = start(store, auth=TokenAuth())
    yield s
    s.server.shutdown()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_or_a_wrong_token_is_401(guarded: Served) -> None:
    assert_status(call(guarded.port, "GET", PODS), 401, "Unauthorized")
    assert_status(call(guarded.port, "GET", "/version", headers=bearer("wrong")), 401,
                  "Unauthorized")
    assert_status(call(guarded.port, "POST", PODS, pod("a"), headers=bearer("wrong")), 401,
                  "Unauthorized")
    assert call(guarded.port, "GET", "/healthz").code == 200  # probes need no token


def test_read_only_token_reads_but_cannot_write(guarded: Served) -> None:
    assert call(guarded.port, "POST", PODS, pod("a"), headers=bearer("admin-token")).code == 201
    assert call(guarded.port, "GET", f"{PODS}/a", headers=bearer("reader-token")).code == 200
    assert call(guarded.port, "GET", "/api/v1", headers=bearer("reader-token")).code == 200
    status = assert_status(call(guarded.port, "DELETE", f"{PODS}/a",
                                headers=bearer("reader-token")), 403, "Forbidden")
    assert 'User "bob" cannot delete' in status["message"]
    assert_status(call(guarded.port, "POST", PODS, pod("b"), headers=bearer("reader-token")),
                  403, "Forbidden")


def test_authorize_sees_kubernetes_attributes(guarded: Served) -> None:
    auth = guarded.server.auth
    assert isinstance(auth, TokenAuth)
    call(guarded.port, "GET", "/apis/apps/v1/namespaces/team/deployments/web/scale?watch=0",
         headers=bearer("admin-token"))
    call(guarded.port, "GET", f"{PODS}?watch=1&timeoutSeconds=1",
         headers=bearer("admin-token"))
    call(guarded.port, "DELETE", PODS, headers=bearer("admin-token"))
    scale, watch, collection = auth.seen[-3:]
    assert (scale.verb, scale.group, scale.resource, scale.subresource, scale.namespace,
            scale.name) == ("get", "apps", "deployments", "scale", "team", "web")
    assert (watch.verb, watch.resource) == ("watch", "pods")
    assert collection.verb == "deletecollection"


def test_http_client_maps_auth_errors(guarded: Served) -> None:
    with pytest.raises(Unauthorized):
        HTTPClient(guarded.url).list("v1", "Pod")
    HTTPClient(guarded.url, token="admin-token").create(pod("a"))
    reader = HTTPClient(guarded.url, token="reader-token")
    assert reader.get("v1", "Pod", "default", "a")["metadata"]["name"] == "a"
    with pytest.raises(Forbidden):
        reader.delete("v1", "Pod", "default", "a")


def test_unix_socket(served: Served, unix_client: HTTPClient, tmp_path: Path) -> None:
    sock = tmp_path / "api.sock"
    assert sock.exists() and (sock.stat().st_mode & 0o777) == 0o600
    unix_client.create(pod("a"))
    assert [p["metadata"]["name"] for p in unix_client.list("v1", "Pod").items] == ["a"]
    with unix_client.watch("v1", "Pod") as w:
        event = w.next_event(10)
        assert event is not None and event.type == "ADDED"
    with pytest.raises(NotFound):
        unix_client.get("v1", "Pod", "default", "nope")
    # the path form works too, and TCP sees the same objects
    assert HTTPClient(str(sock)).get("v1", "Pod", "default", "a")
    assert call(served.port, "GET", f"{PODS}/a").code == 200


def test_stale_unix_socket_file_is_replaced_and_a_live_one_refused(served: Served,
                                                                    tmp_path: Path) -> None:
    import socket

    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()  # the file stays, nobody listens
    served.server.serve_unix(stale)
    assert HTTPClient(str(stale)).list("v1", "Pod").items == []
    with pytest.raises(OSError, match="another server"):
        served.server.serve_unix(stale)


def test_shutdown_stops_listening_and_removes_the_socket(store: Store, tmp_path: Path) -> None:
    s = start(store)
    sock = s.server.serve_unix(tmp_path / "api.sock")
    client = HTTPClient(s.url)
    client.list("v1", "Pod")  # a keep-alive connection is open
    s.server.shutdown()
    s.server.shutdown()  # twice is fine
    assert not sock.exists()
    with pytest.raises(ServerUnavailable):
        client.list("v1", "Pod")
    with pytest.raises(RuntimeError):
        s.server.serve_tcp("127.0.0.1", 0)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_tls_with_a_certificate_from_the_caller(store: Store, tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    s = start(store, auth=TokenAuth())
    try:
        port = s.server.serve_tcp("127.0.0.1", 0, ssl_context=context)
        client = HTTPClient(f"https://127.0.0.1:{port}", token="admin-token", ca=cert)
        client.create(pod("a"))
        assert client.get("v1", "Pod", "default", "a")["metadata"]["name"] == "a"
        with client.watch("v1", "Pod") as w:
            assert w.next_event(10) is not None
        by_data = HTTPClient(f"https://127.0.0.1:{port}", token="admin-token",
                             ca_data=cert.read_text())
        assert by_data.list("v1", "Pod").items
        with pytest.raises(ServerUnavailable):  # an unknown CA is refused
            HTTPClient(f"https://127.0.0.1:{port}", token="admin-token").list("v1", "Pod")
    finally:
        s.server.shutdown()


def test_each_listener_may_have_its_own_auth(guarded: Served, tmp_path: Path) -> None:
    """The daemon's shape: tokens on TCP, the unix socket trusted by its permissions."""
    sock = guarded.server.serve_unix(tmp_path / "trusted.sock", auth=None)
    HTTPClient(str(sock)).create(pod("a"))  # no token needed here
    open_port = guarded.server.serve_tcp("127.0.0.1", 0, auth=None)
    assert call(open_port, "GET", f"{PODS}/a").code == 200
    assert_status(call(guarded.port, "GET", f"{PODS}/a"), 401, "Unauthorized")
