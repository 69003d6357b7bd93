"""TLS material, tokens, listen rules, redaction, state files and kubeconfig: the pure and
file-level parts of the daemon's security model."""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from gitkube.api.server.auth import Attributes, Identity
from gitkube.daemon.kubeconfig import build_kubeconfig, render_yaml
from gitkube.daemon.listen import Listen, check_security, is_loopback, parse_listen
from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.redact import REDACTED, TokenRedactor, redact
from gitkube.daemon.state import (
    DaemonInfo,
    PidLock,
    is_locked,
    read_info,
    store_identity,
    write_info,
)
from gitkube.daemon.tls import ensure_certificates, fingerprint
from gitkube.daemon.tokens import (
    TokenAuth,
    append_token,
    create_tokens_file,
    parse_tokens,
)
from gitkube.errors import GitkubeError, UsageError

ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"


# --- TLS ------------------------------------------------------------------------------------


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(
        san.get_values_for_type(x509.DNSName))


def test_generated_certificates_cover_loopback_and_the_listen_host(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls", ["192.0.2.7"])
    assert files.generated
    assert {"127.0.0.1", "::1", "localhost", "192.0.2.7"} <= _sans(files.cert)
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "ca.key").stat().st_mode) == 0o600
    # the chain verifies with the CA, for the names kubectl checks
    out = subprocess.run(["openssl", "verify", "-CAfile", str(files.ca), str(files.cert)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # same fingerprint as openssl prints
    printed = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                              str(files.ca)], capture_output=True, text=True).stdout
    assert printed.strip().split("=", 1)[1] == fingerprint(files.ca)


def test_certificates_are_reused_and_reissued_for_a_new_host(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path, [])
    ca_before, cert_before = first.ca.read_bytes(), first.cert.read_bytes()
    again = ensure_certificates(tmp_path, ["127.0.0.1"])
    assert not again.generated and again.cert.read_bytes() == cert_before
    moved = ensure_certificates(tmp_path, ["myhost.example"])
    assert moved.generated
    assert moved.ca.read_bytes() == ca_before  # kubeconfigs stay valid
    assert "myhost.example" in _sans(moved.cert)


def test_server_context_serves_a_handshake_clients_verify(tmp_path: Path) -> None:
    import socket
    import ssl
    import threading

    from gitkube.daemon.tls import server_context

    files = ensure_certificates(tmp_path, [])
    srv = server_context(files.cert, files.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        with srv.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"ok")

    t = threading.Thread(target=accept)
    t.start()
    ctx = ssl.create_default_context(cadata=files.ca.read_text())
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.recv(2) == b"ok"
    t.join()
    listener.close()


# --- tokens ---------------------------------------------------------------------------------


def _tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.csv"
    path.write_text(f"# comment\n\n{ADMIN},alice,admin\n{VIEWER},bob,read-only\n")
    path.chmod(0o600)
    return path


def test_tokens_authenticate_and_authorize_by_role(tmp_path: Path) -> None:
    auth = TokenAuth(_tokens_file(tmp_path))
    assert auth.authenticate({}) is None
    assert auth.authenticate({"authorization": "Bearer wrong-token-0123456789"}) is None
    assert auth.authenticate({"authorization": f"Basic {ADMIN}"}) is None
    admin = auth.authenticate({"authorization": f"Bearer {ADMIN}"})
    viewer = auth.authenticate({"authorization": f"bearer {VIEWER}"})
    assert admin is not None and admin.name == "alice"
    assert viewer is not None and viewer.name == "bob"
    read = Attributes("list", "/api/v1/pods", resource="pods")
    write = Attributes("create", "/api/v1/namespaces/default/pods", resource="pods",
                       namespace="default")
    assert auth.authorize(admin, "create", write) and auth.authorize(admin, "list", read)
    assert auth.authorize(viewer, "list", read)
    assert not auth.authorize(viewer, "create", write)
    assert auth.authorize(viewer, "get", Attributes("get", "/version"))
    assert not auth.authorize(Identity("nobody"), "list", read)


def test_read_only_cannot_read_secrets(tmp_path: Path) -> None:
    """As upstream's view role: a Secret's values are credentials (reading them could
    escalate); admin reads them."""
    auth = TokenAuth(_tokens_file(tmp_path))
    admin = auth.authenticate({"authorization": f"Bearer {ADMIN}"})
    viewer = auth.authenticate({"authorization": f"Bearer {VIEWER}"})
    assert admin is not None and viewer is not None
    for verb in ("get", "list", "watch"):
        secrets = Attributes(verb, "/api/v1/namespaces/default/secrets", resource="secrets",
                             namespace="default")
        assert not auth.authorize(viewer, verb, secrets)
        assert auth.authorize(admin, verb, secrets)
    assert auth.authorize(viewer, "list", Attributes("list", "/api/v1/configmaps",
                                                     resource="configmaps"))


