"""An HA control plane on one machine for the tests and benchmarks: a three-member etcd
cluster, N `gitkube serve --no-kubelet` daemons on it (each with its own state directory
and loopback port) and a `gitkube agent simulate` process for nodes. Every process is one
this object started, stopped by its PID; the temporary directories are the caller's."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gitkube.api.http_client import HTTPClient
from gitkube.daemon.daemon import leader_identity
from gitkube.errors import NotFound
from gitkube.model import leases
from tests.daemon.daemon_env import RunningDaemon, gitkube_cmd, start_daemon
from tests.support.etcdcluster import EtcdCluster


@dataclass(frozen=True)
class Election:
    """Short leader-election settings for tests (the protocol's bounds scale with them)."""

    lease: float = 4.0
    renew: float = 3.0
    retry: float = 0.5

    def argv(self) -> list[str]:
        return ["--leader-elect-lease-duration", f"{self.lease:g}s",
                "--leader-elect-renew-deadline", f"{self.renew:g}s",
                "--leader-elect-retry-period", f"{self.retry:g}s"]


@dataclass
class HACluster:
    base: Path
    daemons_wanted: int = 3
    election: Election = field(default_factory=Election)
    etcd_members: int = 3
    etcd: EtcdCluster | None = None
    daemons: list[RunningDaemon | None] = field(default_factory=list)
    states: list[Path] = field(default_factory=list)
    nodes: subprocess.Popen[bytes] | None = None

    def start(self, *, nodes: int = 5, start_delay: float = 0.0) -> HACluster:
        # one tokens file for every daemon: a token works on each API server, as a client
        # with several server URLs needs
        self.tokens = self.base / "tokens.csv"
        self.tokens.write_text(f"{secrets.token_hex(16)},admin,admin\n")
        self.tokens.chmod(0o600)
        self.etcd = EtcdCluster(self.base / "etcd", self.etcd_members).start()
        try:
            for i in range(self.daemons_wanted):
                state = self.base / f"cp{i}"
                state.mkdir(parents=True)
                self.states.append(state)
                self.daemons.append(self.start_daemon(i))
            if nodes:
                self.start_nodes(nodes, start_delay)
        except BaseException:
            self.stop()
            raise
        return self

    def start_daemon(self, i: int) -> RunningDaemon:
        assert self.etcd is not None
        return start_daemon(self.states[i], "--store", self.etcd.url, "--no-kubelet",
                            "--listen", "127.0.0.1:0", "--tokens", str(self.tokens),
                            *self.election.argv(),
                            env={"GITKUBE_STORE": ""})

    def start_nodes(self, count: int, start_delay: float) -> None:
        assert self.etcd is not None
        state = self.base / "nodes"
        state.mkdir(exist_ok=True)
        log = (self.base / "nodes.log").open("ab")
        self.nodes = subprocess.Popen(
            gitkube_cmd("agent", "simulate", "--nodes", str(count), "--store", self.etcd.url,
                        "--start-delay", str(start_delay), "--heartbeat", "2"),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env={**os.environ, "GITKUBE_STATE_DIR": str(state)})
        log.close()

    def client(self, i: int) -> HTTPClient:
        daemon = self.daemons[i]
        assert daemon is not None and daemon.info.url and daemon.info.ca_file
        return HTTPClient(daemon.info.url, token=daemon.token("admin"),
                          ca=daemon.info.ca_file)

    def failover_client(self) -> HTTPClient:
        """One client of every API server (all URLs, every daemon's CA)."""
        daemons = [d for d in self.daemons if d is not None]
        return HTTPClient([str(d.info.url) for d in daemons], token=daemons[0].token("admin"),
                          ca=[str(d.info.ca_file) for d in daemons])

    def live(self) -> list[int]:
        return [i for i, d in enumerate(self.daemons) if d is not None]

    def identity(self, i: int) -> str:
        return leader_identity(self.states[i])

    def holder(self, lease: str, via: int) -> str:
        """The holder of kube-system/``lease`` as API server ``via`` reads it ("" none)."""
        try:
            obj = self.client(via).get(leases.API_VERSION, "Lease", "kube-system", lease)
        except NotFound:
            return ""
        return str((obj.get("spec") or {}).get("holderIdentity") or "")

    def index_of(self, identity: str) -> int | None:
        return next((i for i in range(len(self.states)) if self.identity(i) == identity),
                    None)

    def kill(self, i: int) -> None:
        """kill -9 daemon ``i`` (its PID only)."""
        daemon = self.daemons[i]
        assert daemon is not None
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(10)
        self.daemons[i] = None

    def stop(self) -> None:
        if self.nodes is not None and self.nodes.poll() is None:
            self.nodes.terminate()
            try:
                self.nodes.wait(20)
            except subprocess.TimeoutExpired:
                self.nodes.kill()
                self.nodes.wait(10)
        for daemon in self.daemons:
            if daemon is not None:
                with contextlib.suppress(Exception):
                    daemon.stop()
        if self.etcd is not None:
            self.etcd.stop()

    def logs(self) -> str:
        out = []
        for i, state in enumerate(self.states):
            path = state / "serve-test.log"
            if path.exists():
                out.append(f"--- cp{i}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)


LEASES = ("kube-scheduler", "kube-controller-manager")
_LINE = re.compile(r"^(\S+ \S+) INFO gitkube.leaderelection: (\S+) "
                   r"(became leader of|stopped leading) kube-system/(\S+)$")
Terms = dict[str, list[tuple[float, float, str]]]


def leader_terms(logs: list[str], ended: dict[str, float] | None = None) -> Terms:
    """Per Lease: (start, end, holder) of every leadership term in the daemons' logs. A term
    with no end in its log ends at ``ended[holder]`` (a killed daemon), else never."""
    out: Terms = {lease: [] for lease in LEASES}
    for text in logs:
        opened: dict[str, tuple[float, str]] = {}
        for line in text.splitlines():
            m = _LINE.match(line)
            if not m or m.group(4) not in out:
                continue
            stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            who, what, lease = m.group(2), m.group(3), m.group(4)
            if what == "became leader of":
                opened[lease] = (stamp, who)
            elif lease in opened:
                start, holder = opened.pop(lease)
                out[lease].append((start, stamp, holder))
        for lease, (start, holder) in opened.items():
            out[lease].append((start, (ended or {}).get(holder, float("inf")), holder))
    return out


def assert_one_at_a_time(terms: Terms) -> None:
    """No two terms of one Lease overlap."""
    for lease, spans in terms.items():
        spans.sort()
        for (_s1, e1, h1), (s2, _e2, h2) in itertools.pairwise(spans):
            assert e1 <= s2, f"{lease}: {h1} led until {e1} but {h2} began at {s2}"
