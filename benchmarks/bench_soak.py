"""Soak: minutes of mixed traffic against a real daemon on simulated nodes.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10] [--rate 100] [--watchers 20]

A `gitkube serve --runtime simulated` (API server, scheduler, every controller and a kubelet
on the simulated runtime, over SQLite in a temporary state directory; TLS and a bearer token
on 127.0.0.1) runs as its own process, with 5 simulated nodes from `gitkube agent simulate`
beside it. This process is the client, on loopback only, for ``--minutes``:

- ``--threads`` workers issue about ``--rate`` requests per second in all, a mix of:
  create, update and delete of ConfigMaps; scale of 5 Deployments (their pods are
  created, scheduled, run and deleted by the agents meanwhile); GET of a Deployment; LIST of
  the pods of a namespace;
- ``--watchers`` watches on ConfigMaps stay open, reading every event;
- every 30 s a line: requests and errors in the window, request p50/p99, and the daemon's
  RSS, threads and open file descriptors (from /proc).

Targets: 0 errors, request p99 <= 10 ms, RSS growth <= 5 MB from the first to the last
minute (the first minute warms the caches up). The machine may be shared: the figures are
what this run saw. Every loop is bounded by the duration; everything is stopped and removed
at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.serving import gitkube, start_serve, state_env, stop
from gitkube.api.http_client import HTTPClient
from gitkube.daemon.state import DaemonInfo
from gitkube.daemon.tokens import load_tokens
from gitkube.errors import GitkubeError

NS = "soak"
DEPLOYMENTS = 5
TARGET_P99_MS = 10.0
TARGET_RSS_GROWTH_MB = 5.0


def start(state: Path) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], DaemonInfo]:
    daemon, info = start_serve(state, "--runtime", "simulated", "--node-name", "soak-node",
                               log_name="soak.log")
    with (state / "soak.log").open("ab") as log:
        nodes = subprocess.Popen(gitkube("agent", "simulate", "--nodes", "5", "--heartbeat", "5"),
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 env=state_env(state))
    return daemon, nodes, info


def proc_stats(pid: int) -> tuple[float, int, int]:
    """RSS in MB, threads and open descriptors of ``pid``."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0]) / 1024
    return rss, int(fields["Threads"]), len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used (its cost is what the shared cores lend it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deployment(i: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"web-{i}", "namespace": NS},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": f"web-{i}"}},
                     "template": {"metadata": {"labels": {"app": f"web-{i}"}},
                                  "spec": {"containers": [{"name": "c",
                                                           "image": "localhost/soak:1"}]}}}}


