"""Scheduling throughput, shaped like Kubernetes' scheduler_perf SchedulingBasic.

5,000 nodes (4 cpu, 32Gi, 110 pods, Ready) and 1,000 initial pods are created and scheduled
first (not timed); then 10,000 pods (100m cpu, 500Mi, as scheduler_perf's pod-default.yaml)
are created through the api layer (LocalClient, transactions of 100 creates) while the
scheduler runs. Throughput = measured pods / (time of the last binding written - time the
first measured pod was created). Kubernetes' CI threshold for this workload is 680 pods/s.

    .venv/bin/python benchmarks/bench_scheduler.py                # sqlite and memory
    .venv/bin/python benchmarks/bench_scheduler.py --nodes 500 --pods 1000 --stores memory
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitkube.agents.scheduler import SchedulerConfig, build_scheduler
from gitkube.api import Client, CreateOp, LocalClient
from gitkube.store import open_store

K8S_THRESHOLD = 680.0
BATCH = 100


def node(i: int) -> dict[str, Any]:
    alloc = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{i:05d}", "labels": {"kubernetes.io/hostname":
                                                            f"node-{i:05d}"}},
            "spec": {},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(prefix: str, i: int) -> dict[str, Any]:
    res = {"cpu": "100m", "memory": "500Mi"}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{i:06d}", "namespace": "default"},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"requests": res, "limits": res}}]}}


def create_all(client: Client, objs: list[dict[str, Any]]) -> None:
    for i in range(0, len(objs), BATCH):
        client.transaction([CreateOp(o) for o in objs[i:i + BATCH]])


# What a run reads of the scheduler's progress: (pods bound so far, time.monotonic() of the
# last binding written), from the scheduler's own stats or from a watch through the API.
Progress = Callable[[], tuple[int, float]]


def wait_bound(progress: Progress, target: int, timeout: float,
               failed: list[BaseException] | None = None) -> bool:
    """Whether ``target`` pods are bound within ``timeout`` (False at once when ``failed``,
    a creator thread's errors, fills)."""
    deadline = time.monotonic() + timeout
    while progress()[0] < target:
        if time.monotonic() > deadline or failed:
            return False
        time.sleep(0.005)
    return True


def measure(creators: Sequence[Client], progress: Progress, init_pods: int, pods: int,
            timeout: float = 600) -> tuple[float, float]:
    """SchedulingBasic's timed part, on nodes that exist and a scheduler that runs: the
    initial pods created and bound (not timed), then the measured pods created in batches,
    one thread per client in ``creators`` (each its share), while the scheduler binds.
    Returns seconds from the first measured create to the last binding, and to the last
    create; SystemExit when the pods are not bound in time."""
    create_all(creators[0], [pod("init", i) for i in range(init_pods)])
    if not wait_bound(progress, init_pods, 120):
        raise SystemExit(f"initial pods not bound: {progress()[0]} of {init_pods}")
    measured = [pod("pod", i) for i in range(pods)]
    share = -(-pods // len(creators))
    failed: list[BaseException] = []
    created: list[float] = []

    def create(client: Client, objs: list[dict[str, Any]]) -> None:
        try:
            create_all(client, objs)
            created.append(time.monotonic())
        except Exception as exc:  # reported by the waiting thread
            failed.append(exc)

    threads = [threading.Thread(target=create, args=(c, measured[k * share:(k + 1) * share]))
               for k, c in enumerate(creators)]
    t0 = time.monotonic()
    for thread in threads:
        thread.start()
    ok = wait_bound(progress, init_pods + pods, timeout, failed)
    for thread in threads:
        thread.join()
    bound, t1 = progress()
    if failed:
        raise SystemExit(f"creating the measured pods failed: {failed[0]}")
    if not ok:
        raise SystemExit(f"pods not bound in time: {bound} of {init_pods + pods}")
    return t1 - t0, max(created) - t0


def run(url: str, nodes: int, init_pods: int, pods: int, profile: str) -> dict[str, Any]:
    store = open_store(url)
    client = LocalClient(store)
    create_all(client, [node(i) for i in range(nodes)])
    config = SchedulerConfig.bin_packing() if profile == "binpack" else SchedulerConfig()
    sched = build_scheduler(client, config)
    sched.start()
    try:
        seconds, _ = measure([client], lambda: (sched.stats.bound, sched.stats.last_bound_at),
                             init_pods, pods)
        stats = sched.stats
    finally:
        sched.stop()
    listed = client.list("v1", "Pod")
    bound = sum(1 for p in listed.items if p["spec"].get("nodeName"))
    store.close()
    return {"pods_per_s": pods / seconds, "seconds": seconds, "bound": bound,
            "batches": stats.batches, "attempts": stats.attempts,
            "bind_errors": stats.bind_errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--init-pods", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--stores", default="sqlite,memory")
    parser.add_argument("--profile", choices=("spread", "binpack"), default="spread")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"SchedulingBasic: {args.nodes} nodes, {args.init_pods} initial pods, "
          f"{args.pods} measured pods, profile {args.profile}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'store':8} {'pods/s':>9} {'seconds':>8} {'vs 680 (k8s CI)':>16} {'bound':>7} "
          f"{'txns':>6} {'bind errors':>12}")
    for kind in args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/state.db" if kind == "sqlite" else "memory://"
            r = run(url, args.nodes, args.init_pods, args.pods, args.profile)
        print(f"{kind:8} {r['pods_per_s']:9.0f} {r['seconds']:8.2f} "
              f"{r['pods_per_s'] / K8S_THRESHOLD:15.2f}x {r['bound']:7d} {r['batches']:6d} "
              f"{r['bind_errors']:12d}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (store, api, informers, scheduler): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
