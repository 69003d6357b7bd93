"""HA control plane benchmark: leader failover, and etcd with three members beside one.

    .venv/bin/python benchmarks/bench_ha.py [--kills N] [--writes N] [--skip-default]

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from benchmarks.serving import start_serve, stop
from gitkube.api.http_client import HTTPClient
from gitkube.daemon.daemon import leader_identity
from gitkube.daemon.state import DaemonInfo
from gitkube.errors import GitkubeError
from gitkube.store import open_store
from tests.support.etcdcluster import EtcdCluster

LEASE = "kube-controller-manager"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class _Plane:
    def __init__(self, base: Path, etcd_url: str, flags: list[str]):
        self.base = base
        self.etcd_url = etcd_url
        self.flags = flags
        self.tokens = base / "tokens.csv"
        self.tokens.write_text(f"{secrets.token_hex(16)},admin,admin\n")
        self.tokens.chmod(0o600)
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * 3
        self.infos: list[DaemonInfo | None] = [None] * 3
        for i in range(3):
            (base / f"cp{i}").mkdir()
            self.start(i)

    def start(self, i: int) -> None:
        proc, info = start_serve(self.base / f"cp{i}", "--store", self.etcd_url,
                                 "--no-kubelet", "--tokens", str(self.tokens), *self.flags)
        self.procs[i], self.infos[i] = proc, info

    def client(self, i: int) -> HTTPClient:
        info = self.infos[i]
        assert info is not None and info.url and info.ca_file
        token = self.tokens.read_text().split(",", 1)[0]
        return HTTPClient(info.url, token=token, ca=info.ca_file, timeout=5)

    def holder(self, via: int) -> str:
        try:
            lease = self.client(via).get("coordination.k8s.io/v1", "Lease", "kube-system",
                                         LEASE)
        except GitkubeError:
            return ""
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--etcd-only", action="store_true", help="Skip the failover part.")
    parser.add_argument("--skip-default", action="store_true",
                        help="Only the 5 s lease (the default settings take ~17 s a kill).")
    args = parser.parse_args()
    if shutil.which("etcd") is None:
        raise SystemExit("the etcd binary is not installed")
    base = Path(tempfile.mkdtemp(prefix="gitkube-bench-ha-"))
    try:
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
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
