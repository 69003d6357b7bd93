"""Fixtures for the store tests: one Store per backend, and a real etcd for the session."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.store import Store, open_store
from tests.support.etcdserver import EtcdServer

BACKENDS = ["memory", "sqlite", pytest.param("etcd", marks=pytest.mark.etcd)]
_counter = itertools.count()


@pytest.fixture(scope="session")
def etcd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real etcd on 127.0.0.1 (free ports, temporary data dir), stopped by PID at the end."""
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    base = tmp_path_factory.mktemp("etcd")
    server = EtcdServer(base / "data")
    try:
        server.wait_healthy()
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if backend == "memory":
        return open_store("memory://")
    if backend == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'state.db'}")
    return open_store(request.getfixturevalue("etcd_url"))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path, request)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(params=[b for b in BACKENDS if b != "memory"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store that other processes can open too (by its ``url``)."""
    s = make_store(request.param, tmp_path, request)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def p() -> str:
    """A key prefix of this test's own: the etcd server is shared by every test."""
    return f"/t{next(_counter)}/"
