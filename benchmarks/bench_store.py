"""Store benchmark: SQLite (gitkube's default) beside etcd, in one run.

    .venv/bin/python benchmarks/bench_store.py [--writes N] [--objects N] [--events N]

Measures, for each backend: single-object writes/s (one create per call), one transaction of
--objects creates, a list of those objects, and watch latency (write -> event delivered)
p50/p99 within one process and from another process. etcd is started on 127.0.0.1 with a
temporary data dir (skipped when the etcd binary is absent). Objects are ~600-byte JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from gitkube.store import Create, Store, open_store
from tests.support.etcdserver import EtcdServer

VALUE = json.dumps({
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "x", "namespace": "default", "labels": {"app": "bench"},
                 "uid": "0" * 36, "resourceVersion": "1"},
    "data": {"payload": "y" * 400},
}).encode()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def single_writes(store: Store, n: int) -> float:
    seconds = timed(lambda: [store.create(f"/bench/single/{i:06}", VALUE) for i in range(n)])
    return n / seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def watch_latency_in_process(store: Store, n: int) -> list[float]:
    """Write one key at a time; the delay until a watcher thread holds the event."""
    lags: list[float] = []
    got = threading.Event()
    sent = [0.0]
    watch = store.watch("/bench/lat/", store.revision())

    def consume() -> None:
        for _ in range(n):
            event = watch.next_event(10)
            if event is None:
                return
            lags.append(time.perf_counter() - sent[0])
            got.set()

    reader = threading.Thread(target=consume)
    reader.start()
    for i in range(n):
        got.clear()
        sent[0] = time.perf_counter()
        store.create(f"/bench/lat/{i:06}", VALUE)
        got.wait(10)
        time.sleep(0.002)
    reader.join()
    watch.close()
    return lags


def watch_latency_across_processes(store: Store, n: int) -> list[float]:
    """Another process writes (stamping wall-clock time in the value); we watch."""
    lags: list[float] = []
    with store.watch("/bench/xproc/", store.revision()) as watch:  # type: ignore[attr-defined]
        child = subprocess.Popen(
            [sys.executable, __file__, "--child-writer", store.url, str(n)],
            stdin=subprocess.DEVNULL,
        )
        try:
            for _ in range(n):
                event = watch.next_event(30)
                if event is None:
                    break
                lags.append(time.time() - float(event.kv.value))
        finally:
            child.wait(timeout=120)
    return lags


def child_writer(url: str, n: int) -> None:
    store = open_store(url)
    for i in range(n):
        time.sleep(0.01)
        store.create(f"/bench/xproc/{i:06}", repr(time.time()).encode())
    store.close()


def run(store: Store, args: argparse.Namespace) -> dict[str, str]:
    row: dict[str, str] = {}
    row["single writes/s"] = f"{single_writes(store, args.writes):,.0f}"
    ops = [Create(f"/bench/txn/{i:06}", VALUE) for i in range(args.objects)]
    row[f"txn of {args.objects:,} (s)"] = f"{timed(lambda: store.txn(ops)):.3f}"
    listed: list[int] = []
    seconds = timed(lambda: listed.append(len(store.list("/bench/txn/")[0])))
    assert listed == [args.objects], listed
    row[f"list of {args.objects:,} (s)"] = f"{seconds:.3f}"
    lags = watch_latency_in_process(store, args.events)
    row["watch in-process p50/p99 (ms)"] = (
        f"{percentile(lags, 0.5) * 1e3:.2f} / {percentile(lags, 0.99) * 1e3:.2f}"
    )
    lags = watch_latency_across_processes(store, args.events)
    row["watch cross-process p50/p99 (ms)"] = (
        f"{percentile(lags, 0.5) * 1e3:.2f} / {percentile(lags, 0.99) * 1e3:.2f}"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--child-writer", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_writer:
        child_writer(args.child_writer[0], int(args.child_writer[1]))
        return
    tmp = Path(tempfile.mkdtemp(prefix="gitkube-bench-store-"))
    results: dict[str, dict[str, str]] = {}
    server: EtcdServer | None = None
    try:
        store = open_store(f"sqlite:///{tmp / 'state.db'}")
        try:
            results["SQLite (gitkube)"] = run(store, args)
        finally:
            store.close()
        if shutil.which("etcd"):
            server = EtcdServer(tmp / "etcd")
            server.wait_healthy()
            store = open_store(server.url)
            try:
                results["etcd 3.4 (JSON gateway)"] = run(store, args)
            finally:
                store.close()
        else:
            print("etcd not installed: etcd column skipped", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    names = list(results)
    metrics = list(results[names[0]])
    width = max(len(m) for m in metrics)
    print(f"{'metric':<{width}} | " + " | ".join(f"{n:>24}" for n in names))
    print("-" * width + "-+-" + "-+-".join("-" * 24 for _ in names))
    for metric in metrics:
        cells = " | ".join(f"{results[n].get(metric, '-'):>24}" for n in names)
        print(f"{metric:<{width}} | {cells}")


if __name__ == "__main__":
    main()
