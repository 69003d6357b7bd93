"""Services benchmark: gitkube's proxy (kernel and userspace modes) vs a pod
directly vs HAProxy.

    .venv/bin/python benchmarks/bench_proxy.py [--duration 5] [--connections 16]

Sets up, on this machine only, a Podman network and a service range of its own (pods
10.250.N.0/24, services 10.251.N.0/24, N random), the kubelet, the Deployment/ReplicaSet/
Endpoints controllers and the proxy agent in this process, and a 3-replica Deployment of
busybox ``httpd`` pods serving a small page (their hostname) and a 1 MiB file. Then ``wrk``
(Debian's package), in its own process, loads in turn:

- **direct**: one pod's IP:8080 (no proxy at all);
- **gitkube proxy, userspace mode**: the Service's NodePort on 127.0.0.1 and its ClusterIP,
  round robin over the 3 pods, forwarded by the proxy's data plane process;
- **gitkube proxy, kernel mode**: the same agent restarted in kernel mode (an nftables table
  of the benchmark's own DNATs the ClusterIP; the NodePort stays in userspace), when
  nftables works here (otherwise the row says it was skipped);
- **HAProxy** (Debian's haproxy 2.6, ``mode tcp``, ``balance roundrobin``, the same 3 pods)
  on 127.0.0.1, started and stopped (by PID) by this script.

For each: MB/s for the 1 MiB body (4 connections), requests/s with ``--connections``
connections, and p50/p99 latency with one connection (what a proxy adds to a request).

Every target starts from the same state: before it, the script waits (at most
``--settle`` s) until fewer than 1,000 of this host's sockets to the target's address and
port are in TIME_WAIT. busybox httpd closes after every response and each request is a new
connection, so one run of small requests leaves tens of thousands of them for 60 s; the
next target on the same address pair (the ClusterIP in kernel mode, right after userspace
mode) would otherwise search a nearly exhausted ephemeral port range on every ``connect``
and measure that, not the proxy. The bulk figure is taken first for the same reason. haproxy and wrk
are installed with apt-get when missing (root only; ``--no-install`` to refuse). Everything
created is removed at the end (containers, network, route, haproxy). Traffic goes only to
loopback, to the pods' network and to the service range this script created.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from gitkube.agents.controllers import deployment, endpoints, replicaset
from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
from gitkube.agents.manager import Manager
from gitkube.agents.proxy import ProxyAgent, ProxyConfig
from gitkube.api.allocator import Ranges
from gitkube.api.local import LocalClient
from gitkube.errors import GitkubeError
from gitkube.runtime.network import NetworkConfig, remove_service_range
from gitkube.store import open_store
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, sweep

RUN = f"bench-proxy-{uuid.uuid4().hex[:6]}"
LABELS = {"io.gitkube.test-run": RUN}
NS = "bench"
SERVE = ("hostname > /www/index.html; head -c 1048576 /dev/zero > /www/big; "
         "exec httpd -f -p 8080 -h /www")


def ensure_tools(install: bool) -> None:
    missing = [pkg for pkg, tool in (("haproxy", "haproxy"), ("wrk", "wrk"))
               if shutil.which(tool) is None]
    if not missing:
        return
    if not install or os.geteuid() != 0:
        sys.exit(f"bench_proxy: missing {' '.join(missing)} (apt-get install {' '.join(missing)})")
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, capture_output=True, timeout=600)


class Setup:
    def __init__(self, mode: str = "process", workers: int = 1) -> None:
        from gitkube.runtime.podman import PodmanRuntime

        ensure_example_image()
        self.base = Path(tempfile.mkdtemp(prefix="gk-bp-"))
        self.runtime = PodmanRuntime(base_dir=self.base)
        self.net = self._network()
        self.client = LocalClient(open_store("memory://"))
        self.client.allocator.ranges = Ranges(self.net.service_net)
        self.manager = Manager(self.client)
        self.node = f"node-{RUN}"
        self.manager.add(Kubelet(self.manager, self.runtime, KubeletConfig(
            node_name=self.node, root_dir=self.base / "kubelet",
            runtime_labels=dict(LABELS), relist_period=0.5, network=self.net)))
        for module in (deployment, replicaset, endpoints):
            self.manager.add(module.controller(self.manager))
        self.proxy = ProxyAgent(self.manager, ProxyConfig(
            service_cidr=self.net.service_cidr, mode=cast(Any, mode), workers=workers,
            backend="userspace", nft_table=f"gitkube_bench_{RUN.replace('-', '_')}"))
        self.manager.add(self.proxy)
        self.manager.start()

    def _network(self) -> NetworkConfig:
        for _ in range(10):
            n = random.randint(100, 249)
            net = NetworkConfig(name=f"gkb-{RUN}", subnet=f"10.250.{n}.0/24",
                                service_cidr=f"10.251.{n}.0/24", labels=dict(LABELS))
            try:
                cast(Any, self.runtime).ensure_network(net.name, net.subnet, net.gateway,
                                                       net.labels)
            except GitkubeError:
                continue
            return net
        raise SystemExit("bench_proxy: no free subnet in 10.250.100-249.0/24")

    def deploy(self) -> tuple[list[str], str, int]:
        """The 3 pod IPs, the ClusterIP and the NodePort, once all are Ready and proxied."""
        spec = {"nodeName": self.node, "terminationGracePeriodSeconds": 0, "containers": [{
            "name": "web", "image": EXAMPLE_IMAGE, "imagePullPolicy": "Never",
            "command": ["sh", "-c", SERVE]}]}
        self.client.create({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "web", "namespace": NS},
                            "spec": {"type": "NodePort", "selector": {"app": "web"},
                                     "ports": [{"port": 80, "targetPort": 8080}]}})
        self.client.create({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "web", "namespace": NS},
                            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                     "template": {"metadata": {"labels": {"app": "web"}},
                                                  "spec": spec}}})
        deadline = time.monotonic() + 120
        while True:
            try:
                ep = self.client.get("v1", "Endpoints", NS, "web")
                ips = sorted(a["ip"] for s in ep.get("subsets") or []
                             for a in s.get("addresses") or [])
            except GitkubeError:
                ips = []
            svc = self.client.get("v1", "Service", NS, "web")["spec"]
            served = [d for d in self.proxy.describe() if len(d["backends"]) == 3]
            if len(ips) == 3 and len(served) >= 2:
                break
            if time.monotonic() > deadline:
                raise SystemExit("bench_proxy: the pods never became ready")
            time.sleep(0.2)
        time.sleep(1.0)  # httpd is up once its container runs: give it a moment
        return ips, svc["clusterIP"], int(svc["ports"][0]["nodePort"])

    def switch(self, backend: str, cluster_ip: str) -> bool:
        """Restart the proxy agent with ``backend``; whether it runs in that mode (and
        serves the ClusterIP so) afterwards."""
        self.proxy.stop()
        self.proxy.config.backend = cast(Any, backend)
        self.proxy.start()
        if self.proxy.mode != backend:
            return False
        deadline = time.monotonic() + 30
        while not any(d["address"] == cluster_ip and d["mode"] == backend and
                      len(d["backends"]) == 3 for d in self.proxy.describe()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def close(self) -> None:
        self.manager.stop()
        sweep(self.runtime, LABELS)
        cast(Any, self.runtime).remove_network(self.net.name)
        remove_service_range(self.net.service_cidr)
        self.runtime.close()
        shutil.rmtree(self.base, ignore_errors=True)


def start_haproxy(backends: list[str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    cfg = workdir / "haproxy.cfg"
    servers = "\n".join(f"    server pod{i} {ip}:8080" for i, ip in enumerate(backends))
    cfg.write_text(f"""global
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend bench
    bind 127.0.0.1:{port}
    default_backend pods
