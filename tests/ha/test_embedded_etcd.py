"""`gitkube serve --cluster-init` and `--join`: three daemons, each running its own etcd
member, form one cluster and one control plane; stopping a daemon stops its member."""

from __future__ import annotations

import json
import secrets
import shutil
import urllib.request
from pathlib import Path

import pytest

from gitkube.api.http_client import HTTPClient
from tests.daemon.daemon_env import RunningDaemon, start_daemon
from tests.support.etcdserver import free_port

pytestmark = [pytest.mark.etcd, pytest.mark.slow]


def _members(client_port: int) -> list[str]:
    request = urllib.request.Request(f"http://127.0.0.1:{client_port}/v3/cluster/member/list",
                                     data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as resp:
        return sorted(m.get("name", "") for m in json.loads(resp.read())["members"])


def _healthy(client_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{client_port}/health", timeout=1):
            return True
    except OSError:
        return False


def test_three_daemons_with_their_own_etcd_members(tmp_path: Path) -> None:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"{secrets.token_hex(16)},admin,admin\n")
    tokens.chmod(0o600)
    ports = [(free_port(), free_port()) for _ in range(3)]
    daemons: list[RunningDaemon] = []
    try:
        for i, (client_port, peer_port) in enumerate(ports):
            state = tmp_path / f"cp{i}"
            state.mkdir()
            join = ["--cluster-init"] if i == 0 else [
                "--join", f"http://127.0.0.1:{ports[0][0]}"]
            daemons.append(start_daemon(
                state, *join, "--etcd-client-port", str(client_port),
                "--etcd-peer-port", str(peer_port), "--no-kubelet", "--listen",
                "127.0.0.1:0", "--tokens", str(tokens), env={"GITKUBE_STORE": ""}))
        assert len(_members(ports[0][0])) == 3
        assert daemons[2].info.store.count(",") >= 1  # the store names several members
        clients = [HTTPClient(str(d.info.url), token=d.token("admin"),
                              ca=str(d.info.ca_file)) for d in daemons]
        clients[0].create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "shared", "namespace": "default"}})
        rv = {c.get("v1", "ConfigMap", "default", "shared")["metadata"]["resourceVersion"]
              for c in clients}
        assert len(rv) == 1
        # stopping a daemon stops its member; the other two keep the store working
        daemons[2].stop()
        assert not _healthy(ports[2][0])
        clients[1].create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "after", "namespace": "default"}})
        assert clients[0].get("v1", "ConfigMap", "default", "after")
    finally:
        for daemon in daemons:
            daemon.stop()
    assert not any(_healthy(c) for c, _p in ports)
