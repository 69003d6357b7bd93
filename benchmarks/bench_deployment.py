"""A 1,000-replica Deployment on 100 simulated nodes: seconds until every replica is Ready.

Everything runs in one process, as `gitkube apply --wait` would run it: the store (SQLite by
default), the api layer (LocalClient), one Manager sharing informers between every
controller (gitkube/agents/controllers), the scheduler and 100 simulated nodes
(gitkube/agents/kubelet/simulate.py, light mode: a bound pod turns Running and Ready at
once). The clock starts when the Deployment is created and stops when its status reports
1,000 available, up-to-date replicas (what `kubectl rollout status` waits for). Target:
<= 10 s. Memory: the process' peak RSS (ru_maxrss), and how much it grew from just before
the agents started; ``--tracemalloc`` also reports the Python heap peak (slower).

    .venv/bin/python benchmarks/bench_deployment.py
    .venv/bin/python benchmarks/bench_deployment.py --replicas 200 --nodes 20 --store memory
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitkube.agents.compose import CONTROLLERS, compose
from gitkube.agents.kubelet.simulate import NodeTemplate, SimulatedCluster
from gitkube.agents.manager import Manager
from gitkube.api import LocalClient
from gitkube.settings import Settings
from gitkube.store import open_store

TARGET_SECONDS = 10.0


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def deployment(replicas: int) -> dict[str, Any]:
    res = {"cpu": "10m", "memory": "16Mi"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{
                                      "name": "web", "image": "nginx:1.27",
                                      "ports": [{"containerPort": 80}],
                                      "resources": {"requests": res, "limits": res}}]}}}}


def run(url: str, state: Path, replicas: int, nodes: int, trace: bool) -> dict[str, Any]:
    store = open_store(url)
    client = LocalClient(store)
    manager = Manager(client)
    compose(manager, Settings.defaults(state), names=(*CONTROLLERS, "scheduler"))
    sim = SimulatedCluster(client, nodes=nodes,
                           template=NodeTemplate(pods=max(110, 2 * replicas // nodes + 10)),
                           heartbeat_interval=10.0, manager=manager)
    manager.add(sim)
    before = rss_mib()
    if trace:
        tracemalloc.start()
    manager.start()
    # the nodes register when the agents start; wait for all of them before timing
    if not manager.run_until(lambda: len(client.list("v1", "Node").items) >= nodes, 60):
        raise SystemExit("the simulated nodes did not register")
    time.sleep(0.5)
    start = time.monotonic()
    client.create(deployment(replicas))
    timeline: list[tuple[float, int]] = []

    def done() -> bool:
        d = client.get("apps/v1", "Deployment", "default", "web")
        st = d.get("status") or {}
        available = int(st.get("availableReplicas") or 0)
        if not timeline or timeline[-1][1] != available:
            timeline.append((time.monotonic() - start, available))
        return (available == replicas and int(st.get("updatedReplicas") or 0) == replicas
                and int(st.get("replicas") or 0) == replicas
                and int(st.get("observedGeneration") or 0) >= d["metadata"]["generation"])

    ok = manager.run_until(done, timeout=300, poll=0.02)
    elapsed = time.monotonic() - start
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    pods = client.list("v1", "Pod", "default").items
    ready = sum(1 for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                       for c in (p.get("status") or {}).get("conditions")
                                       or []))
    per_node: dict[str, int] = {}
    for p in pods:
        per_node[p["spec"].get("nodeName") or ""] = per_node.get(
            p["spec"].get("nodeName") or "", 0) + 1
    manager.stop()
    store.close()
    return {"ok": ok, "seconds": elapsed, "ready": ready, "pods": len(pods),
            "nodes_used": len([n for n in per_node if n]),
            "max_per_node": max(per_node.values()) if per_node else 0,
            "rss_before": before, "rss_peak": rss_mib(), "heap_peak": heap_peak,
            "timeline": timeline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also measure the Python heap peak (slows the run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = (f"sqlite:///{Path(tmp) / 'bench.db'}" if args.store == "sqlite"
               else "memory://")
        r = run(url, Path(tmp), args.replicas, args.nodes, args.tracemalloc)
    verdict = "PASS" if r["ok"] and r["seconds"] <= TARGET_SECONDS else "FAIL"
    print(f"Deployment of {args.replicas} replicas on {args.nodes} simulated nodes "
          f"({args.store} store)")
    print(f"  all Ready:        {r['seconds']:.2f} s  (target <= {TARGET_SECONDS:g} s: "
          f"{verdict}; converged={r['ok']})")
    print(f"  pods:             {r['pods']} ({r['ready']} Ready) on {r['nodes_used']} nodes, "
          f"at most {r['max_per_node']} per node")
    print(f"  peak RSS:         {r['rss_peak']:.0f} MiB (grew {r['rss_peak'] - r['rss_before']:.0f}"
          f" MiB from {r['rss_before']:.0f} MiB once the agents ran)")
    if r["heap_peak"] is not None:
        print(f"  Python heap peak: {r['heap_peak']:.0f} MiB (tracemalloc)")
    half = next((t for t, n in r["timeline"] if n >= args.replicas // 2), None)
    if half is not None:
        print(f"  half available:   {half:.2f} s")


if __name__ == "__main__":
    main()
