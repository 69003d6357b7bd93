"""The ``--listen`` address and the security rules that follow from it. Pure.

- ``HOST:PORT`` (``[::1]:PORT`` for IPv6); ``none`` turns the TCP listener off (the unix
  socket is always there).
- A loopback host (127.0.0.0/8, ::1, localhost) may be plain HTTP (``--no-tls``); any other
  host must be TLS. Every TCP listener requires bearer tokens.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gitkube.errors import UsageError

DEFAULT_PORT = 7443  # not 6443: gitkube can run beside k3s or kind on the same machine
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"


@dataclass(frozen=True)
class Listen:
    """Where the TCP listener binds (``port`` 0: the kernel picks one)."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def url(self, port: int | None = None, *, tls: bool = True) -> str:
        """The URL clients use (``port`` overrides, e.g. the port actually bound)."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if tls else 'http'}://{host}:{self.port if port is None else port}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> Listen | None:
    """``HOST:PORT`` -> Listen; ``none`` -> None; UsageError for anything else."""
    text = text.strip()
    if text.lower() in ("none", "off", ""):
        return None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        ok = bool(sep)
    else:
        host, sep, port_text = text.rpartition(":")
        ok = bool(sep) and ":" not in host
    if not ok or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT such as {DEFAULT_LISTEN}",
                         hint="IPv6 as [::1]:7443; `none` turns TCP off")
    if not host:
        raise UsageError(f"--listen {text!r}: give the host, e.g. 0.0.0.0:{port_text} for every "
                         "interface (TLS and tokens are then required)")
    return Listen(host, int(port_text))


def check_security(listen: Listen | None, *, no_tls: bool, cert: object, key: object) -> None:
    """Refuse a configuration the security model forbids (module docstring)."""
    if (cert is None) != (key is None):
        raise UsageError("--tls-cert and --tls-key go together",
                         hint="give both, or neither to have a certificate generated")
    if listen is None:
        return
    if no_tls and not listen.loopback:
        raise UsageError(f"--no-tls on {listen.host}: only a loopback address may serve plain "
                         "HTTP", hint="drop --no-tls (a certificate is generated on first "
                                      "start), or listen on 127.0.0.1")
    if no_tls and cert is not None:
        raise UsageError("--no-tls contradicts --tls-cert/--tls-key")
