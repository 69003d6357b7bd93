"""HA control plane benchmark: leader failover, and etcd with three members beside one.

    .venv/bin/python benchmarks/bench_ha.py [--kills N] [--writes N] [--skip-default]
        [--etcd-only | --scheduler-only | --skip-scheduler] [--nodes N --init-pods N --pods N]

1. **Failover**: three `gitkube serve --no-kubelet` on a three-member etcd cluster (all on
   127.0.0.1). N times: kill -9 the daemon holding ``kube-controller-manager``, and time
   until the new leader's first write (its takeover of that Lease, polled every 20 ms
   through a surviving API server); then start the killed daemon again. Once with
   upstream's default settings (15 s lease, 10 s renew deadline, 2 s retry) and once with a
   5 s lease (4 s deadline, 1 s retry). The protocol's bound: a candidate takes over lease
   duration after it last saw the lease renewed, at its next (jittered) retry.
2. **etcd, three members beside one**: sequential single-key writes/s and watch latency
   (write -> event delivered, p50/p99) through gitkube's etcd store, each cluster started
   fresh in the same run.
3. **Scheduler throughput** (``--scheduler-only`` runs just this, ``--skip-scheduler``
   leaves it out): bench_scheduler.py's SchedulingBasic (``--nodes/--init-pods/--pods``,
   default 5,000/1,000/10,000) through the API, once on one ``gitkube serve --no-kubelet``
   on SQLite and once on three on a fresh three-member etcd, in this order. Nodes, then the
   initial pods, then the measured pods go in as transactions of 100 creates (the measured
   ones from one thread per API server); the scheduler is the one in the daemon holding
   ``kube-scheduler``. Pods/s = measured pods / (time the last binding was seen on a watch
   through the first API server - time the first measured pod was created). The daemons
   run every controller; scheduler_perf runs no node-lifecycle controller, so the nodes'
   Ready condition carries a heartbeat an hour ahead, which keeps them Ready through the
   run without thousands of heartbeat writes. Also printed: created/s (measured pods /
   time to the last create: whether creating bounded the figure), the ``kube-scheduler``
   holder and its lease transitions during the timed part, and the CPU seconds the daemons
   and the etcd members used from the first initial pod to the last binding.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from benchmarks.bench_scheduler import K8S_THRESHOLD, create_all, measure, node
from benchmarks.serving import start_serve, stop
from gitkube.api.http_client import HTTPClient
from gitkube.daemon.daemon import leader_identity
from gitkube.daemon.state import DaemonInfo
from gitkube.errors import GitkubeError
from gitkube.model.times import rfc3339
from gitkube.store import open_store
from tests.support.etcdcluster import EtcdCluster

LEASE = "kube-controller-manager"
SCHEDULER_LEASE = "kube-scheduler"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class _Plane:
    """``size`` daemons (``base/cp0``...) on one store, sharing a tokens file."""

    def __init__(self, base: Path, store: str, flags: list[str], size: int = 3):
        self.base = base
        self.store = store
        self.flags = flags
        self.tokens = base / "tokens.csv"
        self.tokens.write_text(f"{secrets.token_hex(16)},admin,admin\n")
        self.tokens.chmod(0o600)
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self.infos: list[DaemonInfo | None] = [None] * size
        try:
            for i in range(size):
                (base / f"cp{i}").mkdir()
                self.start(i)
        except BaseException:
            self.stop()
            raise

    def start(self, i: int) -> None:
        proc, info = start_serve(self.base / f"cp{i}", "--store", self.store,
                                 "--no-kubelet", "--tokens", str(self.tokens), *self.flags)
        self.procs[i], self.infos[i] = proc, info

    def client(self, i: int, timeout: float = 5) -> HTTPClient:
        info = self.infos[i]
        assert info is not None and info.url and info.ca_file
        token = self.tokens.read_text().split(",", 1)[0]
        return HTTPClient(info.url, token=token, ca=info.ca_file, timeout=timeout)

    def lease(self, via: int, name: str = LEASE) -> dict[str, Any]:
        """The spec of Lease ``kube-system/name`` (empty when it cannot be read)."""
        try:
            lease = self.client(via).get("coordination.k8s.io/v1", "Lease", "kube-system",
                                         name)
        except GitkubeError:
            return {}
        return dict(lease.get("spec") or {})

    def holder(self, via: int) -> str:
        return str(self.lease(via).get("holderIdentity") or "")

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.procs[i] = None

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None:
                stop(proc)


def failover(base: Path, kills: int, lease: float, renew: float, retry: float) -> list[float]:
    """Seconds from kill -9 of the leader to the new leader's takeover, per kill."""
    flags = ["--leader-elect-lease-duration", f"{lease:g}s",
             "--leader-elect-renew-deadline", f"{renew:g}s",
             "--leader-elect-retry-period", f"{retry:g}s"]
    times: list[float] = []
    with EtcdCluster(base / "etcd", 3) as etcd:
        plane = _Plane(base, etcd.url, flags)
        try:
            ids = [leader_identity(base / f"cp{i}") for i in range(3)]
            for _ in range(kills):
                deadline = time.monotonic() + 3 * lease + 30
                while (holder := plane.holder(0 if plane.procs[0] else 1)) not in ids:
                    if time.monotonic() > deadline:
                        raise SystemExit("no leader")
                    time.sleep(0.1)
                leader = ids.index(holder)
                witness = next(i for i in range(3) if i != leader)
                plane.kill(leader)
                t0 = time.monotonic()
                while plane.holder(witness) in ("", holder):
                    if time.monotonic() - t0 > 3 * lease + 30:
                        raise SystemExit("no new leader")
                    time.sleep(0.02)
                times.append(time.monotonic() - t0)
                print(f"  lease {lease:g}s: takeover after {times[-1]:.2f}s", flush=True)
                plane.start(leader)
        finally:
            plane.stop()
    return times


