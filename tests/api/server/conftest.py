"""Fixtures for the HTTP API tests: an APIServer over a LocalClient on a real SQLite store,
on 127.0.0.1 (a free port) or on a unix socket in tmp_path, and HTTPClients for it.

Every server started here is shut down by the fixture, so no thread outlives its test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitkube.api import LocalClient
from gitkube.api.http_client import HTTPClient
from gitkube.api.server import APIServer, LogOptions
from gitkube.store import Store, open_store

Obj = dict[str, Any]


class StoreHTTPClient(HTTPClient):
    """An HTTPClient that also exposes the server's store, as the shared contract tests
    reach for ``client.store`` (compaction, revisions)."""

    store: Store


def fake_logs(pod: Obj, options: LogOptions) -> Iterator[str]:
    """A pods/log provider without a container runtime: three numbered lines."""
    lines = [f"{pod['metadata']['name']}/{options.container} line {i}\n" for i in range(1, 4)]
    if options.tail_lines is not None:
        lines = lines[-options.tail_lines:] if options.tail_lines else []
    return iter(lines)


@dataclass
class Served:
    """A running server and how to reach it."""

    server: APIServer
    store: Store
    local: LocalClient
    url: str  # http://127.0.0.1:PORT
    port: int

    def client(self, **kwargs: Any) -> StoreHTTPClient:
        c = StoreHTTPClient(self.url, **kwargs)
        c.store = self.store
        return c


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield s
    finally:
        s.close()


def start(store: Store, **kwargs: Any) -> Served:
    local = LocalClient(store)
    kwargs.setdefault("logs", fake_logs)
    server = APIServer(local, **kwargs)
    port = server.serve_tcp("127.0.0.1", 0)
    return Served(server, store, local, f"http://127.0.0.1:{port}", port)


@pytest.fixture
def served(store: Store) -> Iterator[Served]:
    s = start(store)
    try:
        yield s
    finally:
        s.server.shutdown()


@pytest.fixture
def client(served: Served) -> Iterator[StoreHTTPClient]:
    """The shared Client contract tests (tests/api/test_client_*.py) take ``client``: here
    it is an HTTPClient talking to the server over TCP."""
    c = served.client()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def unix_client(served: Served, tmp_path: Path) -> Iterator[StoreHTTPClient]:
    path = served.server.serve_unix(tmp_path / "api.sock")
    c = StoreHTTPClient(f"unix://{path}")
    c.store = served.store
    try:
        yield c
    finally:
        c.close()
