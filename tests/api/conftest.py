"""Fixtures for the api tests: a LocalClient over each real store backend.

etcd runs once per session (it takes about a second to start); each test starts from an
empty keyspace because the fixture deletes every key the previous test left.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.api import LocalClient
from gitkube.errors import StoreUnavailable
from gitkube.store import Delete, Store, open_store

BACKENDS = ["memory", "sqlite", pytest.param("etcd", marks=pytest.mark.etcd)]


@pytest.fixture(scope="session")
def api_etcd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real etcd on 127.0.0.1 for the api tests, stopped by its PID at the end."""
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    from tests.support.etcdserver import EtcdServer

    base = tmp_path_factory.mktemp("api-etcd")
    server = EtcdServer(base / "data")
    try:
        server.wait_healthy()
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _wipe(store: Store) -> None:
    kvs, _ = store.list("/")
    if kvs:
        store.txn([Delete(kv.key) for kv in kvs])


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        s = open_store("memory://")
    elif request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        try:
            s = open_store(request.getfixturevalue("api_etcd_url"))
        except StoreUnavailable as e:
            pytest.skip(f"etcd backend unavailable: {e}")
        _wipe(s)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(store: Store) -> LocalClient:
    return LocalClient(store)
