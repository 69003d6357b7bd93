"""The GitOps loop: from `git push` (and from a file saved under `gitkube watch`) to the plan
applied in the store, and to the changed pod Running.

    .venv/bin/python benchmarks/bench_gitops.py [--rounds 20] [--runtime podman|simulated]

Set-up: a deploy repository made by `gitkube repo init` on a fresh SQLite store, a clone, and
a one-replica Deployment. The agents (kubelet on the chosen runtime, scheduler, controllers)
run in this process on the same store, as a daemon would. Each round changes the pod
template (an environment variable), which rolls the Deployment: one new pod.

- push: ``env -i PATH=/usr/bin:/bin git push`` from the clone; the hooks run the installed
  gitkube (pre-receive validates, post-receive plans and applies). Timed from the push's
  start; "applied" and "Running" are the first store events (a watch in this process)
  showing the new template on the Deployment and a Running pod of the new template.
- watch: ``gitkube watch`` (agents none: this process runs them) on the clone's work tree;
  each round saves the manifest (write + rename, as editors do) and is timed from the save.
  The 200 ms debounce is included.

Prints p50/p95 for each; targets p95 <= 1 s to applied, <= 2 s to Running.
"""

from __future__ import annotations

import argparse
import dataclasses
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
GITKUBE = str(Path(sys.executable).parent / "gitkube")

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {{app: bench}}
  template:
    metadata:
      labels: {{app: bench}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: {image}
          imagePullPolicy: IfNotPresent
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
          env:
            - name: ROUND
              value: "{round}"
"""


def _round_of(obj: dict[str, Any], template: bool) -> str | None:
    spec = obj.get("spec") or {}
    if template:
        spec = (spec.get("template") or {}).get("spec") or {}
    for c in spec.get("containers") or []:
        for e in c.get("env") or []:
            if e.get("name") == "ROUND":
                return str(e.get("value"))
    return None


class Clock:
    """First time (monotonic) the store showed round N applied, and a pod of it Running."""

    def __init__(self, client: Any):
        self.client = client
        self.applied: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._watch, args=(kind,), daemon=True)
                         for kind in ("Deployment", "Pod")]
        for t in self._threads:
            t.start()

    def _watch(self, kind: str) -> None:
        api = "apps/v1" if kind == "Deployment" else "v1"
        with self.client.watch(api, kind, "default") as watcher:
            while not self._stop.is_set():
                event = watcher.next_event(0.1)
                if event is None:
                    continue
                now = time.monotonic()
                obj = event.object
                if kind == "Deployment":
                    r = _round_of(obj, template=True)
                    if r is not None:
                        self.applied.setdefault(r, now)
                elif (obj.get("status") or {}).get("phase") == "Running" \
                        and event.type != "DELETED":
                    r = _round_of(obj, template=False)
                    if r is not None:
                        self.running.setdefault(r, now)

    def wait(self, r: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while r not in self.running:
            if time.monotonic() > deadline:
                raise SystemExit(f"round {r}: no Running pod within {timeout}s")
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, applied: list[float], running: list[float], extra: str = "") -> None:
    print(f"\n{name} ({len(applied)} rounds){extra}")
    print(f"  to applied in the store  p50 {statistics.median(applied):.3f} s   "
          f"p95 {pct(applied, 0.95):.3f} s   (target p95 <= 1 s)")
    print(f"  to the new pod Running   p50 {statistics.median(running):.3f} s   "
          f"p95 {pct(running, 0.95):.3f} s   (target p95 <= 2 s)")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True,
                   capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--runtime", choices=("podman", "simulated"), default="podman")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gk-bench-gitops-"))
    os.environ["GITKUBE_STATE_DIR"] = str(work / "state")
    os.environ.pop("GITKUBE_STORE", None)
    os.environ["GITKUBE_NO_DAEMON"] = "1"
    url = f"sqlite:///{work / 'state' / 'state.db'}"

    from gitkube.agents.compose import AgentSet, open_runtime
    from gitkube.agents.kubelet.agent import cluster_id
    from gitkube.api.local import LocalClient
    from gitkube.runtime.base import LABEL_CLUSTER
    from gitkube.settings import Settings
    from gitkube.store import open_store

    image = "localhost/gitkube-example:1"
    settings = dataclasses.replace(Settings.from_env(os.environ), runtime=args.runtime)
    if args.runtime == "podman":
        from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image

        ensure_example_image()
        image = EXAMPLE_IMAGE
    runtime = open_runtime(settings)
    client = LocalClient(open_store(url))
    cluster = cluster_id(client)
    agents = AgentSet(client, settings, runtime).start()
    clock = Clock(LocalClient(open_store(url)))
    bare, clone = work / "deploy.git", work / "clone"
    watcher: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([GITKUBE, "repo", "init", str(bare), "--store", url], check=True,
                       capture_output=True)
        subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True,
                       capture_output=True)
        manifest = clone / "bench.yaml"

        def save(r: str) -> float:
            tmp = clone / "bench.yaml.new"
            tmp.write_text(MANIFEST.format(image=image, round=r))
            tmp.rename(manifest)
            return time.monotonic()

        def push(r: str) -> tuple[float, float]:
            save(r)
            git(clone, "commit", "-qam", f"round {r}")
            start = time.monotonic()
            proc = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=clone,
                                  env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                                  text=True)
            if proc.returncode != 0 or "applied" not in proc.stderr:
                raise SystemExit(f"push failed:\n{proc.stderr}")
            return start, time.monotonic()

        save("warm")
        git(clone, "add", "-A")
        push("warm")  # creates the Deployment; the first pod starts
        clock.wait("warm")
        p_wall, p_applied, p_running, p_after = [], [], [], []
        for i in range(args.rounds):
            r = f"push-{i}"
            start, returned = push(r)
            clock.wait(r)
            p_wall.append(returned - start)
            p_applied.append(clock.applied[r] - start)
            p_after.append(clock.applied[r] - returned)
            p_running.append(clock.running[r] - start)
            time.sleep(0.3)  # let the old pod go before the next round
        report("git push (timed from the push's start; the hooks apply before it returns)",
               p_applied, p_running)
        print(f"  git push wall time       p50 {statistics.median(p_wall):.3f} s   "
              f"p95 {pct(p_wall, 0.95):.3f} s")
        print(f"  applied minus push return: max {max(p_after):+.3f} s (<= 0: applied "
              "before git push returned)")
        after = [r - w for r, w in zip(p_running, p_wall, strict=True)]
        print(f"  to Running after push returned  p50 {statistics.median(after):.3f} s   "
              f"p95 {pct(after, 0.95):.3f} s")

        watcher = subprocess.Popen([GITKUBE, "watch", ".", "--store", url, "--agents", "none",
                                    "--interval", "0", "--debounce", "200"], cwd=clone,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.0)  # started and watching
        w_applied, w_running = [], []
        for i in range(args.rounds):
            r = f"watch-{i}"
            saved = save(r)
            clock.wait(r)
            w_applied.append(clock.applied[r] - saved)
            w_running.append(clock.running[r] - saved)
            time.sleep(0.3)
        report("file saved under gitkube watch (debounce 200 ms included)", w_applied,
               w_running)
        print(f"\nruntime: {args.runtime}; agents in the benchmark process; store SQLite")
    finally:
        if watcher is not None:
            watcher.terminate()
            watcher.wait(10)
        clock.stop()
        agents.stop()
        if args.runtime == "podman":
            from tests.support.containers import sweep

            sweep(runtime, {LABEL_CLUSTER: cluster})
        runtime.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
