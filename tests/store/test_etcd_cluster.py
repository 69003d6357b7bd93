"""A three-member etcd cluster under the etcd store: a member killed under a running watch
and a stream of writes loses nothing (the watch resumes on another member, requests fail
over), and the member brought back catches up."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from gitkube.errors import StoreUnavailable
from gitkube.store import open_store
from gitkube.store.etcd import EtcdStore
from tests.support.etcdcluster import EtcdCluster

pytestmark = [pytest.mark.etcd, pytest.mark.slow]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    with EtcdCluster(tmp_path / "etcd") as c:
        yield c


def test_url_lists_every_member(cluster: EtcdCluster) -> None:
    store = open_store(cluster.url)
    try:
        assert store.url == cluster.url and store.url.count(",") == 2
    finally:
        store.close()


def test_member_killed_under_writes_and_a_watch(cluster: EtcdCluster) -> None:
    store = cast(EtcdStore, open_store(cluster.url))
    try:
        start = store.create("/n/counter", b"-1")
        watch = store.watch("/n/", start)
        total = 200
        written: list[int] = []

        failures: list[str] = []

        def writer() -> None:
            # compare-and-swap writes, as the api makes them: a write whose answer was lost
            # with the member is checked, and sent again only if it did not happen
            rev = start
            for i in range(total):
                while True:
                    try:
                        rev = store.update("/n/counter", str(i).encode(), rev)
                        break
                    except StoreUnavailable as exc:
                        failures.append(exc.message)
                        kv = store.get("/n/counter")
                        assert kv is not None
                        if kv.value == str(i).encode():
                            rev = kv.mod_revision
                            break
                written.append(i)

        thread = threading.Thread(target=writer)
        thread.start()
        # kill the member both the requests and the watch use, mid-stream
        deadline = time.monotonic() + 30
        while len(written) < 50 and thread.is_alive():
            assert time.monotonic() < deadline
            thread.join(0.01)
        victim = next(m for m in cluster.members
                      if f":{m.spec.client_url.rsplit(':', 1)[1]}/" in store.member_url())
        victim.kill()
        thread.join(60)
        assert written == list(range(total))
        assert len(failures) <= 1, failures  # at most the one in flight on the dead member
        seen: list[int] = []
        while len(seen) < total:
            event = watch.next_event(30)
            assert event is not None, f"watch stalled after {seen[-3:]}"
            seen.append(int(event.kv.value))
        assert seen == list(range(total))  # nothing lost, nothing repeated
        assert watch.next_event(0.5) is None
        assert watch.resumed >= 1
        watch.close()
        # back again: it catches up with what the others wrote meanwhile
        index = cluster.members.index(victim)
        cluster.restart(index)
        alone = open_store(f"etcd://{victim.spec.store_endpoint}")
        try:
            kv = alone.get("/n/counter")
            assert kv is not None and int(kv.value) == total - 1
        finally:
            alone.close()
    finally:
        store.close()
