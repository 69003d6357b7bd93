"""Services end to end on real Podman: a network and a service range of the test's own, the
kubelet, the workload and Endpoints controllers, the proxy and the cluster DNS.

Traffic goes only to loopback and to addresses inside the test's network and its (locally
routed) service range, both created here and removed at the end with every container.

The module runs twice: with the proxy in kernel mode (ClusterIP TCP ports DNATed by an
nftables table of the test's own; skipped when nftables is unusable) and in userspace mode."""

from __future__ import annotations

import functools
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from gitkube.agents.controllers import deployment, endpoints, replicaset, statefulset
from gitkube.agents.dns import DnsAgent, DnsConfig
from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
from gitkube.agents.manager import Manager
from gitkube.agents.proxy import ProxyAgent, ProxyConfig
from gitkube.agents.proxy.nft import NftError, nft
from gitkube.api.allocator import Ranges
from gitkube.api.local import LocalClient
from gitkube.errors import GitkubeError
from gitkube.runtime.base import ContainerRuntime
from gitkube.runtime.network import (
    NetworkConfig,
    bridge_name,
    is_local,
    remove_service_range,
    service_range_routed,
)
from gitkube.store import open_store
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep

pytestmark = pytest.mark.podman
RUN = f"svc-{uuid.uuid4().hex[:8]}"
LABELS = {"io.gitkube.test-run": RUN}
NS = "ns"
Obj = dict[str, Any]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Stack:
    """Everything one node runs, on a fresh network N: pods 10.250.N.0/24, services
    10.251.N.0/24."""

    def __init__(self, runtime: ContainerRuntime, root: Path, backend: str = "userspace"):
        self.runtime = runtime
        self.backend = backend
        self.table = f"gitkube_test_{RUN.replace('-', '_')}_{backend}"
        self.net = self._network(runtime)
        try:
            self._start(root)
        except BaseException:
            cast(Any, runtime).remove_network(self.net.name)
            remove_service_range(self.net.service_cidr)
            raise

    def _start(self, root: Path) -> None:
        self.client = LocalClient(open_store("memory://"))
        self.client.allocator.ranges = Ranges(self.net.service_net)
        self.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        self.manager = Manager(self.client)
        self.node = f"node-{RUN}"
        self.kubelet = Kubelet(self.manager, self.runtime, KubeletConfig(
            node_name=self.node, root_dir=root, runtime_labels=dict(LABELS),
            relist_period=0.2, resync_period=2.0, backoff_base=0.2, network=self.net))
        self.manager.add(self.kubelet)
        for module in (deployment, replicaset, statefulset, endpoints):
            self.manager.add(module.controller(self.manager))
        self.proxy = ProxyAgent(self.manager, ProxyConfig(
            service_cidr=self.net.service_cidr, backend=cast(Any, self.backend),
            nft_table=self.table))
        self.manager.add(self.proxy)
        self.dns_port = 53
        self.dns = DnsAgent(self.manager, DnsConfig(
            listen=((self.net.gateway, 53),), upstreams=()), network=self.net)
        self.manager.add(self.dns)
        try:
            self.manager.start()
            assert self.proxy.mode == self.backend
        except BaseException:
            self.manager.stop()
            sweep(self.runtime, LABELS)
            raise

    @staticmethod
    def _network(runtime: ContainerRuntime) -> NetworkConfig:
        ensure = cast(Any, runtime).ensure_network
        for _ in range(10):
            n = random.randint(100, 249)
            net = NetworkConfig(name=f"gkt-{RUN}", subnet=f"10.250.{n}.0/24",
                                service_cidr=f"10.251.{n}.0/24", labels=dict(LABELS))
            try:
                ensure(net.name, net.subnet, net.gateway, net.labels,
                       interface=bridge_name(net.name))
            except GitkubeError:
                continue  # the subnet is used by another network: try another
            return net
        raise AssertionError("no free test subnet")

    def close(self) -> None:
        self.manager.stop()
        sweep(self.runtime, LABELS)
        cast(Any, self.runtime).remove_network(self.net.name)
        remove_service_range(self.net.service_cidr)

    # -- objects

    def pod_spec(self, command: str, **extra: Any) -> Obj:
        return {"nodeName": self.node, "terminationGracePeriodSeconds": 0, "containers": [{
            "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "Never",
            "command": ["sh", "-c", command], **extra}]}

    def create(self, obj: Obj) -> Obj:
        obj.setdefault("metadata", {}).setdefault("namespace", NS)
        obj.setdefault("apiVersion", "v1")
        return self.client.create(obj)

    def ready_pods(self, selector: str) -> list[Obj]:
        pods = self.client.list("v1", "Pod", NS, label_selector=selector).items
        return [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in (p.get("status") or {}).get("conditions") or [])]

    def ready_endpoints(self, name: str) -> int:
        try:
            ep = self.client.get("v1", "Endpoints", NS, name)
        except GitkubeError:
            return 0
        return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])

    def exec(self, pod: str, command: str, timeout: float = 30) -> str:
        obj = self.client.get("v1", "Pod", NS, pod)
        ctr = next(c for c in self.runtime.list_containers(
            {"io.gitkube.pod-uid": obj["metadata"]["uid"]}) if c.state == "running")
        result = self.runtime.exec(ctr.id, ["sh", "-c", command], timeout)
        assert result.exit_code == 0, f"{result.output}\n{self.diagnose(ctr.id)}"
        return result.output

    def diagnose(self, cid: str) -> str:
        """What the network looked like (pods' IPs, the pod's links, the gateway's reach)."""
        lines = [f"{p['metadata']['name']}: {(p.get('status') or {}).get('podIP')}"
                 for p in self.client.list("v1", "Pod", NS).items]
        probe = self.runtime.exec(cid, ["sh", "-c", f"ip -o addr; ip -o link; ping -c1 -W1 "
                                        f"{self.net.gateway}"], 10)
        peer = re.search(r"eth0@if(\d+)", probe.output)
        host = subprocess.run(
            f"ip -o link | grep -E '^{peer.group(1) if peer else 0}:'; bridge link | "
            f"grep -c master; ip neigh | grep {self.net.subnet.rsplit('.', 2)[0]}; "
            f"ip -o addr | grep {self.net.gateway}; "
            f"for i in /sys/class/net/*/brport/state; do echo $i $(cat $i); done | "
            f"grep -v ' 3$'; ping -c1 -W1 {lines[0].split(': ')[1] if lines else ''} | "
            f"tail -2; nft list ruleset | grep -c . ",
            shell=True, capture_output=True, text=True, timeout=10).stdout
        return "\n".join(lines) + "\n" + probe.output + "\nhost:\n" + host