backend pods
    balance roundrobin
{servers}
""")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_SIZES = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}


def time_wait(address: str, port: int) -> int:
    """How many of this host's TCP sockets to ``address:port`` are in TIME_WAIT."""
    out = subprocess.run(["ss", "-Htn", "state", "time-wait", "dst", f"{address}:{port}"],
                         capture_output=True, text=True, timeout=30).stdout
    return len(out.splitlines())


def settle(address: str, port: int, limit: float) -> float:
    """Wait (at most ``limit`` s) until fewer than 1,000 sockets to ``address:port`` are in
    TIME_WAIT; the seconds waited."""
    start = time.monotonic()
    while time_wait(address, port) >= 1000 and time.monotonic() - start < limit:
        time.sleep(1.0)
    return time.monotonic() - start


def wrk(url: str, *, connections: int, duration: int, threads: int = 2) -> dict[str, float]:
    """Run wrk once; requests/s, p50/p99 latency (ms), MB/s, errors."""
    threads = min(threads, connections)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
                          "--latency", "--timeout", "5s", url], capture_output=True, text=True,
                         timeout=duration + 60).stdout
    result: dict[str, float] = {"errors": 0.0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        result["rps"] = float(m.group(1))
    if m := re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out):
        result["mbps"] = float(m.group(1)) * _SIZES.get(m.group(2), 1.0)
    for pct, key in (("50", "p50"), ("99", "p99")):
        if m := re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out):
            result[key] = float(m.group(1)) * _UNITS[m.group(2)]
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      out):
        # busybox httpd closes after each response: wrk counts those closes as read
        # "errors"; only connect errors and timeouts are failures
        result["errors"] = float(int(m.group(1)) + int(m.group(4)))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        result["errors"] += float(m.group(1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--mode", choices=["process", "thread"], default="process",
                        help="where the proxy's data plane runs (default: its own process)")
    parser.add_argument("--workers", type=int, default=1, help="data plane processes")
    parser.add_argument("--settle", type=float, default=65.0,
                        help="most seconds to wait for TIME_WAIT to drain before a target")
    args = parser.parse_args()
    ensure_tools(not args.no_install)
    workdir = Path(tempfile.mkdtemp(prefix="gk-bp-"))
    setup = Setup(args.mode, args.workers)
    haproxy: subprocess.Popen[bytes] | None = None
    try:
        ips, cluster_ip, node_port = setup.deploy()
        haproxy_port = node_port + 1 if node_port < 32767 else node_port - 1
        haproxy = start_haproxy(ips, haproxy_port, workdir)
        # (name, address, port, proxy mode to switch to first)
        targets = [
            ("direct (one pod)", ips[0], 8080, None),
            ("gitkube userspace, 127.0.0.1:nodePort", "127.0.0.1", node_port, None),
            ("gitkube userspace, ClusterIP", cluster_ip, 80, None),
            ("gitkube kernel (nftables), ClusterIP", cluster_ip, 80, "kernel"),
            ("HAProxy 2.6 tcp, 127.0.0.1", "127.0.0.1", haproxy_port, None),
        ]
        # each backend alone: the proxies spread over all three, "direct" uses the first
        for ip in ips:
            alone = wrk(f"http://{ip}:8080/", connections=args.connections, duration=2)
            one = wrk(f"http://{ip}:8080/", connections=1, duration=2, threads=1)
            print(f"pod {ip} alone: {alone.get('rps', 0):,.0f} req/s, p50 "
                  f"{one.get('p50', 0):.3f} ms", flush=True)
        rows = []
        for name, address, port, switch in targets:
            if switch and not setup.switch(switch, cluster_ip):
                print(f"{name}: skipped (the proxy could not run in {switch} mode here)")
                continue
            waited = settle(address, port, args.settle)
            base = f"http://{address}:{port}"
            wrk(base + "/", connections=2, duration=1)  # warm up
            big = wrk(base + "/big", connections=4, duration=args.duration)
            small = wrk(base + "/", connections=args.connections, duration=args.duration)
            one = wrk(base + "/", connections=1, duration=args.duration, threads=1)
            rows.append((name, small, one, big))
            print(f"{name}: {small.get('rps', 0):,.0f} req/s, p50 {one.get('p50', 0):.3f} ms, "
                  f"p99 {one.get('p99', 0):.3f} ms, {big.get('mbps', 0):,.0f} MB/s, "
                  f"errors {small['errors'] + one['errors'] + big['errors']:.0f} "
                  f"(waited {waited:.0f} s for TIME_WAIT to drain first)", flush=True)
        print()
        print(f"| target | req/s ({args.connections} conns) | p50 ms (1 conn) | p99 ms (1 conn) "
              f"| MB/s (1 MiB bodies, 4 conns) | errors |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, small, one, big in rows:
            print(f"| {name} | {small.get('rps', 0):,.0f} | {one.get('p50', 0):.3f} | "
                  f"{one.get('p99', 0):.3f} | {big.get('mbps', 0):,.0f} | "
                  f"{small['errors'] + one['errors'] + big['errors']:.0f} |")
        direct, ha = rows[0], rows[-1]
        print()
        print("| proxy | req/s vs HAProxy (>= 70%) | MB/s vs HAProxy | req/s vs direct | "
              "added p50 vs direct (<= 0.5 ms) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, small, one, big in rows[1:]:
            print(f"| {name} | {small.get('rps', 0) / ha[1]['rps']:.0%} | "
                  f"{big.get('mbps', 0) / ha[3]['mbps']:.0%} | "
                  f"{small.get('rps', 0) / direct[1]['rps']:.0%} | "
                  f"{one.get('p50', 0) - direct[2]['p50']:.3f} ms |")
    finally:
        if haproxy is not None:
            haproxy.terminate()
            try:
                haproxy.wait(timeout=5)
            except subprocess.TimeoutExpired:
                haproxy.kill()
        setup.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
