"""Store faults the daemon survives: a full disk (a small tmpfs the test mounts and fills)
keeps reads answering and writes failing with 503 until space is freed, then writes work
again without a restart; so does a store file made read-only (immutable, which binds root
too, unlike file modes) and then writable again; `up` on a full disk is one clear line; the
open-file limit is raised; SQLite's read connections are capped."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.http_client import HTTPClient
from gitkube.errors import GitkubeError, StoreUnavailable
from gitkube.store.base import Create
from gitkube.store.sqlite import SqliteStore
from tests.daemon.daemon_env import gitkube_cmd, start_daemon, wait_for

CM: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}}


def _root_and_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (CI runs as root)"
    if shutil.which("mount") is None:
        return "mount(8) is not installed"
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own, unmounted afterwards."""
    reason = _root_and_mount()
    if reason:
        pytest.skip(reason)
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "gitkube-test", str(mnt)],
                   check=True, capture_output=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the filler file (remove it to free the space)."""
    filler = disk / "filler"
    # unbuffered: a write the disk took only in part leaves nothing for close() to flush
    # (a buffered file would raise ENOSPC again there)
    with filler.open("wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    return filler


def test_a_full_disk_fails_writes_keeps_reads_and_recovers(small_disk: Path) -> None:
    state = small_disk / "state"
    state.mkdir()
    daemon = start_daemon(state, "--runtime", "simulated", "--no-kubelet", "--listen", "none")
    try:
        client = HTTPClient(daemon.info.socket)
        client.create(CM)
        filler = fill(small_disk)
        with pytest.raises(GitkubeError) as info:  # 503 from the api, nothing half-written
            client.create({**CM, "metadata": {**CM["metadata"], "name": "big"},
                           "data": {"k": "x" * 500_000}})
        assert "disk is full" in info.value.message or "full" in info.value.message
        assert client.get("v1", "ConfigMap", "default", "c")["data"] == {"k": "v"}  # reads
        env = {**os.environ, "GITKUBE_STATE_DIR": str(state)}
        status = subprocess.run(gitkube_cmd("status"), env=env, capture_output=True,
                                text=True, timeout=60)
        assert "WRITES FAIL: the disk is full" in status.stdout, status.stdout
        assert "daemon: responding" in status.stdout
        filler.unlink()
        assert wait_for(lambda: _created(client, "after"), timeout=10)  # no restart needed
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()


@contextlib.contextmanager
def read_only(*files: Path) -> Iterator[None]:
    """``files`` immutable (chattr +i: even root's writes through open descriptors fail) for
    the block. SQLite's -shm file is left alone: it is memory-mapped, and a write to a
    mapping of an immutable file is a SIGBUS, not an error a program can handle."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("making a file immutable needs root and chattr (CI runs as root)")
    done = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this file system has no immutable files: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True, capture_output=True)


def test_a_read_only_store_keeps_reads_and_writes_again_when_writable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    daemon = start_daemon(state, "--runtime", "simulated", "--no-kubelet", "--listen", "none")
    try:
        client = HTTPClient(daemon.info.socket)
        client.create(CM)
        db = state / "state.db"
        with read_only(db, Path(f"{db}-wal")):
            with pytest.raises(GitkubeError) as info:  # 503, nothing half-written
                client.create({**CM, "metadata": {**CM["metadata"], "name": "while-ro"}})
            assert "cannot use the store file" in info.value.message, info.value.message
            assert client.get("v1", "ConfigMap", "default", "c")["data"] == {"k": "v"}  # reads
            env = {**os.environ, "GITKUBE_STATE_DIR": str(state)}
            status = subprocess.run(gitkube_cmd("status"), env=env, capture_output=True,
                                    text=True, timeout=60)
            assert "WRITES FAIL" in status.stdout, status.stdout
        assert wait_for(lambda: _created(client, "after"), timeout=10)  # no restart needed
        names = {o["metadata"]["name"] for o in client.list("v1", "ConfigMap", "default").items}
        assert "after" in names and "while-ro" not in names
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()


def _created(client: HTTPClient, name: str) -> bool:
    try:
        client.create({**CM, "metadata": {**CM["metadata"], "name": name}})
        return True
    except GitkubeError:
        return False


def test_up_on_a_full_disk_is_one_clear_line(small_disk: Path) -> None:
    fill(small_disk)
    env = {**os.environ, "GITKUBE_STATE_DIR": str(small_disk / "state")}
    proc = subprocess.run(gitkube_cmd("up", "--runtime", "simulated", "--no-kubelet",
                                      "--listen", "none"), env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: the disk of the state directory {small_disk}/state "
                                  "is full"), proc.stderr
    assert "Traceback" not in proc.stderr and "hint:" in proc.stderr


def test_a_store_whose_writes_failed_reconnects_when_the_disk_has_room(small_disk: Path) -> None:
    store = SqliteStore(small_disk / "state.db")
    try:
        store.txn([Create("/a", b"1")])
        filler = fill(small_disk)
        with pytest.raises(StoreUnavailable):
            store.txn([Create("/b", b"x" * 2_000_000)])
        filler.unlink()
        store.txn([Create("/c", b"1")])
        assert store.get("/c") is not None and store.get("/b") is None
    finally:
        store.close()


def test_the_daemon_raises_its_open_file_limit(tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"the hard open-file limit ({hard}) leaves nothing to raise")

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    env = {**os.environ, "GITKUBE_STATE_DIR": str(tmp_path)}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(gitkube_cmd("serve", "--runtime", "simulated", "--no-kubelet",
                                        "--listen", "none"), env=env, stdout=log, stderr=log,
                            preexec_fn=lower)
    try:
        assert wait_for(lambda: "open-file limit raised from 256" in
                        (tmp_path / "serve.log").read_text(), timeout=30)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert line.split()[3] == str(hard), line  # soft == hard now
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_sqlite_read_connections_are_capped(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db", max_readers=3)
    try:
        store.txn([Create(f"/k{i}", b"v") for i in range(50)])
        before = len(os.listdir("/proc/self/fd"))
        errors: list[BaseException] = []

        def read() -> None:
            try:
                for _ in range(20):
                    assert len(store.list("/")[0]) == 50
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        # each connection holds the database file (and the WAL): 3 readers at most
        assert len(os.listdir("/proc/self/fd")) - before <= 3 * 2 + 2
    finally:
        store.close()