class Load:
    """The workers' shared counters (one lock; a few hundred updates a second)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.total = 0
        self.total_errors = 0
        self.by_op: dict[str, list[float]] = {}  # the whole run, per operation

    def record(self, seconds: float, error: str | None, op: str) -> None:
        with self.lock:
            self.total += 1
            if error is None:
                self.latencies.append(seconds)
                self.by_op.setdefault(op, []).append(seconds)
            else:
                self.errors.append(error)
                self.total_errors += 1

    def window(self) -> tuple[list[float], list[str]]:
        with self.lock:
            out = self.latencies, self.errors
            self.latencies, self.errors = [], []
            return out


def one_request(client: HTTPClient, rnd: random.Random, worker: int, n: int) -> str:
    """One operation of the mix; its name (for the per-operation figures)."""
    op = rnd.random()
    name = f"cm-{worker}-{rnd.randrange(50)}"
    if op < 0.25:
        with contextlib.suppress(GitkubeError):
            client.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": NS},
                           "data": {"n": str(n)}})
            return "create"
        client.get("v1", "ConfigMap", NS, name)
        return "create refused + get"
    if op < 0.4:
        with contextlib.suppress(GitkubeError):
            client.delete("v1", "ConfigMap", NS, name)
            return "delete"
        client.get("apps/v1", "Deployment", NS, "web-0")
        return "delete refused + get"
    if op < 0.5:
        client.update_scale("apps/v1", "Deployment", NS, f"web-{rnd.randrange(DEPLOYMENTS)}",
                            rnd.randrange(0, 6))
        return "scale"
    if op < 0.8:
        client.get("apps/v1", "Deployment", NS, f"web-{rnd.randrange(DEPLOYMENTS)}")
        return "get"
    client.list("v1", "Pod", NS)
    return "list pods"


def worker(info: DaemonInfo, token: str, load: Load, stop_at: float, rate: float,
           index: int) -> None:
    client = HTTPClient(info.url or "", token=token, ca=info.ca_file)
    rnd = random.Random(index)
    interval = 1.0 / rate
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < stop_at:
        n += 1
        started = time.perf_counter()
        error: str | None = None
        op = "failed"
        try:
            op = one_request(client, rnd, index, n)
        except GitkubeError as exc:
            error = exc.message
        load.record(time.perf_counter() - started, error, op)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    client.close()


def watcher(info: DaemonInfo, token: str, stop_at: float, seen: list[int]) -> None:
    client = HTTPClient(info.url or "", token=token, ca=info.ca_file)
    while time.monotonic() < stop_at:
        with contextlib.suppress(GitkubeError), client.watch("v1", "ConfigMap", NS) as w:
            while time.monotonic() < stop_at:
                if w.next_event(0.5) is not None:
                    seen[0] += 1
    client.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s in all")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between lines")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="gk-soak-"))
    daemon, nodes, info = start(state)
    try:
        token = next(e.token for e in load_tokens(Path(info.tokens_file or ""))
                     if e.role == "admin")
        setup = HTTPClient(info.socket)
        setup.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for i in range(DEPLOYMENTS):
            setup.create(deployment(i))
        load = Load()
        stop_at = time.monotonic() + args.minutes * 60
        seen = [0]
        threads = [threading.Thread(target=worker, args=(info, token, load, stop_at,
                                                         args.rate / args.threads, i))
                   for i in range(args.threads)]
        threads += [threading.Thread(target=watcher, args=(info, token, stop_at, seen))
                    for _ in range(args.watchers)]
        for t in threads:
            t.start()
        print(f"soak: {args.minutes:g} min, ~{args.rate:g} req/s from {args.threads} threads, "
              f"{args.watchers} watches, daemon pid {daemon.pid}")
        print(f"{'t':>6}  {'requests':>8}  {'errors':>6}  {'p50 ms':>7}  {'p99 ms':>7}  "
              f"{'RSS MB':>7}  {'threads':>7}  {'fds':>5}  {'CPU %':>5}  {'load':>5}")
        rss_series: list[tuple[float, float]] = []
        p99s: list[float] = []
        started = time.monotonic()
        cpu_start = cpu_last = cpu_seconds(daemon.pid)
        at_last = started
        while time.monotonic() < stop_at:
            time.sleep(min(args.every, max(0.0, stop_at - time.monotonic())))
            lat, errs = load.window()
            rss, nthreads, fds = proc_stats(daemon.pid)
            now = time.monotonic() - started
            cpu = cpu_seconds(daemon.pid)
            cpu_pct = 100 * (cpu - cpu_last) / max(1e-9, now + started - at_last)
            cpu_last, at_last = cpu, now + started
            rss_series.append((now, rss))
            p99s.append(pct(lat, 0.99))
            print(f"{now:6.0f}  {len(lat) + len(errs):8d}  {len(errs):6d}  "
                  f"{pct(lat, 0.5):7.2f}  {pct(lat, 0.99):7.2f}  {rss:7.1f}  "
                  f"{nthreads:7d}  {fds:5d}  {cpu_pct:5.0f}  {os.getloadavg()[0]:5.1f}",
                  flush=True)
            for e in errs[:3]:
                print(f"        error: {e}")
        for t in threads:
            t.join(30)
        warm = [r for t, r in rss_series if t >= 60] or [r for _, r in rss_series]
        growth = warm[-1] - warm[0] if warm else 0.0
        worst = max(p99s) if p99s else 0.0
        print(f"\nrequests: {load.total}, errors: {load.total_errors} (target 0); watch "
              f"events read: {seen[0]}")
        print(f"daemon CPU: {cpu_last - cpu_start:.1f} s, "
              f"{1000 * (cpu_last - cpu_start) / max(1, load.total):.2f} ms per request "
              "(with the agents' own work)")
        print(f"request p99, worst 30 s window: {worst:.2f} ms (target <= {TARGET_P99_MS:g})")
        print(f"daemon RSS after the first minute: {warm[0] if warm else 0:.1f} -> "
              f"{warm[-1] if warm else 0:.1f} MB, growth {growth:+.1f} MB (target <= "
              f"{TARGET_RSS_GROWTH_MB:g})")
        ok = load.total_errors == 0 and worst <= TARGET_P99_MS and \
            growth <= TARGET_RSS_GROWTH_MB
        print("per operation (whole run; a refused create or delete is followed by a GET, "
              "two requests):")
        for op, values in sorted(load.by_op.items()):
            print(f"  {op:<22} n={len(values):6d}  p50 {pct(values, 0.5):6.2f} ms  "
                  f"p99 {pct(values, 0.99):6.2f} ms")
        print("PASS" if ok else "FAIL")
    finally:
        stop(nodes)
        stop(daemon)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