def test_tokens_file_errors_name_the_line_never_the_token(tmp_path: Path) -> None:
    with pytest.raises(GitkubeError, match=r"f:2: unknown role 'root'") as err:
        parse_tokens(f"{ADMIN},alice,admin\n{VIEWER},bob,root\n", "f")
    assert VIEWER not in str(err.value)
    with pytest.raises(GitkubeError, match="expected 3 columns"):
        parse_tokens(f"{ADMIN},alice\n", "f")
    with pytest.raises(GitkubeError, match="at least 16"):
        parse_tokens("short,alice,admin\n", "f")
    with pytest.raises(GitkubeError, match="already used"):
        parse_tokens(f"{ADMIN},a,admin\n{ADMIN},b,read-only\n", "f")
    assert parse_tokens(f"{ADMIN},a,readonly\n")[0].role == "read-only"
    assert ADMIN not in repr(parse_tokens(f"{ADMIN},a,admin\n")[0])


def test_tokens_file_is_generated_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    entry = create_tokens_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and entry.role == "admin"
    auth = TokenAuth(path, reload_interval=0)
    assert auth.authenticate({"authorization": f"Bearer {entry.token}"}) is not None
    added = append_token(path, "viewer", "read-only")
    os.utime(path, (1, 1))  # a different mtime, whatever the clock's resolution
    who = auth.authenticate({"authorization": f"Bearer {added.token}"})
    assert who is not None and who.name == "viewer"
    path.write_text("garbage line\n")  # a broken edit keeps the previous tokens
    os.utime(path, (2, 2))
    assert auth.authenticate({"authorization": f"Bearer {added.token}"}) is not None


# --- listen ---------------------------------------------------------------------------------


def test_listen_parsing_and_the_security_rules() -> None:
    assert parse_listen("127.0.0.1:7443") == Listen("127.0.0.1", 7443)
    assert parse_listen("[::1]:0") == Listen("::1", 0)
    assert parse_listen("none") is None
    for bad in ("7443", ":7443", "host:port", "1.2.3.4:99999", "::1:80"):
        with pytest.raises(UsageError):
            parse_listen(bad)
    assert is_loopback("127.0.0.2") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    check_security(Listen("127.0.0.1", 1), no_tls=True, cert=None, key=None)
    with pytest.raises(UsageError, match="only a loopback"):
        check_security(Listen("0.0.0.0", 1), no_tls=True, cert=None, key=None)
    with pytest.raises(UsageError, match="go together"):
        check_security(Listen("0.0.0.0", 1), no_tls=False, cert="c", key=None)
    assert Listen("0.0.0.0", 7443).url(8443) == "https://127.0.0.1:8443"
    assert Listen("::1", 1).url(tls=False) == "http://[::1]:1"


# --- redaction ------------------------------------------------------------------------------


def test_redaction_of_known_tokens_and_bearer_headers() -> None:
    assert redact(f"token {ADMIN} here", [ADMIN]) == f"token {REDACTED} here"
    assert redact("Authorization: Bearer abc.def-ghi-jkl-mno", []) == \
        f"Authorization: Bearer {REDACTED}"
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(TokenRedactor(lambda: [ADMIN]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("request with %s", ADMIN)
        try:
            raise ValueError(f"bad {ADMIN}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert records and all(ADMIN not in r for r in records)


# --- state ----------------------------------------------------------------------------------


def test_lock_state_file_and_store_identity(tmp_path: Path) -> None:
    paths = DaemonPaths(tmp_path)
    assert not is_locked(paths)
    lock = PidLock(paths)
    lock.acquire()
    try:
        assert is_locked(paths)
        with pytest.raises(GitkubeError, match="already running"):
            PidLock(paths).acquire()
        info = DaemonInfo(pid=os.getpid(), store="sqlite:x.db",
                          store_id=store_identity("sqlite:x.db"), socket="s")
        write_info(paths, info)
        assert read_info(paths) == info
        assert stat.S_IMODE(paths.info.stat().st_mode) == 0o600
    finally:
        lock.release()
    assert not is_locked(paths) and not paths.info.exists() and not paths.pid.exists()
    cwd = Path.cwd()
    same = {store_identity(u) for u in (f"sqlite:///{cwd}/a.db", "sqlite:a.db", "a.db",
                                        f"sqlite:////{cwd}/a.db?history=5")}
    assert len(same) == 1
    assert store_identity("etcd://Host") == store_identity("etcd://host:2379")
    assert store_identity("sqlite:a.db") != store_identity("sqlite:b.db")


# --- kubeconfig -----------------------------------------------------------------------------


def test_kubeconfig_document() -> None:
    doc = build_kubeconfig("https://127.0.0.1:7443", b"PEM", ADMIN, "alice", namespace="web")
    assert doc["current-context"] == "gitkube"
    cluster = doc["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"PEM"
    assert doc["users"][0] == {"name": "alice", "user": {"token": ADMIN}}
    assert doc["contexts"][0]["context"] == {"cluster": "gitkube", "user": "alice",
                                             "namespace": "web"}
    text = render_yaml(doc)
    assert text.startswith("apiVersion: v1\nkind: Config\n")
