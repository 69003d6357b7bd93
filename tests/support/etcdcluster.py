"""A throw-away N-member etcd cluster on loopback (free ports, temporary data), for the HA
tests and benchmarks. Every member is a process this object started, stopped by PID."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from gitkube.store.etcd_member import EtcdMember, MemberSpec, cluster_of
from tests.support.etcdserver import free_port


class EtcdCluster:
    """``members`` etcd processes forming one cluster; ``url`` lists every member."""

    def __init__(self, base: Path, members: int = 3, *, also_host: str | None = None):
        """``also_host``: every member listens for clients on that address too (reached
        from a network namespace the test made)."""
        self.base = base
        ports = [(free_port(), free_port()) for _ in range(members)]
        peers = [(f"m{i}", f"http://127.0.0.1:{p}") for i, (_c, p) in enumerate(ports)]
        initial = cluster_of(peers)
        self.members = [EtcdMember(MemberSpec(
            name=name, data_dir=base / name, client_url=f"http://127.0.0.1:{client}",
            peer_url=peer, initial_cluster=initial,
            also_listen=(f"http://{also_host}:{client}",) if also_host else ()))
            for (name, peer), (client, _p)
            in zip(peers, ports, strict=True)]
        self.url = "etcd://" + ",".join(m.spec.store_endpoint for m in self.members)

    def start(self, timeout: float = 60.0) -> EtcdCluster:
        for member in self.members:
            member.start()
        try:
            for member in self.members:
                member.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, index: int, timeout: float = 60.0) -> None:
        """Start member ``index`` again on its data directory (it rejoins and catches up)."""
        member = self.members[index]
        member.stop()
        member.spec = dataclasses.replace(member.spec, state="existing")
        member.start()
        member.wait_healthy(timeout)

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def remove_data(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
