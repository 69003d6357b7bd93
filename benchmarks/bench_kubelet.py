"""Kubelet on Podman: a 20-replica Deployment from `gitkube apply` to all pods Ready, beside
`podman kube play` of the same manifest (20 equivalent pods), in one run.

    .venv/bin/python benchmarks/bench_kubelet.py [--replicas 20] [--rounds 3]

gitkube: the CLI as a user runs it, ``gitkube apply --yes --wait DIR`` on a fresh SQLite
store (its state directory initialised beforehand, as after a first run), so the time
includes the CLI's start, plan, apply, the agents' start, scheduling, the ReplicaSet and
the kubelet creating the pods in parallel. Per-pod startup: from the pod's ADDED event to
the event showing it Ready, observed by a watch on the same store from this process.

podman: ``podman kube play`` of the same Deployment (Podman creates its replicas one by one),
wall time until the command returns with every container started.

Podman alone, at once (the floor of the burst figure): the same number of one-container pods
started by this process through Podman's API with the very calls gitkube's kubelet makes
for such a pod (pod without infra, container on the pod network with its resolv.conf,
start, inspect), all at once from a thread each, on the service gitkube's rounds used; no
gitkube agent runs. Per pod: from the burst's start to its container running. What the
kubelet's burst p99 cannot go below on this machine, measured in the same run.

Both use the image built by scripts/build-image and this host's detected containers.conf.
Everything created is removed at the end (gitkube's containers by the store's label;
podman's with ``podman kube down``). Needs Podman; prints each figure and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gitkube.agents.kubelet.agent import cluster_id  # noqa: E402
from gitkube.api.local import LocalClient  # noqa: E402
from gitkube.runtime.base import LABEL_CLUSTER  # noqa: E402
from gitkube.runtime.podman import (  # noqa: E402
    PodmanRuntime,
    host_settings,
    stop_recorded_service,
)
from gitkube.store import open_store  # noqa: E402
from tests.support.containers import (  # noqa: E402
    EXAMPLE_IMAGE,
    ensure_example_image,
    start_pods_at_once,
    sweep,
)

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: bench
  template:
    metadata:
      labels:
        app: bench
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: {image}
          imagePullPolicy: IfNotPresent
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class PodClock:
    """Watches pods in a store: when each was first seen, and when first seen Ready."""

    def __init__(self, url: str):
        self.client = LocalClient(open_store(url))
        self.added: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.client.watch("v1", "Pod", "default") as watcher:
            while not self._stop.is_set():
                event = watcher.next_event(0.1)
                if event is None:
                    continue
                now = time.monotonic()
                uid = str(event.object["metadata"].get("uid"))
                self.added.setdefault(uid, now)
                if _ready(event.object):
                    self.ready.setdefault(uid, now)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join(timeout=5)
        return sorted(self.ready[u] - self.added[u] for u in self.ready if u in self.added)


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def run_gitkube(manifests: Path, replicas: int, state: Path, n: int) -> tuple[float, list[float]]:
    """One apply on a fresh store (round ``n``) in the state directory ``state``: the first
    round starts gitkube's Podman API service, later ones find it still running (it lingers
    for two idle minutes after a command, as for a user applying again)."""
    url = f"sqlite:///{state / f'state-{n}.db'}"
    env = dict(os.environ, GITKUBE_STATE_DIR=str(state), GITKUBE_STORE=url)
    env.pop("GITKUBE_PODMAN_URL", None)
    # the store exists before the watch starts (as after any earlier command)
    store_client = LocalClient(open_store(url))
    cluster = cluster_id(store_client)
    clock = PodClock(url)
    start = time.monotonic()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "gitkube"), "apply", "--yes", "--wait",
                           "--timeout", "120", str(manifests)], env=env, capture_output=True,
                          text=True)
    elapsed = time.monotonic() - start
    startups = clock.stop()
    try:
        if proc.returncode != 0:
            raise SystemExit(f"gitkube apply failed:\n{proc.stdout}\n{proc.stderr}")
        if len(startups) < replicas:
            raise SystemExit(f"only {len(startups)} of {replicas} pods seen Ready")
    finally:
        runtime = PodmanRuntime(base_dir=state / "podman")
        sweep(runtime, {LABEL_CLUSTER: cluster})
        runtime.close()
    return elapsed, startups


def run_steady(count: int, conf_dir: Path) -> list[float]:
    """Pod startup at a steady rate (the SLO's setting): ``count`` single pods created one
    after another, each from creation to Ready, with the agents running in this process."""
    from gitkube.agents.compose import AgentSet
    from gitkube.settings import Settings

    state = Path(tempfile.mkdtemp(prefix="gk-bench-"))
    shutil.copytree(conf_dir, state / "podman")
    url = f"sqlite:///{state / 'state.db'}"
    client = LocalClient(open_store(url))
    cluster = cluster_id(client)
    runtime = PodmanRuntime(base_dir=state / "podman")
    agents = AgentSet(client, Settings.from_env(os.environ | {"GITKUBE_STATE_DIR": str(state)}),
                      runtime).start()
    clock = PodClock(url)
    try:
        for i in range(count):
            client.create({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": f"steady-{i}", "namespace": "default"},
                           "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                               "name": "web", "image": EXAMPLE_IMAGE,
                               "imagePullPolicy": "IfNotPresent",
                               "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]}]}})
            deadline = time.monotonic() + 30
            while len(clock.ready) <= i and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        startups = clock.stop()
        agents.stop()
        sweep(runtime, {LABEL_CLUSTER: cluster})
        runtime.close()
        shutil.rmtree(state, ignore_errors=True)
    return startups


def run_runtime_burst(state: Path, count: int, n: int) -> list[float]:
    """Podman alone: ``count`` one-container pods through the kubelet's runtime calls, all at
    once; each pod's seconds from the burst's start to its container running."""
    from gitkube.runtime.network import sandbox_fields
    from gitkube.settings import Settings

    labels = {LABEL_CLUSTER: f"bench-kubelet-alone-{os.getpid()}-{n}"}
    net = Settings.from_env(os.environ).network
    runtime = PodmanRuntime(base_dir=state / "podman")
    runtime.ensure_network(net.name, net.subnet, net.gateway, net.labels)
    # every pod of the burst is in "default": one resolv.conf for all
    fields = sandbox_fields({"metadata": {"namespace": "default"}, "spec": {}}, net)
    try:
        return start_pods_at_once(runtime, count, labels, f"alone-{n}", **fields)
    finally:
        sweep(runtime, labels)
        runtime.close()


def run_podman(manifest: Path, conf: Path) -> float:
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    start = time.monotonic()
    proc = subprocess.run(["podman", "kube", "play", str(manifest)], env=env,
                          capture_output=True, text=True)
    elapsed = time.monotonic() - start
    subprocess.run(["podman", "kube", "down", str(manifest)], env=env, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"podman kube play failed:\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steady", type=int, default=10,
                        help="pods started one after another for the steady-rate figure")
    args = parser.parse_args()
    if shutil.which("podman") is None:
        raise SystemExit("podman is not installed (scripts/setup installs it)")
    ensure_example_image()
    work = Path(tempfile.mkdtemp(prefix="gk-bench-kubelet-"))
    conf_dir = work / "podman"
    conf = host_settings(conf_dir)
    manifests = work / "manifests"
    manifests.mkdir()
    manifest = manifests / "bench.yaml"
    manifest.write_text(MANIFEST.format(replicas=args.replicas, image=EXAMPLE_IMAGE))
    state = work / "state"
    shutil.copytree(conf_dir, state / "podman")  # the detected settings, as after a first run
    gk_times: list[float] = []
    pm_times: list[float] = []
    startups: list[float] = []
    alone: list[float] = []
    try:
        for i in range(args.rounds):
            pm_times.append(run_podman(manifest, conf))
            elapsed, per_pod = run_gitkube(manifests, args.replicas, state, i)
            gk_times.append(elapsed)
            startups += per_pod
            floor = run_runtime_burst(state, args.replicas, i)
            alone += floor
            print(f"round {i + 1}: gitkube {elapsed:.2f}s (per-pod p99 {p99(per_pod):.2f}s), "
                  f"podman kube play {pm_times[-1]:.2f}s, Podman alone at once: last pod "
                  f"running after {max(floor):.2f}s", flush=True)
        steady = run_steady(args.steady, conf_dir)
    finally:
        stop_recorded_service(state / "podman")  # the service the CLI left lingering
        shutil.rmtree(work, ignore_errors=True)
    gk, pm = statistics.median(gk_times), statistics.median(pm_times)
    print(f"\n{args.replicas}-replica Deployment, median of {args.rounds} rounds")
    print(f"  gitkube apply --wait, apply to all Ready : {gk:.2f} s "
          f"(first round, starting Podman's API service: {gk_times[0]:.2f} s)")
    print(f"  podman kube play                         : {pm:.2f} s")
    print(f"  ratio gitkube/podman                     : {gk / pm:.2f}  (target <= 0.8)")
    print(f"  per-pod startup in the burst, p50 / p99  : {statistics.median(startups):.2f} s / "
          f"{p99(startups):.2f} s  ({len(startups)} pods, {args.replicas} at once)")
    print(f"  Podman alone, {args.replicas} at once, p50 / p99 : "
          f"{statistics.median(alone):.2f} s / {p99(alone):.2f} s  (gitkube's burst p99 / "
          f"this: {p99(startups) / p99(alone):.2f})")
    print(f"  per-pod startup one at a time, p50 / p99 : {statistics.median(steady):.2f} s / "
          f"{p99(steady):.2f} s  (target p99 <= 1 s; {len(steady)} pods)")


if __name__ == "__main__":
    main()