@pytest.fixture(scope="module", params=[pytest.param("kernel", marks=pytest.mark.nft),
                                        "userspace"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    reason = podman_missing() or (request.param == "kernel" and nft_unusable())
    if reason:
        pytest.skip(reason)
    from gitkube.runtime.podman import PodmanRuntime

    ensure_example_image()
    base = Path(tempfile.mkdtemp(prefix="gk-svc-"))
    runtime = PodmanRuntime(base_dir=base)
    s = Stack(runtime, base / "kubelet", request.param)
    try:
        yield s
    finally:
        s.close()
        left = sweep(runtime, LABELS)
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)
        assert left == 0


def nft_unusable() -> str:
    """Why nftables cannot be used here ('' when it can): a throwaway table is made and
    deleted (nothing else is touched)."""
    name = f"gitkube_probe_{uuid.uuid4().hex[:8]}"
    try:
        nft(f"table ip {name} {{}}\ndelete table ip {name}\n")
    except NftError as e:
        return f"nftables unusable here: {e}"
    return ""


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                          timeout=10).stdout


def names(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()]


def test_service_reached_by_name_from_a_pod_round_robin_then_affinity(stack: Stack) -> None:
    serve = "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"
    stack.create({"kind": "Service", "metadata": {"name": "web"}, "spec": {
        "type": "NodePort", "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    stack.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": stack.pod_spec(serve)}}})
    stack.create({"kind": "Pod", "metadata": {"name": "client"},
                  "spec": stack.pod_spec("exec sleep 600")})
    wait_for(lambda: stack.ready_endpoints("web") == 3, 60, "3 ready web endpoints")
    wait_for(lambda: stack.ready_pods("!app"), 60, "the client pod")
    svc = stack.client.get("v1", "Service", NS, "web")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    assert is_local(ip)
    wait_for(lambda: any(d["address"] == ip and len(d["backends"]) == 3
                         for d in stack.proxy.describe()), 5, "the proxy")
    assert {d["mode"] for d in stack.proxy.describe() if d["address"] == ip} == \
        {stack.backend}
    pods = {p["metadata"]["name"] for p in stack.ready_pods("app=web")}

    # the pod's resolv.conf and environment are Kubernetes'
    resolv = stack.exec("client", "cat /etc/resolv.conf")
    assert f"nameserver {stack.net.gateway}" in resolv
    assert "search ns.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "ndots:5" in resolv
    env = stack.exec("client", "env")
    assert f"WEB_SERVICE_HOST={ip}" in env and "WEB_SERVICE_PORT=80" in env
    assert f"WEB_PORT_80_TCP=tcp://{ip}:80" in env

    out = stack.exec("client", "for i in 1 2 3 4 5 6; do wget -q -O - http://web/; done; "
                               "for i in 1 2 3; do "
                               "wget -q -O - http://web.ns.svc.cluster.local/; done")
    assert Counter(names(out)) == {p: 3 for p in pods}

    # NodePort from the host, on loopback
    with urllib.request.urlopen(f"http://127.0.0.1:{node_port}/", timeout=5) as r:
        assert r.read().decode().strip() in pods

    # ClientIP affinity: one pod for every request
    svc["spec"]["sessionAffinity"] = "ClientIP"
    stack.client.update(svc)
    wait_for(lambda: any(d["affinity"] for d in stack.proxy.describe()), 5,
             "affinity in the proxy")
    out = stack.exec("client", "for i in 1 2 3 4 5 6; do wget -q -O - http://web/; done")
    assert len(set(names(out))) == 1
    svc = stack.client.get("v1", "Service", NS, "web")
    svc["spec"]["sessionAffinity"] = "None"
    svc["spec"].pop("sessionAffinityConfig", None)
    stack.client.update(svc)


