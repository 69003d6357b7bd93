"""The live store: revisioned objects with watch (SQLite by default, etcd, in-memory).

``open_store(url)`` picks the backend from the URL:

- ``sqlite:///abs/path/state.db`` (or ``sqlite:relative/state.db``, or a bare file path):
  one SQLite file; the default is ``gitkube.settings.Settings.store_url``.
- ``etcd://host:port``: an etcd v3 server (port 2379 when omitted);
  ``etcd://a:2379,b:2379,c:2379`` the members of an etcd cluster (requests and watches move
  to another member when one dies).
- ``memory://`` a fresh in-memory store; ``memory://NAME`` the same in-memory store for
  every opener in this process.

SQLite options go in the query string: ``?history=N`` (revisions kept for watchers) and
``?synchronous=full`` (survive power loss; default NORMAL survives process crashes).
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from gitkube.errors import UsageError
from gitkube.store.base import (
    Create,
    Delete,
    EventType,
    KeyValue,
    Op,
    Store,
    StoreEvent,
    Update,
    Watch,
)

__all__ = [
    "Create",
    "Delete",
    "EventType",
    "KeyValue",
    "Op",
    "Store",
    "StoreEvent",
    "Update",
    "Watch",
    "open_store",
]

_SCHEMES = "sqlite:///ABS/PATH, sqlite:REL/PATH, etcd://HOST:PORT or memory://[NAME]"
_named_memory: dict[str, Store] = {}
_named_lock = threading.Lock()


def open_store(url: str) -> Store:
    """Open the store named by ``url`` (``Settings.store_url`` is the default the CLI
    uses). Raises UsageError for a URL it cannot read, StoreUnavailable or StoreCorrupt when
    the store cannot be used."""
    if "://" not in url and not url.startswith(("sqlite:", "etcd:", "memory:")):
        url = f"sqlite:{url}"  # a bare path names a SQLite file
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        query = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=bool(parts.query))
                 .items()}
    except ValueError as exc:
        raise UsageError(f"store URL {url!r}: malformed query string") from exc
    if scheme == "sqlite":
        return _open_sqlite(url, parts.netloc, parts.path, query)
    if scheme == "etcd":
        _no_options(url, query)
        from gitkube.store.etcd import EtcdStore

        if not parts.netloc or parts.path not in ("", "/"):
            raise UsageError(f"store URL {url!r}: expected etcd://HOST:PORT[,HOST:PORT...]",
                             hint=f"store URLs look like {_SCHEMES}")
        return EtcdStore(_etcd_endpoints(url, parts.netloc))
    if scheme == "memory":
        from gitkube.store.memory import MemoryStore

        unknown = set(query) - {"history"}
        if unknown:
            raise UsageError(f"store URL {url!r}: unknown option {sorted(unknown)[0]!r}")
        history = _int_option(url, query, "history", 10_000)
        name = parts.netloc + parts.path
        if not name:
            return MemoryStore(url, history=history)
        with _named_lock:
            store = _named_memory.get(name)
            if store is None:
                store = _named_memory[name] = MemoryStore(url, history=history)
            return store
    raise UsageError(
        f"unknown store URL {url!r}",
        hint=f"store URLs look like {_SCHEMES}",
    )


def _open_sqlite(url: str, netloc: str, path: str, query: dict[str, str]) -> Store:
    from gitkube.store.sqlite import DEFAULT_HISTORY, SqliteStore

    if netloc:
        raise UsageError(
            f"store URL {url!r}: a SQLite URL has no host",
            hint="use sqlite:///absolute/path.db or sqlite:relative/path.db",
        )
    if not path or path == "/":
        raise UsageError(f"store URL {url!r} names no file",
                         hint="use sqlite:///absolute/path.db or sqlite:relative/path.db")
    unknown = set(query) - {"history", "synchronous"}
    if unknown:
        raise UsageError(f"store URL {url!r}: unknown option {sorted(unknown)[0]!r}",
                         hint="SQLite options: history=N, synchronous=normal|full")
    sync = query.get("synchronous", "NORMAL").upper()
    if sync not in ("NORMAL", "FULL", "EXTRA", "OFF"):
        raise UsageError(f"store URL {url!r}: synchronous must be normal or full")
    history = _int_option(url, query, "history", DEFAULT_HISTORY)
    if path.startswith("/"):
        path = "/" + path.lstrip("/")  # sqlite:////abs (SQLAlchemy's form) means /abs too
    return SqliteStore(Path(path).absolute(), url=url, history=history, synchronous=sync)


def _etcd_endpoints(url: str, netloc: str) -> list[tuple[str, int]]:
    """``host:port`` per member of ``etcd://a:2379,b:2379`` (port 2379 when omitted)."""
    out = []
    for part in netloc.split(","):
        member = urlsplit(f"//{part.strip()}")
        try:
            port = member.port or 2379
        except ValueError as exc:
            raise UsageError(f"store URL {url!r}: bad port in {part!r}") from exc
        if not member.hostname:
            raise UsageError(f"store URL {url!r}: an empty member in {netloc!r}",
                             hint="list members as etcd://HOST:PORT,HOST:PORT")
        out.append((member.hostname, port))
    return out


def _int_option(url: str, query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"store URL {url!r}: {name} must be a positive integer")
    return value


def _no_options(url: str, query: dict[str, str]) -> None:
    if query:
        raise UsageError(f"store URL {url!r}: unknown option {sorted(query)[0]!r}",
                         hint="etcd URLs take no options; configure etcd itself")
