"""API server benchmark: a real `gitkube serve` measured from a second process.

    .venv/bin/python benchmarks/bench_api.py [--objects 10000] [--watchers 500] [--json]

The daemon runs as its own process (`gitkube serve --no-kubelet`: API server, scheduler and
every controller, over SQLite in a temporary state directory; TLS and a bearer token on
127.0.0.1, plus its unix socket). This process is the client, on loopback only:

1. load ``--objects`` Pods (one namespace, labels ``app=bench-N%100``; no node and another
   schedulerName, so no agent acts on them, but every Pod informer caches them) through the
   transaction endpoint, 500 per request, then let the agents settle;
2. single-object GET latency, unloaded: ``--gets`` sequential GETs of random pods on one
   keep-alive connection, over HTTPS+token and over the unix socket (target p99 <= 10 ms);
3. GET throughput: ``--threads`` client threads for ``--seconds`` over HTTPS;
4. LIST latency: the whole namespace (``--objects`` pods), and a label-selected 1 %;
5. watch fan-out: ``--watchers`` concurrent HTTPS watches on ConfigMaps of one namespace,
   then one write (a ConfigMap create), ``--rounds`` times; delivery latency is the time
   from just before the create call to each watcher reading the event line (target: all
   notified, p99 <= 200 ms). Each watcher is a thread here, so client-side wake-up time is
   counted against the server;
6. the daemon's RSS (VmRSS, and the peak so far, VmHWM, from /proc) after each phase and
   12 s after the last (the daemon returns freed heap to the OS every 10 s). Target <= 200 MB
   with the objects loaded; k3s documents about 1.6 GB for its server with a workload.

Client-side JSON decoding is included in every latency. The machine may be shared: the
figures are what this run saw.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.serving import start_serve, stop
from gitkube.api.client import CreateOp
from gitkube.api.http_client import HTTPClient
from gitkube.daemon.state import DaemonInfo
from gitkube.daemon.tokens import load_tokens

NS = "bench"
WATCH_NS = "bench-watch"
TARGET_GET_P99_MS = 10.0
TARGET_WATCH_P99_MS = 200.0
TARGET_RSS_MB = 200.0
K3S_SERVER_MB = 1600.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"n": len(ms), "mean": statistics.fmean(ms), "p50": pct(ms, 50),
            "p99": pct(ms, 99), "max": max(ms)}


def proc_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


# --- the daemon -------------------------------------------------------------------------------


def start_daemon(state: Path) -> tuple[subprocess.Popen[bytes], DaemonInfo]:
    return start_serve(state, "--no-kubelet")


# --- phases -----------------------------------------------------------------------------------


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i:05d}", "namespace": NS,
                         "labels": {"app": f"bench-{i % 100}", "tier": "web"}},
            "spec": {"schedulerName": "bench-external-scheduler",
                     "containers": [{"name": "main", "image": "localhost/bench:1",
                                     "ports": [{"containerPort": 8080}],
                                     "resources": {"requests": {"cpu": "10m",
                                                                "memory": "16Mi"}}}]}}


def load(client: HTTPClient, objects: int) -> float:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WATCH_NS}})
    started = time.perf_counter()
    for first in range(0, objects, 500):
        client.transaction([CreateOp(pod(i)) for i in range(first, min(objects, first + 500))])
    return time.perf_counter() - started


def get_latency(client: HTTPClient, objects: int, gets: int) -> dict[str, float]:
    rng = random.Random(7)
    for _ in range(50):  # warm the connection and caches
        client.get("v1", "Pod", NS, f"pod-{rng.randrange(objects):05d}")
    samples = []
    for _ in range(gets):
        name = f"pod-{rng.randrange(objects):05d}"
        t0 = time.perf_counter()
        client.get("v1", "Pod", NS, name)
        samples.append(time.perf_counter() - t0)
    return summary_ms(samples)


def get_throughput(make: Any, objects: int, threads: int, seconds: float) -> float:
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        client = make()
        rng = random.Random(n)
        while time.perf_counter() < stop:
            client.get("v1", "Pod", NS, f"pod-{rng.randrange(objects):05d}")
            counts[n] += 1
        client.close()

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def list_latency(client: HTTPClient, objects: int, repeats: int) -> dict[str, Any]:
    full, selected = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        items = client.list("v1", "Pod", NS).items
        full.append(time.perf_counter() - t0)
        assert len(items) == objects, len(items)
        t0 = time.perf_counter()
        few = client.list("v1", "Pod", NS, label_selector="app=bench-7").items
        selected.append(time.perf_counter() - t0)
        assert len(few) == objects // 100 + (1 if objects % 100 > 7 else 0), len(few)
    out: dict[str, Any] = {"all": summary_ms(full), "selector": summary_ms(selected)}
    out["objects_per_s"] = objects / statistics.median(full)
    return out


class Watcher(threading.Thread):
    """One raw HTTPS watch; records when each event line arrives (perf_counter)."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext, token: str, rv: str):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=120)
        self.conn.request("GET", f"/api/v1/namespaces/{WATCH_NS}/configmaps?watch=true&"
                          f"resourceVersion={rv}",
                          headers={"Authorization": f"Bearer {token}",
                                   "Accept": "application/json"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.status
        self.arrivals: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            while True:
                line = self.response.readline()
                if not line:
                    return
                if line.strip():
                    now = time.perf_counter()
                    with self.lock:
                        self.arrivals.append((now, line))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # closed by close() (http.client may trip over its own closed file)

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(2)
        self.conn.close()


def watch_fanout(client: HTTPClient, info: DaemonInfo, token: str, watchers: int,
                 rounds: int) -> dict[str, Any]:
    url = urlsplit(info.url or "")
    ctx = ssl.create_default_context(cafile=info.ca_file)
    rv = client.list("v1", "ConfigMap", WATCH_NS).resource_version
    started = time.perf_counter()
    ws = []
    for _ in range(watchers):
        w = Watcher(url.hostname or "127.0.0.1", url.port or 443, ctx, token, rv)
        w.start()
        ws.append(w)
    connect_s = time.perf_counter() - started
    time.sleep(1.0)  # every stream established and idle
    per_round = []
    all_samples: list[float] = []
    missing = 0
    for r in range(rounds):
        seen_before = [len(w.arrivals) for w in ws]
        t0 = time.perf_counter()
        client.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"ping-{r}", "namespace": WATCH_NS}})
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:
            if all(len(w.arrivals) > n for w, n in zip(ws, seen_before, strict=True)):
                break
            time.sleep(0.005)
        samples = []
        for w, n in zip(ws, seen_before, strict=True):
            with w.lock:
                if len(w.arrivals) > n:
                    at, line = w.arrivals[n]
                    assert json.loads(line)["object"]["metadata"]["name"] == f"ping-{r}"
                    samples.append(at - t0)
                else:
                    missing += 1
        per_round.append(summary_ms(samples) if samples else {})
        all_samples += samples
        time.sleep(0.5)
    for w in ws:
        w.close()
    return {"watchers": watchers, "rounds": rounds, "connect_s": connect_s,
            "missing": missing, "all": summary_ms(all_samples), "per_round": per_round}


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--watchers", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--gets", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--lists", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    results: dict[str, Any] = {"objects": args.objects}
    with tempfile.TemporaryDirectory(prefix="gk-bench-api-") as tmp:
        state = Path(tmp)
        proc, info = start_daemon(state)
        try:
            assert info.url and info.tokens_file and info.ca_file
            token = next(e.token for e in load_tokens(Path(info.tokens_file))
                         if e.role == "admin")

            def https() -> HTTPClient:
                return HTTPClient(info.url or "", token=token, ca=info.ca_file)

            client = https()
            results["rss_idle_mb"] = proc_mb(proc.pid)
            results["load_s"] = load(client, args.objects)
            time.sleep(5)  # informers and controllers take in the new pods
            results["rss_loaded_mb"] = proc_mb(proc.pid)
            results["get_https"] = get_latency(client, args.objects, args.gets)
            results["get_unix"] = get_latency(HTTPClient(info.socket), args.objects, args.gets)
            results["get_rps_https"] = get_throughput(https, args.objects, args.threads,
                                                      args.seconds)
            results["rss_after_gets_mb"] = proc_mb(proc.pid)
            results["list"] = list_latency(client, args.objects, args.lists)
            results["rss_after_lists_mb"] = proc_mb(proc.pid)
            results["watch"] = watch_fanout(client, info, token, args.watchers, args.rounds)
            time.sleep(1)
            results["rss_end_mb"] = proc_mb(proc.pid)
            time.sleep(12)  # the daemon hands freed heap back every 10 s (malloc_trim)
            results["rss_settled_mb"] = proc_mb(proc.pid)
        finally:
            stop(proc)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report(results, args)


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    def row(label: str, s: dict[str, float]) -> str:
        return (f"  {label:<34} p50 {s['p50']:7.2f} ms   p99 {s['p99']:7.2f} ms   "
                f"max {s['max']:7.2f} ms   (n={s['n']})")

    print(f"gitkube serve, {r['objects']:,} pods loaded in {r['load_s']:.1f} s "
          f"(transactions of 500 over HTTPS)")
    print("single-object GET, unloaded, one keep-alive connection:")
    print(row("HTTPS + bearer token", r["get_https"]))
    print(row("unix socket", r["get_unix"]))
    ok = r["get_https"]["p99"] <= TARGET_GET_P99_MS
    print(f"  target p99 <= {TARGET_GET_P99_MS:g} ms (HTTPS): {'met' if ok else 'MISSED'}")
    print(f"GET throughput, {args.threads} client threads, HTTPS: "
          f"{r['get_rps_https']:,.0f} requests/s")
    lst = r["list"]
    print(f"LIST of {r['objects']:,} pods: p50 {lst['all']['p50']:.0f} ms, "
          f"p99 {lst['all']['p99']:.0f} ms ({lst['objects_per_s']:,.0f} objects/s); "
          f"label-selected 1 %: p50 {lst['selector']['p50']:.1f} ms, "
          f"p99 {lst['selector']['p99']:.1f} ms")
    w = r["watch"]
    print(f"watch fan-out: {w['watchers']} HTTPS watchers (connected in "
          f"{w['connect_s']:.1f} s), {w['rounds']} writes:")
    print(row("delivery latency, all rounds", w["all"]))
    print(f"  not notified within 10 s: {w['missing']}")
    ok = w["missing"] == 0 and w["all"]["p99"] <= TARGET_WATCH_P99_MS
    print(f"  target: all notified, p99 <= {TARGET_WATCH_P99_MS:g} ms: "
          f"{'met' if ok else 'MISSED'}")
    for label, what in (("rss_idle_mb", "idle, empty store"),
                        ("rss_loaded_mb", f"{r['objects']:,} pods loaded"),
                        ("rss_after_gets_mb", "after the GETs"),
                        ("rss_after_lists_mb", "after the LISTs"),
                        ("rss_end_mb", "after the watch fan-out"),
                        ("rss_settled_mb", "12 s later")):
        m = r[label]
        print(f"daemon RSS {what:<24} {m['VmRSS']:6.0f} MB (peak so far {m['VmHWM']:.0f} MB)")
    steady = max(r["rss_loaded_mb"]["VmRSS"], r["rss_settled_mb"]["VmRSS"])
    peak = r["rss_settled_mb"]["VmHWM"]
    print(f"  target <= {TARGET_RSS_MB:g} MB with {r['objects']:,} objects: steady "
          f"{steady:.0f} MB {'met' if steady <= TARGET_RSS_MB else 'MISSED'}; peak under "
          f"load {peak:.0f} MB {'met' if peak <= TARGET_RSS_MB else 'MISSED'} (k3s documents "
          f"about {K3S_SERVER_MB / 1000:.1f} GB for its server)")


if __name__ == "__main__":
    main()