def test_udp_through_the_proxy(stack: Stack) -> None:
    """Two UDP services without selectors (Endpoints written by hand, as upstream allows):
    an echo served by this test on the network's gateway, asked from the host; and the
    cluster DNS behind its reserved service address, asked by busybox nslookup in a pod."""
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
    echo.bind((stack.net.gateway, 0))
    echo.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = echo.recvfrom(2048)
            except OSError:
                continue
            echo.sendto(data, peer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        port = echo.getsockname()[1]
        stack.create({"kind": "Service", "metadata": {"name": "echo"}, "spec": {
            "ports": [{"port": 7, "targetPort": port, "protocol": "UDP"}]}})
        stack.create({"kind": "Endpoints", "metadata": {"name": "echo"}, "subsets": [{
            "addresses": [{"ip": stack.net.gateway}],
            "ports": [{"port": port, "protocol": "UDP"}]}]})
        ip = stack.client.get("v1", "Service", NS, "echo")["spec"]["clusterIP"]
        wait_for(lambda: any(d["address"] == ip and d["protocol"] == "UDP"
                             for d in stack.proxy.describe()), 5, "the UDP listener")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2.0)
            for i in range(3):
                s.sendto(b"hello %d" % i, (ip, 7))
                got, addr = s.recvfrom(100)
                assert got == b"hello %d" % i and addr == (ip, 7)
    finally:
        stop.set()
        echo.close()

    dns_ip = stack.net.dns_service_ip
    stack.create({"kind": "Service", "metadata": {"name": "dns"}, "spec": {
        "clusterIP": dns_ip, "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}})
    stack.create({"kind": "Endpoints", "metadata": {"name": "dns"}, "subsets": [{
        "addresses": [{"ip": stack.net.gateway}],
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}]})
    wait_for(lambda: any(d["address"] == dns_ip for d in stack.proxy.describe()), 5,
             "the DNS service listener")
    web_ip = stack.client.get("v1", "Service", NS, "web")["spec"]["clusterIP"]
    out = stack.exec("client", f"nslookup web.ns.svc.cluster.local {dns_ip}")
    assert web_ip in out


def test_statefulset_pods_resolve_by_name(stack: Stack) -> None:
    stack.create({"kind": "Service", "metadata": {"name": "db"}, "spec": {
        "clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "tcp",
                                                                   "port": 5000}]}})
    stack.create({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                  "spec": {"serviceName": "db", "replicas": 2,
                           "selector": {"matchLabels": {"app": "db"}},
                           "template": {"metadata": {"labels": {"app": "db"}},
                                        "spec": stack.pod_spec("exec sleep 600")}}})
    wait_for(lambda: stack.ready_endpoints("db") == 2, 60, "2 db endpoints")
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in stack.ready_pods("app=db")}

    def resolved() -> bool:
        out = stack.exec("client", "nslookup db-1.db.ns.svc.cluster.local; "
                                   "nslookup db-0.db.ns.svc.cluster.local")
        return ips["db-1"] in out and ips["db-0"] in out
    wait_for(resolved, 5, "db-0 and db-1 by name")


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.read().decode().strip())
    except OSError as e:
        return f"FAILED {e}"


