"""Concurrency: compare-and-swap increments from many threads and processes lose nothing, and
a watcher sees every revision exactly once, in order."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gitkube.errors import RevisionConflict
from gitkube.store import Store, StoreEvent, open_store
from tests.store.storetest import stored

WORKER = Path(__file__).with_name("store_worker.py")
THREADS, PER_THREAD = 4, 50
PROCESSES, PER_PROCESS = 3, 60


def incr(store: Store, key: str, count: int) -> None:
    for _ in range(count):
        while True:
            kv = store.get(key)
            assert kv is not None
            try:
                store.update(key, str(int(kv.value) + 1).encode(), kv.mod_revision)
                break
            except RevisionConflict:
                pass


def collect(store: Store, key: str, since: int, final: int) -> list[StoreEvent]:
    """Watch ``key`` from ``since`` until its value reaches ``final``."""
    events: list[StoreEvent] = []
    with store.watch(key, since) as watch:
        while not events or int(events[-1].kv.value) < final:
            event = watch.next_event(30)
            assert event is not None, f"watch stalled after {len(events)} events"
            events.append(event)
    return events


def check_history(events: list[StoreEvent], total: int) -> None:
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions)), "a revision repeated or came out of order"
    assert [int(e.kv.value) for e in events] == list(range(1, total + 1))
    assert {e.type for e in events} == {"MODIFIED"}


def test_threads_increment_without_lost_updates(store: Store, p: str) -> None:
    key = f"{p}counter"
    start = store.create(key, b"0")
    total = THREADS * PER_THREAD
    watched: list[list[StoreEvent]] = []
    watcher = threading.Thread(target=lambda: watched.append(collect(store, key, start, total)))
    watcher.start()
    threads = [threading.Thread(target=incr, args=(store, key, PER_THREAD)) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    watcher.join(60)
    assert stored(store, key).value == str(total).encode()
    check_history(watched[0], total)


@pytest.mark.slow
def test_processes_increment_without_lost_updates(shared_store: Store, p: str) -> None:
    store = shared_store
    key = f"{p}counter"
    start = store.create(key, b"0")
    total = PROCESSES * PER_PROCESS
    watched: list[list[StoreEvent]] = []
    watcher = threading.Thread(
        target=lambda: watched.append(collect(store, key, start, total))
    )
    watcher.start()
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "incr", store.url, key, str(PER_PROCESS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for w in workers:
            assert w.wait(timeout=120) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
            assert w.stdout is not None
            w.stdout.close()
    watcher.join(60)
    assert stored(store, key).value == str(total).encode()
    check_history(watched[0], total)


def test_sqlite_watch_sees_writes_of_another_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    try:
        count = 20
        with store.watch("/x/", store.revision()) as watch:
            child = subprocess.Popen(
                [sys.executable, str(WORKER), "write", url, "/x/", str(count), "0.01"]
            )
            lags = []
            for i in range(count):
                event = watch.next_event(10)
                assert event is not None, f"event {i} never arrived"
                assert event.kv.key == f"/x/{i:05}"
                lags.append(time.time() - float(event.kv.value))
            assert child.wait(timeout=60) == 0
        # Not a timing test (the benchmark measures latency); only a sanity bound.
        assert max(lags) < 5, lags
    finally:
        store.close()
