"""Bad input: every unusable store gives a clear StoreError naming the file or URL."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from gitkube.errors import Compacted, StoreCorrupt, StoreError, StoreUnavailable
from gitkube.store import Create, open_store
from gitkube.store.etcd import EtcdWatch
from gitkube.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.support.etcdserver import EtcdServer, free_port


def test_random_bytes_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreCorrupt) as info:
        open_store(f"sqlite:///{path}")
    assert info.value.location == str(path)
    assert "not a usable gitkube store" in info.value.message
    assert info.value.hint
    assert str(path) in info.value.render()


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 100)
    with pytest.raises(StoreCorrupt) as info:
        open_store(str(path))
    assert info.value.location == str(path)
    assert path.read_text() == "shopping list\n" * 100  # untouched


def test_foreign_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt) as info:
        open_store(f"sqlite:///{path}")
    assert "not a gitkube store" in info.value.message
    assert "customers" in info.value.message
    assert info.value.location == str(path)
    assert path.read_bytes() == before  # not switched to WAL, not written


def test_future_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_store(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorrupt) as info:
        open_store(f"sqlite:///{path}")
    assert f"schema version {SCHEMA_VERSION + 1}" in info.value.message
    assert "upgrade gitkube" in (info.value.hint or "")
    assert info.value.location == str(path)


def test_truncated_store_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = open_store(f"sqlite:///{path}")
    for i in range(300):
        store.create(f"/k/{i}", b"x" * 500)
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + os.urandom(len(data) - 100))  # header kept, pages garbage
    with pytest.raises(StoreCorrupt) as info:
        s = open_store(f"sqlite:///{path}")
        try:
            s.list("/k/")
        finally:
            s.close()
    assert info.value.location == str(path)


def test_directory_and_unwritable_places(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as info:
        open_store(f"sqlite:///{tmp_path}")
    assert info.value.location == str(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable) as info:
        open_store(f"sqlite:///{blocker}/sub/state.db")
    assert str(blocker) in info.value.render()


def test_errors_render_without_traceback(tmp_path: Path) -> None:
    """Through a fresh interpreter: the error is a GitkubeError with a one-line render."""
    path = tmp_path / "junk.db"
    path.write_bytes(b"\x00garbage" * 1000)
    code = (
        "import sys\n"
        "from gitkube.errors import GitkubeError\n"
        "from gitkube.store import Create, open_store\n"
        "try:\n"
        f"    open_store({str(path)!r})\n"
        "except GitkubeError as e:\n"
        "    print(e.render())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.startswith(f"{path}: not a usable gitkube store")
    assert "hint:" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_unreachable_etcd() -> None:
    port = free_port()  # bound and closed again: nothing listens there
    url = f"etcd://127.0.0.1:{port}"
    with pytest.raises(StoreUnavailable) as info:
        store = open_store(url)
        store.get("/x")
    assert info.value.location == url
    assert info.value.hint
    assert "Traceback" not in info.value.render()


def test_store_errors_are_store_errors() -> None:
    assert issubclass(StoreCorrupt, StoreError)
    assert issubclass(StoreUnavailable, StoreError)


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_automatic_compaction_keeps_recent_history(url: str, tmp_path: Path) -> None:
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(f"{url}?history=10")
    try:
        store.create("/k", b"0")
        for i in range(1, 40):
            store.update("/k", str(i).encode())
        top = store.revision()
        with pytest.raises(Compacted):
            store.watch("/", 0)
        with store.watch("/", top - 10) as watch:
            event = watch.next_event(2)
            assert event is not None and event.revision == top - 9
    finally:
        store.close()


def test_sqlite_watcher_told_to_relist_when_another_process_compacts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    watcher_side, writer_side = open_store(url), open_store(url)
    try:
        writer_side.create("/k", b"0")
        watch = watcher_side.watch("/", writer_side.revision())
        # Hold the poller back so the compaction overtakes it, as a slow watcher would be.
        with cast(SqliteStore, watcher_side)._hub.lock:
            for i in range(5):
                writer_side.update("/k", str(i).encode())
            writer_side.compact(writer_side.revision())
        with pytest.raises(Compacted):
            while watch.next_event(2) is not None:
                pass
    finally:
        watcher_side.close()
        writer_side.close()


@pytest.mark.etcd
@pytest.mark.slow
def test_etcd_default_limits_and_a_lost_server(tmp_path: Path) -> None:
    """An etcd with default flags refuses a big transaction with a hint naming the flag;
    a watch on a server that goes away ends with StoreUnavailable once it could not be
    resumed."""
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    server = EtcdServer(tmp_path / "etcd", extra_args=())
    try:
        server.wait_healthy()
        store = open_store(server.url)
        with pytest.raises(StoreError) as info:
            store.txn([Create(f"/big/{i}", b"x") for i in range(200)])
        assert "--max-txn-ops" in info.value.render()
        assert store.list("/big/") == ([], store.revision())
        watch = store.watch("/", store.revision())
        cast(EtcdWatch, watch).RESUME_FOR = 1.0  # it tries to resume that long, then fails
        server.stop()
        with pytest.raises(StoreUnavailable) as lost:
            watch.next_event(10)
        assert lost.value.location == server.url
        with pytest.raises(StoreUnavailable):
            store.get("/x")
        store.close()
    finally:
        server.stop()