def test_deleting_a_pod_and_scaling_move_traffic_without_errors(stack: Stack) -> None:
    """New connections (from the host to the ClusterIP) keep succeeding while a pod is
    deleted and its replacement starts, and after a scale down."""
    ip = stack.client.get("v1", "Service", NS, "web")["spec"]["clusterIP"]
    pods = sorted(p["metadata"]["name"] for p in stack.ready_pods("app=web"))
    assert len(pods) == 3
    stack.client.delete("v1", "Pod", NS, pods[0])
    answers = []
    for _ in range(20):  # about 2 s of new connections while the pod goes and comes back
        answers.append(fetch(f"http://{ip}/"))
        time.sleep(0.1)
    assert not [a for a in answers if a.startswith("FAILED")], answers
    assert pods[0] not in answers[-5:]
    # and from inside the busybox pod, by name
    out = stack.exec("client", "for i in $(seq 1 10); do timeout 5 wget -q -O - http://web/ "
                               "|| echo FAILED; done")
    assert "FAILED" not in out and pods[0] not in out, out
    scale = stack.client.get_scale("apps/v1", "Deployment", NS, "web")
    stack.client.update_scale("apps/v1", "Deployment", NS, "web", 1,
                              resource_version=scale["metadata"]["resourceVersion"])
    answers = []
    deadline = time.monotonic() + 30
    while stack.ready_endpoints("web") != 1:
        assert time.monotonic() < deadline, "never scaled down"
        answers.append(fetch(f"http://{ip}/"))
        time.sleep(0.1)
    time.sleep(1.0)  # the proxy follows within a second
    answers += [fetch(f"http://{ip}/") for _ in range(4)]
    assert not [a for a in answers if a.startswith("FAILED")], answers
    assert len(set(answers[-4:])) == 1
    out = stack.exec("client", "for i in 1 2 3 4; do timeout 5 wget -q -O - http://web/ "
                               "|| echo FAILED; done")
    assert "FAILED" not in out and set(names(out)) == {answers[-1]}, out


def test_stopping_the_proxy_removes_what_it_made(stack: Stack) -> None:
    served = stack.proxy.describe()
    assert served
    if stack.backend == "kernel":
        assert f"table ip {stack.table}" in nft_tables()
    stack.proxy.stop()
    assert f"table ip {stack.table}" not in nft_tables()  # every rule it made is gone
    assert stack.proxy.describe() == []
    for entry in served:
        if entry["protocol"] != "TCP":
            continue
        with socket.socket() as s:  # nothing listens any more: refused at once
            s.settimeout(2)
            assert s.connect_ex((entry["address"], entry["port"])) != 0
    # the service range stays local (the safety net is the network's, not the proxy's)
    assert service_range_routed(stack.net.service_cidr)


