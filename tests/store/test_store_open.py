"""open_store: URL schemes, defaults and options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitkube.errors import UsageError
from gitkube.settings import Settings
from gitkube.store import open_store
from gitkube.store.memory import MemoryStore
from gitkube.store.sqlite import SqliteStore


def test_default_is_sqlite_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITKUBE_STORE", raising=False)
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(tmp_path / "state"))
    store = open_store(Settings.from_env(os.environ).store_url)
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "state" / "state.db"
        assert store.path.exists()
    finally:
        store.close()


def test_env_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITKUBE_STORE", f"sqlite:///{tmp_path}/env.db")
    store = open_store(Settings.from_env(os.environ).store_url)
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "env.db"
    finally:
        store.close()


def test_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, expected in [
        (f"sqlite:///{tmp_path}/abs.db", tmp_path / "abs.db"),
        ("sqlite:rel/one.db", tmp_path / "rel" / "one.db"),
        ("bare.db", tmp_path / "bare.db"),
        (f"sqlite:///{tmp_path}/opts.db?history=50&synchronous=full", tmp_path / "opts.db"),
    ]:
        store = open_store(url)
        try:
            assert isinstance(store, SqliteStore)
            assert store.path == expected
            assert store.url in (url, f"sqlite:{url}")
        finally:
            store.close()


def test_memory_urls() -> None:
    fresh1, fresh2 = open_store("memory://"), open_store("memory://")
    assert isinstance(fresh1, MemoryStore)
    assert fresh1 is not fresh2
    assert open_store("memory://shared-test") is open_store("memory://shared-test")


@pytest.mark.parametrize(
    "url",
    [
        "postgres://localhost/db",
        "sqlite://somehost/x.db",
        "sqlite:///",
        "sqlite:///tmp/x.db?bogus=1",
        "sqlite:///tmp/x.db?history=-3",
        "etcd://",
        "etcd://127.0.0.1:notaport",
        "etcd://127.0.0.1:2379?x=1",
    ],
)
def test_bad_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError) as info:
        open_store(url)
    assert url in info.value.message