def etcd_figures(base: Path, members: int, writes: int) -> tuple[float, float, float]:
    """(writes/s, watch p50 ms, watch p99 ms) on a fresh cluster of ``members``."""
    with EtcdCluster(base / f"etcd{members}", members) as etcd:
        store = open_store(etcd.url)
        try:
            store.create("/bench/warm", b"x")
            t0 = time.perf_counter()
            for i in range(writes):
                store.create(f"/bench/w/{i:06d}", b"v" * 600)
            rate = writes / (time.perf_counter() - t0)
            latencies: list[float] = []
            watch = store.watch("/bench/l/", store.revision())
            done = threading.Event()

            def read() -> None:
                while len(latencies) < writes // 2:
                    event = watch.next_event(10)
                    if event is None:
                        break
                    latencies.append(time.perf_counter() - float(event.kv.value))
                done.set()

            reader = threading.Thread(target=read)
            reader.start()
            for i in range(writes // 2):
                store.create(f"/bench/l/{i:06d}", repr(time.perf_counter()).encode())
                time.sleep(0.002)
            done.wait(30)
            reader.join(10)
            watch.close()
        finally:
            store.close()
    ms = [x * 1000 for x in latencies]
    return rate, statistics.median(ms), _pct(ms, 99)


class _Bindings:
    """Pods of ``default`` with a node, as a watch through one API server sees them, and
    when the last of them was seen (time.monotonic())."""

    def __init__(self, client: HTTPClient):
        self.client = client
        listed = client.list("v1", "Pod", "default")
        self.bound = {p["metadata"]["name"] for p in listed.items
                      if (p.get("spec") or {}).get("nodeName")}
        self.last = 0.0
        self.version = listed.resource_version
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            watch = self.client.watch("v1", "Pod", "default", resource_version=self.version)
            try:
                while not (self.done.is_set() or watch.ended):
                    event = watch.next_event(0.5)
                    if event is None:
                        continue
                    obj = event.object
                    self.version = obj["metadata"]["resourceVersion"]
                    name = obj["metadata"]["name"]
                    if (event.type != "DELETED" and (obj.get("spec") or {}).get("nodeName")
                            and name not in self.bound):
                        self.bound.add(name)
                        self.last = time.monotonic()
            finally:
                watch.close()  # a stream the server ended is opened again from self.version

    def progress(self) -> tuple[int, float]:
        return len(self.bound), self.last

    def close(self) -> None:
        self.done.set()
        self.thread.join(10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scheduling(plane: _Plane, nodes: int, init_pods: int, pods: int,
               etcd: EtcdCluster | None = None) -> dict[str, Any]:
    """SchedulingBasic through the API servers of ``plane`` (module docstring, part 3)."""
    clients = [plane.client(i, timeout=120) for i in range(len(plane.procs))]
    beat = rfc3339(time.time() + 3600)
    made = [node(i) for i in range(nodes)]
    for obj in made:
        obj["status"]["conditions"][0]["lastHeartbeatTime"] = beat
    create_all(clients[0], made)
    pids = [p.pid for p in plane.procs if p is not None]
    pids += [m.process.pid for m in (etcd.members if etcd else []) if m.process is not None]
    cpu0 = [_cpu_seconds(pid) for pid in pids]
    before = plane.lease(0, SCHEDULER_LEASE)
    bindings = _Bindings(plane.client(0, timeout=120))
    try:
        seconds, creating = measure(clients, bindings.progress, init_pods, pods)
    finally:
        bindings.close()
    cpu = [_cpu_seconds(pid) - c for pid, c in zip(pids, cpu0, strict=True)]
    after = plane.lease(0, SCHEDULER_LEASE)
    listed = clients[0].list("v1", "Pod", "default")
    ready = sum(1 for n in clients[0].list("v1", "Node").items
                if any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (n.get("status") or {}).get("conditions") or []))
    if ready < nodes:  # the node-lifecycle controller took some: the figure is not comparable
        print(f"  only {ready} of {nodes} nodes still Ready after the run", flush=True)
    ids = [leader_identity(plane.base / f"cp{i}") for i in range(len(plane.procs))]
    holder = str(after.get("holderIdentity") or "")
    return {"pods_per_s": pods / seconds, "seconds": seconds, "created_per_s": pods / creating,
            "bound": sum(1 for p in listed.items if p["spec"].get("nodeName")),
            "leader": f"cp{ids.index(holder)}" if holder in ids else holder or "none",
            "transitions": int(after.get("leaseTransitions") or 0)
                           - int(before.get("leaseTransitions") or 0),
            "daemon_cpu": sum(cpu[:len(plane.procs)]), "etcd_cpu": sum(cpu[len(plane.procs):])}


def scheduler_figures(base: Path, nodes: int, init_pods: int, pods: int) -> None:
    """Part 3: one daemon on SQLite, then three on a three-member etcd; prints both."""
    print(f"\nSchedulingBasic through the API: {nodes} nodes, {init_pods} initial pods, "
          f"{pods} measured pods", flush=True)
    rows = []
    single = base / "sched-sqlite"
    single.mkdir()
    load0 = os.getloadavg()[0]
    plane = _Plane(single, f"sqlite:///{single}/state.db", [], size=1)
    try:
        rows.append(("1 daemon, SQLite", scheduling(plane, nodes, init_pods, pods)))
    finally:
        plane.stop()
    print(f"  SQLite done: {rows[-1][1]['pods_per_s']:.0f} pods/s", flush=True)
    ha = base / "sched-ha"
    ha.mkdir()
    with EtcdCluster(ha / "etcd", 3) as etcd:
        plane = _Plane(ha, etcd.url, [])
        try:
            rows.append(("3 daemons, 3-member etcd", scheduling(plane, nodes, init_pods, pods,
                                                                etcd)))
        finally:
            plane.stop()
    print(f"load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, "
          f"{os.cpu_count()} cores")
    print(f"{'control plane':26} {'pods/s':>7} {'seconds':>8} {'vs 680':>7} {'created/s':>9} "
          f"{'bound':>6} {'leader':>7} {'moves':>5} {'daemon cpu':>10} {'etcd cpu':>8}")
    for label, r in rows:
        print(f"{label:26} {r['pods_per_s']:7.0f} {r['seconds']:8.2f} "
              f"{r['pods_per_s'] / K8S_THRESHOLD:6.2f}x {r['created_per_s']:9.0f} "
              f"{r['bound']:6d} {r['leader']:>7} "
              f"{r['transitions']:5d} {r['daemon_cpu']:9.1f}s {r['etcd_cpu']:7.1f}s")
    print(f"HA / SQLite: {rows[1][1]['pods_per_s'] / rows[0][1]['pods_per_s']:.2f}x",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--etcd-only", action="store_true",
                        help="Skip the failover and scheduler parts.")
    parser.add_argument("--skip-default", action="store_true",
                        help="Only the 5 s lease (the default settings take ~17 s a kill).")
    parser.add_argument("--scheduler-only", action="store_true",
                        help="Only the scheduler part.")
    parser.add_argument("--skip-scheduler", action="store_true",
                        help="Skip the scheduler part.")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--init-pods", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10000)
    args = parser.parse_args()
    if shutil.which("etcd") is None:
        raise SystemExit("the etcd binary is not installed")
    base = Path(tempfile.mkdtemp(prefix="gitkube-bench-ha-"))
    try:
        if args.scheduler_only:
            scheduler_figures(base, args.nodes, args.init_pods, args.pods)
            return
        print(f"{os.cpu_count()} cores; failover over {args.kills} kills", flush=True)
        settings = [] if args.etcd_only else [(5.0, 4.0, 1.0)]
        if not (args.skip_default or args.etcd_only):
            settings.insert(0, (15.0, 10.0, 2.0))
        rows = []
        for n, (lease, renew, retry) in enumerate(settings):
            times = failover(base / f"f{n}", args.kills, lease, renew, retry)
            rows.append((lease, renew, retry, statistics.median(times), _pct(times, 99),
                         max(times)))
        if rows:
            print("\nfailover (kill -9 of the leader -> new leader's first write)")
            print("lease/renew/retry   p50      p99      max      bound (lease + 1.2 retry)")
        for lease, renew, retry, p50, p99, worst in rows:
            print(f"{lease:g}s/{renew:g}s/{retry:g}s{'':6}{p50:6.2f}s  {p99:6.2f}s  "
                  f"{worst:6.2f}s  {lease + 1.2 * retry:.1f}s")
        print("\netcd through gitkube's store (sequential writes; watch latency)")
        print("members   writes/s   watch p50   watch p99")
        for members in (1, 3):
            rate, p50, p99 = etcd_figures(base, members, args.writes)
            print(f"{members:7}   {rate:8.0f}   {p50:6.2f} ms   {p99:6.2f} ms", flush=True)
        if not (args.etcd_only or args.skip_scheduler):
            scheduler_figures(base, args.nodes, args.init_pods, args.pods)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
