"""Fixtures for the HTTP API tests: an APIServer over a LocalClient on a real SQLite store,
on 127.0.0.1 (a free port) or on a unix socket in tmp_path, and HTTPClients for it
(the helpers live in serving.py).

Every server started here is shut down by the fixture, so no thread outlives its test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.store import Store, open_store
from tests.api.server.serving import Served, StoreHTTPClient, start


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield s
    finally:
        s.close()


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
