"""A leader partitioned from etcd steps down before a second leader acts.

The leading daemon runs in a network namespace this test makes (a veth pair to the host;
etcd listens on the host end too). nftables inside that namespace then drops its etcd
traffic: from the daemons' own logs, the partitioned one stops leading before another one
starts. Needs root (namespaces, nftables); runs under the Podman/nftables lock."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.daemon.daemon import leader_identity
from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.state import read_info
from gitkube.daemon.status import probe_socket
from tests.daemon.daemon_env import gitkube_cmd, start_daemon, wait_for
from tests.ha.hacluster import LEASES, Election, assert_one_at_a_time, leader_terms
from tests.support.etcdcluster import EtcdCluster

pytestmark = [pytest.mark.etcd, pytest.mark.slow, pytest.mark.nft]
HOST_IP, NS_IP = "10.254.77.1", "10.254.77.2"


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("needs root, ip and nft")
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    name = f"gk-ha-{secrets.token_hex(3)}"
    host_if, ns_if = f"gkh{name[-6:]}", f"gkn{name[-6:]}"
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", name)
        _run("ip", "addr", "add", f"{HOST_IP}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "-n", name, "addr", "add", f"{NS_IP}/30", "dev", ns_if)
        _run("ip", "-n", name, "link", "set", ns_if, "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def test_partitioned_leader_steps_down_before_another_acts(netns: str,
                                                          tmp_path: Path) -> None:
    election = Election(lease=4, renew=3, retry=0.5)
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"{secrets.token_hex(16)},admin,admin\n")
    tokens.chmod(0o600)
    etcd = EtcdCluster(tmp_path / "etcd", 3, also_host=HOST_IP).start()
    inside = None
    others = []
    try:
        # the daemon in the namespace starts first, and so leads
        state = tmp_path / "cp-ns"
        state.mkdir()
        ns_url = "etcd://" + ",".join(f"{HOST_IP}:{m.spec.store_endpoint.split(':')[1]}"
                                      for m in etcd.members)
        log = (state / "serve-test.log").open("ab")
        inside = subprocess.Popen(
            ["ip", "netns", "exec", netns, *gitkube_cmd(
                "serve", "--store", ns_url, "--no-kubelet", "--listen", "none",
                "--tokens", str(tokens), *election.argv())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env={**os.environ, "GITKUBE_STATE_DIR": str(state), "GITKUBE_STORE": ""})
        log.close()
        paths = DaemonPaths(state)
        assert wait_for(lambda: (i := read_info(paths)) is not None
                        and probe_socket(i.socket, 1.0), 60), \
            (state / "serve-test.log").read_text()
        text = (state / "serve-test.log").read_text
        assert wait_for(lambda: text().count("became leader") == 2, 30), text()
        for i in range(2):
            s = tmp_path / f"cp{i}"
            s.mkdir()
            others.append(start_daemon(s, "--store", etcd.url, "--no-kubelet", "--listen",
                                       "127.0.0.1:0", "--tokens", str(tokens),
                                       *election.argv(), env={"GITKUBE_STORE": ""}))
        time.sleep(2 * election.retry)
        # cut the leader off from etcd, inside its own namespace
        ports = ", ".join(m.spec.store_endpoint.split(":")[1] for m in etcd.members)
        rules = ("table inet gkpart {\n chain out {\n  type filter hook output priority 0;\n"
                 f"  tcp dport {{ {ports} }} drop\n }}\n}}\n")
        subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=rules.encode(),
                       check=True, capture_output=True, timeout=30)

        def led_elsewhere() -> bool:
            return all(sum("became leader of kube-system/" + lease in d.log_text()
                           for d in others) for lease in LEASES)

        assert wait_for(led_elsewhere, 60), [d.log_text()[-2000:] for d in others]
        ns_log = text()
        assert "could not renew lease" in ns_log, ns_log
        # from the logs of all three: at no moment two leaders of a Lease
        terms = leader_terms([ns_log, *(d.log_text() for d in others)])
        assert_one_at_a_time(terms)
        ns_identity = leader_identity(state)
        assert all(any(who == ns_identity for _s, _e, who in spans)
                   for spans in terms.values())
    finally:
        if inside is not None and inside.poll() is None:
            inside.terminate()
            try:
                inside.wait(30)
            except subprocess.TimeoutExpired:
                inside.kill()
                inside.wait(10)
        for daemon in others:
            daemon.stop()
        etcd.stop()
