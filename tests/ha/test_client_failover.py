"""A client of three API servers keeps working, and keeps its watch, across kill -9 of the
server it uses: numbered updates arrive each exactly once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.api.http_client import ResumingWatcher
from tests.ha.hacluster import HACluster

pytestmark = [pytest.mark.etcd, pytest.mark.slow]
UPDATES = 60


@pytest.fixture
def ha(tmp_path: Path) -> Iterator[HACluster]:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    cluster = HACluster(tmp_path)
    cluster.start(nodes=0)
    try:
        yield cluster
    finally:
        cluster.stop()


def test_watch_survives_the_kill_of_its_server(ha: HACluster) -> None:
    client = ha.failover_client()
    created = client.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "counter", "namespace": "default"},
                             "data": {"n": "0"}})
    watcher = client.watch("v1", "ConfigMap", "default",
                           resource_version=created["metadata"]["resourceVersion"])
    assert isinstance(watcher, ResumingWatcher)
    victim = client.servers.index(client.server)
    writer = ha.client(next(i for i in ha.live() if i != victim))
    seen: list[int] = []
    half = threading.Event()

    def write() -> None:
        for n in range(1, UPDATES + 1):
            current = writer.get("v1", "ConfigMap", "default", "counter")
            writer.update({**current, "data": {"n": str(n)}})
            if n == UPDATES // 2:
                half.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(seen) < UPDATES // 4:
            event = watcher.next_event(10)
            assert event is not None
            seen.append(int(event.object["data"]["n"]))
        ha.kill(victim)  # the server this client's watch and requests use
        half.wait(60)
        while len(seen) < UPDATES:
            event = watcher.next_event(30)
            assert event is not None or not watcher.ended, f"watch ended after {seen[-3:]}"
            if event is not None:
                seen.append(int(event.object["data"]["n"]))
        thread.join(60)
        assert seen == list(range(1, UPDATES + 1))  # none lost, none twice
        assert watcher.next_event(1.0) is None
        assert watcher.resumed >= 1
        # plain requests moved on too
        assert client.get("v1", "ConfigMap", "default", "counter")["data"]["n"] == str(UPDATES)
        assert client.server != client.servers[victim]
    finally:
        watcher.close()
        thread.join(60)
