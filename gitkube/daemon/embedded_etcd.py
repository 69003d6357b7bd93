"""``gitkube serve --cluster-init`` / ``--join URL``: an etcd member managed by the daemon.

k3s's model: each control-plane daemon runs one member of the etcd cluster its store lives
in, so three daemons make an HA control plane with no separate etcd set-up.

- ``--cluster-init`` starts a new one-member cluster; ``--join http://HOST:2379`` asks the
  running cluster behind that etcd client URL to admit this member, then starts it.
- The member's data lives in ``<state dir>/etcd``; once it exists, a restart only starts
  the member again (etcd ignores the initial-cluster flags then).
- The store URL lists every member known when the daemon starts (``etcd://a,b,c``), so
  the store fails over to another member when its own dies.
- The member listens on ``--etcd-host`` (default 127.0.0.1) at ``--etcd-client-port`` and
  ``--etcd-peer-port`` (2379 and 2380); peers and clients speak plain HTTP, so anything
  but loopback should be a private network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from gitkube.errors import UsageError
from gitkube.store.etcd_member import EtcdMember, MemberSpec, add_member, cluster_of

log = logging.getLogger("gitkube.daemon")


@dataclass(frozen=True)
class EmbeddedEtcd:
    """What ``serve``'s etcd flags ask for: ``join`` None starts a new cluster."""

    join: str | None = None
    host: str = "127.0.0.1"
    client_port: int = 2379
    peer_port: int = 2380

    def argv(self) -> list[str]:
        """These flags on a ``serve`` command line (``up`` starts one)."""
        first = ["--join", self.join] if self.join is not None else ["--cluster-init"]
        return [*first, "--etcd-host", self.host, "--etcd-client-port",
                str(self.client_port), "--etcd-peer-port", str(self.peer_port)]

    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"


def member_name(state_dir: Path) -> str:
    """This daemon's member name: the host name and a digest of its state directory."""
    digest = hashlib.sha256(str(state_dir.absolute()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{digest}"


def start_member(options: EmbeddedEtcd, state_dir: Path) -> tuple[EtcdMember, str]:
    """Start (or restart) this daemon's member and wait until it is healthy; the member
    and the store URL naming every member."""
    data = state_dir / "etcd"
    known = state_dir / "etcd-members.json"  # the client URLs of the cluster, for restarts
    name = member_name(state_dir)
    clients = [options.client_url()]
    if data.exists():
        if known.exists():
            clients = json.loads(known.read_text())
        spec = MemberSpec(name, data, options.client_url(), options.peer_url(),
                          cluster_of([(name, options.peer_url())]), "existing")
    elif options.join is None:
        spec = MemberSpec(name, data, options.client_url(), options.peer_url(),
                          cluster_of([(name, options.peer_url())]), "new")
    else:
        members = add_member(options.join, options.peer_url())
        peers: list[tuple[str, str]] = []
        for other, peer_urls, client_urls in members:
            peers += [(other or name, url) for url in peer_urls]
            clients += [u for u in client_urls if u not in clients]
        if options.join not in clients:
            clients.append(options.join)
        spec = MemberSpec(name, data, options.client_url(), options.peer_url(),
                          cluster_of(peers), "existing")
        log.info("joining the etcd cluster at %s as %s", options.join, name)
    member = EtcdMember(spec, state_dir / "etcd.log").start()
    member.wait_healthy(60)
    known.write_text(json.dumps(clients))
    endpoints = ",".join(u.split("://", 1)[1].rstrip("/") for u in clients)
    log.info("etcd member %s (pid %s) serving %s", name,
             member.process.pid if member.process else "?", options.client_url())
    return member, f"etcd://{endpoints}"


def check(options: EmbeddedEtcd, store: str | None) -> None:
    """UsageError for flags that contradict each other."""
    if store is not None:
        raise UsageError("--cluster-init/--join run this daemon's own etcd: leave --store "
                         "(and GITKUBE_STORE) out", hint="or use --store etcd://... with an "
                         "etcd cluster of your own, without --cluster-init/--join")
    if options.join is not None and not options.join.startswith(("http://", "https://")):
        raise UsageError(f"--join {options.join!r}: expected the etcd client URL of a running "
                         "member", hint="e.g. --join http://10.0.0.1:2379")


__all__ = ["EmbeddedEtcd", "check", "member_name", "start_member"]
