"""Crash safety: a process killed with SIGKILL inside a 1,000-object transaction leaves all or
none of it, and the SQLite file passes its integrity check."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitkube.store import open_store

WORKER = Path(__file__).with_name("store_worker.py")
N = 1_000


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, text=True
    )


def wait_for(child: subprocess.Popen[str], word: str) -> None:
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    assert line == word, f"child said {line!r}, expected {word!r}"


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert child.stdout is not None
    child.stdout.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("moment, visible", [("hang", 0), ("commit", N)])
def test_sigkill_inside_and_after_a_big_transaction(
    tmp_path: Path, moment: str, visible: int
) -> None:
    """Killed after every row is written but before COMMIT: nothing; killed just after
    COMMIT returned: everything (synchronous=NORMAL survives a process crash)."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    open_store(url).close()
    child = start("bigtxn", url, "/big/", str(N), moment)
    wait_for(child, "INSIDE" if moment == "hang" else "COMMITTED")
    kill(child)
    store = open_store(url)
    try:
        items, _ = store.list("/big/")
        assert len(items) == visible
        store.create("/after/crash", b"still writable")
    finally:
        store.close()
    assert integrity(path) == "ok"


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    open_store(url).close()
    rng = random.Random(3)
    for _ in range(4):
        child = start("txnloop", url, str(N))
        time.sleep(rng.uniform(0.3, 1.2))
        kill(child)
        store = open_store(url)
        try:
            items, _ = store.list("/crash/")
            batches: dict[str, int] = {}
            for kv in items:
                batch = kv.key.split("/")[2]
                batches[batch] = batches.get(batch, 0) + 1
            assert all(n == N for n in batches.values()), batches
        finally:
            store.close()
        assert integrity(path) == "ok"
