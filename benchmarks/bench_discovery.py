"""`kubectl get pods -A` over 10,000 pods: aggregated discovery beside per-group discovery.

    .venv/bin/python benchmarks/bench_discovery.py [--pods 10000] [--runs 5] [--json]

A `gitkube serve --runtime simulated --no-kubelet` (API server, scheduler, controllers over
SQLite in a temporary state directory; TLS and a bearer token on 127.0.0.1) runs as its own
process. ``--pods`` Pods are loaded through the transaction endpoint (500 per request; their
schedulerName is another scheduler's, so no agent acts on them). Then the real kubectl
(.venv/bin/kubectl, with the kubeconfig `gitkube kubeconfig` prints) runs
``get pods -A -v=6`` ``--runs`` times:

- cold: with an empty discovery cache each time (a first run, or after the cache expires);
- warm: with the cache the previous run left (kubectl keeps discovery for 6 hours);

first against the daemon as it is (aggregated discovery: ``/api`` and ``/apis`` answer
``APIGroupDiscoveryList``), then against the same state directory served again with
``GITKUBE_AGGREGATED_DISCOVERY=0`` (one more request per group-version). Reported per mode:
the round trips kubectl made (its ``-v=6`` "Response" lines; discovery and the list apart)
the time kubectl saw its discovery requests take (the sum of their ``-v=6`` milliseconds,
median) and the wall time of the kubectl process, median and best. The machine may be shared: the
figures are what this run saw.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.serving import gitkube, start_serve, state_env, stop
from gitkube.api.client import CreateOp
from gitkube.api.http_client import HTTPClient
from gitkube.daemon.tokens import load_tokens

NS = "bench"
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i:05d}", "namespace": NS, "labels": {"app": "bench"}},
            "spec": {"schedulerName": "bench-external-scheduler",
                     "containers": [{"name": "main", "image": "localhost/bench:1"}]}}


def load(client: HTTPClient, pods: int) -> float:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    started = time.perf_counter()
    for first in range(0, pods, 500):
        client.transaction([CreateOp(pod(i)) for i in range(first, min(pods, first + 500))])
    return time.perf_counter() - started


def kubectl_run(kubeconfig: Path, cache: Path,
                home: Path) -> tuple[float, list[tuple[str, int]], int]:
    """One `kubectl get pods -A -v=6`: wall seconds, the paths it requested with the
    milliseconds kubectl saw each take, rows printed."""
    started = time.perf_counter()
    done = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir",
                           str(cache), "get", "pods", "-A", "-v=6"],
                          capture_output=True, text=True, timeout=300,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"kubectl failed: {done.stderr[-2000:]}")
    paths = []
    for line in done.stderr.splitlines():
        if '"Response"' not in line or 'url="' not in line:
            continue
        url = line.split('url="', 1)[1].split('"', 1)[0].split("?", 1)[0]
        ms = int(line.split("milliseconds=", 1)[1].split()[0]) if "milliseconds=" in line else 0
        paths.append((url.split("//", 1)[-1].split("/", 1)[-1], ms))
    return wall, paths, len(done.stdout.splitlines()) - 1


def measure(kubeconfig: Path, work: Path, runs: int, pods: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("cold", "warm"):
        cache = work / f"cache-{mode}"
        shutil.rmtree(cache, ignore_errors=True)
        if mode == "warm":
            kubectl_run(kubeconfig, cache, work)  # fill the cache
        walls, trips, discovery_ms = [], [], []
        for _ in range(runs):
            if mode == "cold":
                shutil.rmtree(cache, ignore_errors=True)
            wall, paths, rows = kubectl_run(kubeconfig, cache, work)
            if rows != pods:
                raise SystemExit(f"kubectl printed {rows} pods, not {pods}")
            walls.append(wall)
            trips.append(paths)
            discovery_ms.append(sum(ms for p, ms in paths if not p.endswith("/pods")))
        discovery = [p for p, _ in trips[-1] if not p.endswith("/pods")]
        out[mode] = {"round_trips": len(trips[-1]), "discovery_requests": discovery,
                     "discovery_ms_median": statistics.median(discovery_ms),
                     "wall_median_s": statistics.median(walls), "wall_best_s": min(walls)}
    return out


def serve(state: Path, aggregated: bool) -> tuple[subprocess.Popen[bytes], Path, HTTPClient]:
    """The daemon over ``state``, with or without aggregated discovery; its kubeconfig and
    an admin client."""
    if aggregated:
        os.environ.pop("GITKUBE_AGGREGATED_DISCOVERY", None)
    else:
        os.environ["GITKUBE_AGGREGATED_DISCOVERY"] = "0"
    proc, info = start_serve(state, "--runtime", "simulated", "--no-kubelet",
                             "--node-name", "bench-node")
    assert info.url and info.tokens_file
    token = next(e.token for e in load_tokens(Path(info.tokens_file)) if e.role == "admin")
    config = state / "kubeconfig"
    config.write_text(subprocess.run(gitkube("kubeconfig"), capture_output=True, text=True,
                                     check=True, env=state_env(state)).stdout)
    return proc, config, HTTPClient(info.url, token=token, ca=info.ca_file)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    results: dict[str, Any] = {"pods": args.pods, "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="gk-bench-discovery-") as tmp:
        state = Path(tmp)
        for aggregated in (True, False):
            proc, config, client = serve(state, aggregated)
            try:
                if aggregated:
                    results["load_s"] = load(client, args.pods)
                key = "aggregated" if aggregated else "per_group"
                results[key] = measure(config, state, args.runs, args.pods)
            finally:
                stop(proc)
    os.environ.pop("GITKUBE_AGGREGATED_DISCOVERY", None)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"kubectl get pods -A over {args.pods:,} pods (loaded in {results['load_s']:.1f} s), "
          f"{args.runs} runs each")
    print(f"{'discovery':<11} {'cache':<5} {'round trips':>11} {'disc. ms':>8} {'median s':>9} "
          f"{'best s':>7}  discovery requests")
    for key in ("aggregated", "per_group"):
        for mode in ("cold", "warm"):
            r = results[key][mode]
            print(f"{key:<11} {mode:<5} {r['round_trips']:>11} {r['discovery_ms_median']:>8.0f} "
                  f"{r['wall_median_s']:>9.2f} "
                  f"{r['wall_best_s']:>7.2f}  {' '.join(r['discovery_requests']) or '-'}")


if __name__ == "__main__":
    main()
