"""Podman's own floor for a burst of pods: how long Podman alone needs to run N
one-container pods started at once, with no gitkube agent, on three kinds of network.

    .venv/bin/python benchmarks/bench_podman_floor.py [--pods 20] [--rounds 3]

Each pod is what gitkube's kubelet asks Podman for, one-container pod: a Podman pod
without infra, then one container (the example image's ``httpd``), started, then inspected.
All N go at once, from a thread each, through gitkube's ``PodmanRuntime`` against an API
service this script starts (and stops) on a socket of its own. The figure is the time from
the burst's start to the last container running: what the burst p99 of
``bench_kubelet.py`` cannot go below on this machine. The networks, interleaved per round:

- **bridge**: a Podman bridge network like gitkube's pod network (``gitkube0``): Podman's
  network setup runs its firewall rules through iptables for every pod;
- **internal**: the same bridge marked internal: no firewall rules, but no default route
  either (pods could not reach Services or the outside without more work);
- **none**: no network namespace set up at all (a lower bound, not usable for pods).

Networks are created on free subnets in 10.252.N.0/24 and removed at the end, with every
container; no traffic is sent.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gitkube.runtime.podman import PodmanRuntime, host_settings  # noqa: E402
from tests.support.containers import (  # noqa: E402
    ensure_example_image,
    start_pods_at_once,
    sweep,
)

RUN = f"bench-floor-{uuid.uuid4().hex[:6]}"
LABELS = {"io.gitkube.test-run": RUN}


class FloorRuntime(PodmanRuntime):
    """gitkube's runtime with two bench-only twists on the bodies it sends: networks
    created internal, containers without a network namespace."""

    internal = False
    no_network = False

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if "data" in kwargs and path in ("/networks/create", "/containers/create"):
            body = json.loads(kwargs["data"])
            if path == "/networks/create" and self.internal:
                body["internal"] = True
            if path == "/containers/create" and self.no_network:
                body["netns"] = {"nsmode": "none"}
                body.pop("Networks", None)
            kwargs["data"] = json.dumps(body)
        return super()._call(method, path, **kwargs)


def free_subnet(taken: set[str]) -> str:
    for _ in range(50):
        subnet = f"10.252.{random.randint(10, 249)}.0/24"
        if subnet not in taken:
            taken.add(subnet)
            return subnet
    raise SystemExit("bench_podman_floor: no free subnet")


def burst(runtime: FloorRuntime, network: str, pods: int, tag: str) -> float:
    """Seconds from the start until the last of ``pods`` containers runs."""
    try:
        return start_pods_at_once(runtime, pods, LABELS, f"floor-{tag}", network=network)[-1]
    finally:
        sweep(runtime, LABELS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("podman") is None:
        raise SystemExit("podman is not installed (scripts/setup installs it)")
    ensure_example_image()
    base = Path(tempfile.mkdtemp(prefix="gk-floor-"))
    host_settings(base)
    runtime = FloorRuntime(base_dir=base)
    taken: set[str] = set()
    networks = {"bridge": f"gkf-{RUN[-6:]}-b", "internal": f"gkf-{RUN[-6:]}-i"}
    times: dict[str, list[float]] = {"bridge": [], "internal": [], "none": []}
    try:
        runtime.version()
        for kind, name in networks.items():
            runtime.internal = kind == "internal"
            subnet = free_subnet(taken)
            runtime.ensure_network(name, subnet, subnet.replace(".0/24", ".1"), LABELS)
        runtime.internal = False
        burst(runtime, networks["bridge"], 2, "warm")  # image and storage warm
        for r in range(args.rounds):
            for kind in times:
                runtime.no_network = kind == "none"
                times[kind].append(burst(runtime, networks.get(kind, ""), args.pods,
                                         f"{kind}{r}"))
            runtime.no_network = False
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                  flush=True)
    finally:
        sweep(runtime, LABELS)
        for name in networks.values():
            runtime.remove_network(name)
        runtime.stop_service()
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n{args.pods} one-container pods at once, Podman alone, last one running "
          f"(median of {args.rounds} rounds):")
    labels = {"bridge": "bridge network, as gitkube's pod network",
              "internal": "internal bridge network (no firewall rules)",
              "none": "no network"}
    for kind, values in times.items():
        print(f"  {labels[kind]:44}: {statistics.median(values):.2f} s "
              f"(rounds: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