def test_a_restarted_container_keeps_its_pod_ip(stack: Stack) -> None:
    """A one-container pod (no infra container) keeps status.podIP when its container is
    replaced, as a Kubernetes pod keeps its IP for its whole life."""
    stack.create({"kind": "Pod", "metadata": {"name": "keeper"},
                  "spec": stack.pod_spec("exec sleep 600")})

    def state(restarts: int) -> Obj | None:
        pod = stack.client.get("v1", "Pod", NS, "keeper")
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if statuses and statuses[0]["restartCount"] >= restarts and statuses[0]["ready"] \
                and pod["status"].get("podIP"):
            return pod
        return None

    pod = wait_for(lambda: state(0), 60, "the pod Ready")
    ip = pod["status"]["podIP"]
    first = pod["status"]["containerStatuses"][0]["containerID"].split("://")[1]
    try:
        for restarts in (1, 2):  # killed outside gitkube, twice
            cid = pod["status"]["containerStatuses"][0]["containerID"].split("://")[1]
            subprocess.run(["podman", "kill", cid], check=True, capture_output=True, timeout=30)
            pod = wait_for(functools.partial(state, restarts), 60, f"restart {restarts}")
            now = pod["status"]["containerStatuses"][0]["containerID"].split("://")[1]
            assert now not in (cid, first)
            assert pod["status"]["podIP"] == ip
            info = stack.runtime.inspect_container(now)
            assert info is not None and info.ip == ip
    finally:
        stack.client.delete("v1", "Pod", NS, "keeper")
        wait_for(lambda: not stack.runtime.list_containers(
            {"io.gitkube.pod-uid": pod["metadata"]["uid"]}), 60, "the pod's containers gone")


def test_dns_config_is_merged_into_the_pods_resolv_conf(stack: Stack) -> None:
    spec = stack.pod_spec("exec sleep 600")
    spec["dnsConfig"] = {"searches": ["corp.example"],
                         "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    stack.create({"kind": "Pod", "metadata": {"name": "dnscfg"}, "spec": spec})
    try:
        wait_for(lambda: [p for p in stack.ready_pods("!app")
                          if p["metadata"]["name"] == "dnscfg"], 60, "the pod Ready")
        resolv = stack.exec("dnscfg", "cat /etc/resolv.conf")
        assert f"nameserver {stack.net.gateway}" in resolv
        search = next(line for line in resolv.splitlines() if line.startswith("search"))
        assert search.split()[1:] == ["ns.svc.cluster.local", "svc.cluster.local",
                                      "cluster.local", "corp.example"]
        options = next(line for line in resolv.splitlines() if line.startswith("options"))
        assert set(options.split()[1:]) == {"ndots:2", "edns0"}
    finally:
        stack.client.delete("v1", "Pod", NS, "dnscfg")


def test_host_network_pods_resolv_conf_follows_the_dns_policy(stack: Stack) -> None:
    host_resolv = Path("/etc/resolv.conf").read_text()
    for name, policy in (("hn-default", None), ("hn-cluster", "ClusterFirstWithHostNet")):
        spec = stack.pod_spec("exec sleep 600")
        spec["hostNetwork"] = True
        if policy:
            spec["dnsPolicy"] = policy
        stack.create({"kind": "Pod", "metadata": {"name": name}, "spec": spec})
    try:
        for name in ("hn-default", "hn-cluster"):
            def ready(n: str = name) -> list[Obj]:
                return [p for p in stack.ready_pods("!app") if p["metadata"]["name"] == n]

            wait_for(ready, 60, f"{name} Ready")
        cluster = stack.exec("hn-cluster", "cat /etc/resolv.conf")
        assert f"nameserver {stack.net.gateway}" in cluster and "ndots:5" in cluster
        default = stack.exec("hn-default", "cat /etc/resolv.conf")
        assert f"nameserver {stack.net.gateway}" not in default
        assert [line for line in default.splitlines() if line.startswith("nameserver")] == \
            [line for line in host_resolv.splitlines() if line.startswith("nameserver")]
    finally:
        for name in ("hn-default", "hn-cluster"):
            stack.client.delete("v1", "Pod", NS, name)
