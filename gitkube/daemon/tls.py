"""TLS for the daemon's TCP listener: a generated certificate authority and server
certificate, or the user's own.

``ensure_certificates(tls_dir, hosts)`` makes, on first use, a small CA (``ca.crt``,
``ca.key``; EC P-256, 10 years) and a server certificate signed by it (``server.crt``,
``server.key``; 1 year) whose subjectAltNames are IP 127.0.0.1, IP ::1, DNS localhost and
every listen host given. Later starts reuse them; the server certificate alone is re-issued
(same CA, so kubeconfigs stay valid) when a listen host is not covered or it expires within
30 days. Keys are written with mode 0600. kubectl sends a bearer token only over https and
checks these names (client-go), hence the loopback names are always present.

The fingerprint printed at start is the SHA-256 of the CA certificate (DER), in the
``AB:CD:...`` form ``openssl x509 -fingerprint -sha256`` prints.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitkube.errors import GitkubeError

CA_NAME = "gitkube-ca"
SERVER_DAYS = 365
CA_DAYS = 3650
RENEW_BEFORE = datetime.timedelta(days=30)
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class TLSFiles:
    """The certificate chain the listener presents, and what clients should trust."""

    cert: Path
    key: Path
    ca: Path  # what goes into a kubeconfig's certificate-authority-data
    generated: bool  # made or re-issued by this call

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.ca)


def fingerprint(pem_path: Path) -> str:
    """SHA-256 of the first certificate in a PEM file, as ``AB:CD:...``."""
    der = ssl.PEM_cert_to_DER_cert(_first_pem(pem_path.read_text()))
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _first_pem(text: str) -> str:
    end = "-----END CERTIFICATE-----"
    start = text.find("-----BEGIN CERTIFICATE-----")
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise GitkubeError("no PEM certificate found", hint="pass a PEM-encoded certificate")
    return text[start:stop + len(end)] + "\n"


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) presenting ``cert`` with ``key``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise GitkubeError(f"cannot load the TLS certificate {cert} with key {key}: {exc}",
                           hint="pass a PEM certificate and its matching private key") from exc
    return ctx


def ensure_certificates(tls_dir: Path, hosts: list[str]) -> TLSFiles:
    """The generated CA and server certificate under ``tls_dir``, made or re-issued as the
    module docstring says."""

    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_crt, ca_key = tls_dir / "ca.crt", tls_dir / "ca.key"
    srv_crt, srv_key = tls_dir / "server.crt", tls_dir / "server.key"
    names = _names(hosts)
    generated = False
    if not (ca_crt.exists() and ca_key.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _ca_certificate(key)
        _write_key(ca_key, key)
        _write(ca_crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        srv_crt.unlink(missing_ok=True)  # signed by a CA that is gone
        generated = True
    ca_cert = x509.load_pem_x509_certificate(ca_crt.read_bytes())
    ca_private = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    if not isinstance(ca_private, ec.EllipticCurvePrivateKey):
        raise GitkubeError(f"{ca_key} is not an EC private key",
                           hint=f"remove {tls_dir} to have a new CA generated")
    if not (srv_crt.exists() and srv_key.exists()) or _needs_reissue(srv_crt, names):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, ca_cert, ca_private, names)
        _write_key(srv_key, key)
        _write(srv_crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        generated = True
    return TLSFiles(cert=srv_crt, key=srv_key, ca=ca_crt, generated=generated)


def _names(hosts: list[str]) -> list[str]:
    out: list[str] = []
    for h in [*LOOPBACK_NAMES, *hosts]:
        h = h.strip("[]")
        if h and h not in ("0.0.0.0", "::") and h not in out:
            out.append(h)
    return out


def _needs_reissue(crt: Path, names: list[str]) -> bool:

    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    if cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) < RENEW_BEFORE:
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    have = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    have |= set(san.get_values_for_type(x509.DNSName))
    return any(_canonical(n) not in have for n in names)


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _subject_alt_names(names: list[str]) -> list[x509.GeneralName]:

    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
                        ca_key: ec.EllipticCurvePrivateKey,
                        names: list[str]) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    sans = _subject_alt_names(names)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitkube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    _write(path, key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically, created with ``mode`` (a key is never readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def ensure_client_certificate(tls_dir: Path, name: str = "gitkube-apiserver") -> tuple[Path,
                                                                                        Path]:
    """A client certificate (``<name>-client.crt``/``.key``, clientAuth only) signed by the
    CA in ``tls_dir`` (``ensure_certificates`` made it): what the API server shows a node's
    kubelet when it proxies exec, attach, port-forward and logs to it."""
    ca_crt, ca_key = tls_dir / "ca.crt", tls_dir / "ca.key"
    crt, key_path = tls_dir / f"{name}-client.crt", tls_dir / f"{name}-client.key"
    if crt.exists() and key_path.exists():
        return crt, key_path
    ca_cert = x509.load_pem_x509_certificate(ca_crt.read_bytes())
    ca_private = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    if not isinstance(ca_private, ec.EllipticCurvePrivateKey):
        raise GitkubeError(f"{ca_key} is not an EC private key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(ca_private, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return crt, key_path


def self_signed(crt: Path, key_path: Path, names: list[str]) -> str:
    """A self-signed serving certificate for ``names`` at ``crt``/``key_path`` (made when
    missing); the SHA-256 of its DER form, hex (what a Node publishes for it)."""
    if not (crt.exists() and key_path.exists()):
        crt.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitkube-kubelet")])
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_subject_alt_names(_names(names))),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(key_path, key)
        _write(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    loaded = x509.load_pem_x509_certificate(crt.read_bytes())
    return hashlib.sha256(loaded.public_bytes(serialization.Encoding.DER)).hexdigest()
