"""A client of three API servers keeps working, and keeps its watch, across kill -9 of the
server it uses: numbered updates arrive each exactly once."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.api.http_client import ResumingWatcher
from tests.daemon.daemon_env import gitkube_cmd, wait_for
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


def test_cli_get_watch_with_three_servers(ha: HACluster, tmp_path: Path) -> None:
    """`gitkube get -w` given three API servers (GITKUBE_SERVER) keeps printing across the
    kill of the one it uses: every numbered object once."""
    daemons = [d for d in ha.daemons if d is not None]
    env = {**os.environ, "GITKUBE_STATE_DIR": str(tmp_path / "cli"),
           "GITKUBE_SERVER": ",".join(str(d.info.url) for d in daemons),
           "GITKUBE_TOKEN": daemons[0].token("admin"),
           "GITKUBE_CA": ",".join(str(d.info.ca_file) for d in daemons)}
    env.pop("GITKUBE_STORE", None)
    out_path = tmp_path / "get-w.out"
    with out_path.open("wb") as out:
        cli = subprocess.Popen(gitkube_cmd("get", "configmaps", "-n", "default", "-w"),
                               stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, env=env)
    writer = ha.client(1)  # the CLI starts on server 0: the one killed
    names = [f"n-{i:03d}" for i in range(1, 41)]
    try:
        def printed() -> list[str]:
            return [line.split()[0] for line in out_path.read_text().splitlines()
                    if line.startswith("n-")]

        for name in names[:10]:
            writer.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": "default"}})
        assert wait_for(lambda: len(printed()) == 10, 30), out_path.read_text()
        ha.kill(0)
        for name in names[10:]:
            writer.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": "default"}})
        assert wait_for(lambda: len(printed()) >= len(names), 60), out_path.read_text()
        time.sleep(1.0)  # a duplicate would show up now
        assert printed() == names, out_path.read_text()
        assert cli.poll() is None  # still watching
    finally:
        cli.terminate()
        cli.wait(30)
