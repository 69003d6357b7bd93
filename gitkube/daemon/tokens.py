"""Bearer tokens for the daemon's TCP listener, from a tokens file, with two roles.

The file is CSV like kube-apiserver's ``--token-auth-file``, with a role column::

    # token,user,role
    3Fq9...long-random...,alice,admin
    Zk2b...long-random...,dashboard,read-only

- ``admin`` may do everything; ``read-only`` may get, list and watch (and read discovery,
  /version and logs) everything but Secrets, as upstream's ``view`` role — any other verb,
  and any read of a Secret, is 403 Forbidden. Reading Secrets takes ``admin``.
- Blank lines and lines starting with ``#`` are ignored; a token has at least 16 characters
  of ``[A-Za-z0-9._~+/=-]``; tokens are unique. A bad line is an error naming its line
  number (never its token).
- The file is re-read when its modification time changes (checked at most once a second),
  so tokens can be added or revoked without a restart. It should be mode 0600: the daemon
  warns otherwise.

``TokenAuth`` is the ``gitkube.api.server.auth.Auth`` the server calls: no
``Authorization: Bearer`` header, or an unknown token, is None (401); tokens are compared
in constant time. Tokens never reach a log line: errors and log records name the user.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gitkube.api.server.auth import Attributes, Identity
from gitkube.errors import GitkubeError

log = logging.getLogger("gitkube.daemon.auth")

Role = Literal["admin", "read-only"]
ROLES: tuple[Role, ...] = ("admin", "read-only")
_ROLE_ALIASES: dict[str, Role] = {"admin": "admin", "read-only": "read-only",
                                  "readonly": "read-only", "read_only": "read-only",
                                  "view": "read-only"}
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{16,}$")
ROLE_GROUP_PREFIX = "gitkube:"  # Identity.groups holds "gitkube:admin" or "gitkube:read-only"


@dataclass(frozen=True)
class TokenEntry:
    """One line of the tokens file."""

    token: str
    user: str
    role: Role

    def __repr__(self) -> str:  # never print the token
        return f"TokenEntry(user={self.user!r}, role={self.role!r})"


def parse_tokens(text: str, source: str = "tokens file") -> list[TokenEntry]:
    """The entries of a tokens file; GitkubeError naming the line for a bad one."""
    entries: list[TokenEntry] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        where = f"{source}:{number}"
        if len(cells) != 3:
            raise GitkubeError(f"{where}: expected 3 columns token,user,role, found "
                               f"{len(cells)}", hint="see docs/DAEMON.md, Tokens file")
        token, user, role_text = cells
        if not _TOKEN_RE.match(token):
            raise GitkubeError(f"{where}: the token must be at least 16 characters of "
                               "letters, digits and ._~+/=-",
                               hint="make one with: python3 -c 'import secrets; "
                                    "print(secrets.token_urlsafe(32))'")
        if not user:
            raise GitkubeError(f"{where}: the user name is empty")
        role = _ROLE_ALIASES.get(role_text.lower())
        if role is None:
            raise GitkubeError(f"{where}: unknown role {role_text!r}",
                               hint=f"one of: {', '.join(ROLES)}")
        if token in seen:
            raise GitkubeError(f"{where}: this token is already used on an earlier line")
        seen.add(token)
        entries.append(TokenEntry(token, user, role))
    return entries


def load_tokens(path: Path) -> list[TokenEntry]:
    """Read and parse ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GitkubeError(f"cannot read the tokens file {path}: {exc.strerror}",
                           hint="pass --tokens FILE, or omit it to have one generated") from exc
    return parse_tokens(text, str(path))


def create_tokens_file(path: Path, user: str = "admin") -> TokenEntry:
    """Write a new tokens file (mode 0600) with one admin token; returns that entry."""
    entry = TokenEntry(secrets.token_urlsafe(32), user, "admin")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# token,user,role  (role: admin or read-only). Keep this file mode 0600.\n")
        f.write(f"{entry.token},{entry.user},{entry.role}\n")
    return entry


def append_token(path: Path, user: str, role: Role) -> TokenEntry:
    """Add a new random token for ``user`` with ``role`` to an existing tokens file."""
    entries = load_tokens(path)
    if any(e.user == user for e in entries):
        raise GitkubeError(f"user {user!r} already has a token in {path}",
                           hint="choose another name, or edit the file")
    entry = TokenEntry(secrets.token_urlsafe(32), user, role)
    with path.open("a", encoding="utf-8") as f:
        f.write(f"{entry.token},{entry.user},{entry.role}\n")
    return entry


def loose_permissions(path: Path) -> bool:
    """True when group or others may read the file."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


class TokenAuth:
    """Authenticate bearer tokens from a tokens file; authorize by role (module docstring)."""

    def __init__(self, path: Path, *, reload_interval: float = 1.0):
        self.path = path
        self.reload_interval = reload_interval
        self._lock = threading.Lock()
        self._entries = load_tokens(path)
        self._mtime = self._stat()
        self._checked = time.monotonic()
        if loose_permissions(path):
            log.warning("tokens file %s is readable by other users: chmod 600 it", path)

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _maybe_reload(self) -> str | None:
        """Re-read the file if it changed; what to log (logged by the caller outside the
        lock: the log redactor reads ``known_tokens``)."""
        now = time.monotonic()
        if now - self._checked < self.reload_interval:
            return None
        self._checked = now
        mtime = self._stat()
        if mtime == self._mtime:
            return None
        self._mtime = mtime
        try:
            self._entries = load_tokens(self.path)
        except GitkubeError as err:  # keep the previous tokens: a half-written edit
            return f"tokens file not reloaded: {err.message}"
        return f"tokens file {self.path} reloaded: {len(self._entries)} tokens"

    @property
    def entries(self) -> list[TokenEntry]:
        with self._lock:
            message = self._maybe_reload()
            entries = list(self._entries)
        if message:
            log.info("%s", message)
        return entries

    def known_tokens(self) -> list[str]:
        """The tokens as last read, without touching the file (for the log redactor)."""
        entries = self._entries  # one atomic read of the reference: no lock needed
        return [e.token for e in entries]

    def lookup(self, token: str) -> TokenEntry | None:
        """The entry whose token equals ``token`` (constant-time comparisons)."""
        found = None
        given = token.encode()
        for entry in self.entries:
            if hmac.compare_digest(entry.token.encode(), given):
                found = entry
        return found

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        value = headers.get("authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        entry = self.lookup(token.strip())
        if entry is None:
            return None
        return Identity(entry.user, (ROLE_GROUP_PREFIX + entry.role,))

    def authorize(self, identity: Identity, verb: str, resource: Attributes) -> bool:
        if ROLE_GROUP_PREFIX + "admin" in identity.groups:
            return True
        if ROLE_GROUP_PREFIX + "read-only" in identity.groups:
            # upstream's view role: Secrets hold credentials, reading them is escalation
            return resource.read_only and resource.resource != "secrets"
        return False

