"""One etcd member process (Debian's ``etcd-server`` binary), started and stopped by gitkube.

``gitkube serve --cluster-init`` / ``--join`` run one next to the daemon (k3s's model: three
control-plane daemons, three etcd members, no separate etcd set-up), and the HA tests start
three-member clusters with it. A member is described by plain data (:class:`MemberSpec`);
:class:`EtcdMember` owns the process (by its PID only) and its log.

Peers and clients speak plain HTTP: a member listens where the spec says, and that should
be loopback or a private network (docs/DAEMON.md, High availability).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gitkube.errors import StoreUnavailable, UsageError

# gitkube's transactions can be large (an apply is one transaction: docs/STORE.md)
RECONFIG_WAIT = 30.0  # seconds to wait for a cluster that refuses a new member for now
LIMIT_ARGS = ("--max-txn-ops", "50000", "--max-request-bytes", str(128 * 1024 * 1024))


@dataclass(frozen=True)
class MemberSpec:
    """What one member is: its name, data directory, client and peer URLs (``http://
    HOST:PORT``), the initial cluster (``name=peerURL,...``) and whether that cluster is
    ``new`` or ``existing`` (joining a running one)."""

    name: str
    data_dir: Path
    client_url: str
    peer_url: str
    initial_cluster: str
    state: Literal["new", "existing"] = "new"
    token: str = "gitkube"
    also_listen: tuple[str, ...] = ()  # more client URLs to listen on (not advertised)

    def argv(self, executable: str) -> list[str]:
        """The etcd command line of this member."""
        return [executable, "--name", self.name, "--data-dir", str(self.data_dir),
                "--listen-client-urls", ",".join((self.client_url, *self.also_listen)),
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", self.initial_cluster,
                "--initial-cluster-state", self.state,
                "--initial-cluster-token", self.token,
                "--logger", "zap", "--log-level", "warn", *LIMIT_ARGS]

    @property
    def store_endpoint(self) -> str:
        """``host:port`` of the client URL, as a gitkube store URL lists it."""
        return self.client_url.split("://", 1)[1].rstrip("/")


def etcd_executable() -> str:
    """The etcd server binary; UsageError with the package to install when missing."""
    exe = shutil.which("etcd")
    if exe is None:
        raise UsageError("the etcd server binary is not installed",
                         hint="apt-get install etcd-server (Debian), or use --store "
                              "etcd://... with an etcd cluster of your own")
    return exe


class EtcdMember:
    """A running etcd member (``start`` it; ``stop``/``kill`` affect only its own PID)."""

    def __init__(self, spec: MemberSpec, log_path: Path | None = None):
        self.spec = spec
        self.log_path = log_path or spec.data_dir.parent / f"{spec.data_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> EtcdMember:
        """Start the process (returns at once: ``wait_healthy`` waits for it)."""
        exe = etcd_executable()
        self.spec.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.spec.argv(exe), stdout=log,
                                            stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        """True when the member answers /health with a leader."""
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(
                f"{self.spec.client_url}/health", timeout=1) as resp:
            return b'"health":"true"' in resp.read()
        return False

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Block until healthy, or raise StoreUnavailable with the end of its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                break
            if self.healthy():
                return
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-2000:] \
            if self.log_path.exists() else ""
        raise StoreUnavailable(f"etcd member {self.spec.name} did not become healthy:\n{tail}",
                               location=self.spec.client_url,
                               hint="check its ports and data directory")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to this member's PID, SIGKILL if it does not exit. Idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL to this member's PID (a crash), and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _join_failed(client_url: str, exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"cannot add a member to the etcd cluster at {client_url}: {exc}",
                            location=client_url,
                            hint="--join takes the etcd client URL of a running member "
                                 "(http://HOST:2379)")


def cluster_of(names_and_peers: list[tuple[str, str]]) -> str:
    """``--initial-cluster`` for (name, peer URL) pairs."""
    return ",".join(f"{name}={peer}" for name, peer in names_and_peers)


__all__ = ["LIMIT_ARGS", "EtcdMember", "MemberSpec", "cluster_of", "etcd_executable"]


def add_member(client_url: str, peer_url: str, *, timeout: float = 10.0) -> list[
        tuple[str, list[str], list[str]]]:
    """Ask the cluster behind ``client_url`` to admit a member at ``peer_url`` (etcd's
    MemberAdd, through its JSON gateway); every member as (name, peer URLs, client URLs),
    the new one with an empty name. StoreUnavailable when the cluster refuses or cannot be
    reached."""
    import json
    import urllib.error

    body = json.dumps({"peerURLs": [peer_url]}).encode()
    request = urllib.request.Request(f"{client_url.rstrip('/')}/v3/cluster/member/add",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    # etcd refuses a new member (503, "unhealthy cluster") until its leader has been in
    # touch with every member for a few seconds: a member that joined just before
    deadline = time.monotonic() + RECONFIG_WAIT
    while True:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                answer = json.loads(resp.read())
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 503 and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise _join_failed(client_url, exc) from exc
        except (OSError, ValueError) as exc:
            raise _join_failed(client_url, exc) from exc
    return [(str(m.get("name") or ""), list(m.get("peerURLs") or []),
             list(m.get("clientURLs") or [])) for m in answer.get("members") or []]
