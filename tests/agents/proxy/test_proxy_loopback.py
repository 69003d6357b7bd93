"""The proxy agent end to end on loopback only (no Podman): the "service range" is a piece of
127.0.0.0/8 (local by definition) and the backends are threads on 127.0.1.x.

Every test runs in userspace mode (one data plane process, a thread, two workers) and, where
nftables works (root), in kernel mode too: ClusterIP TCP ports DNATed by a table of the
test's own (``gitkube_test_<run>``), NodePorts, UDP and ClientIP affinity still in userspace.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agents.proxy.proxy_env import (
    Cluster,
    ask,
    backends,
    nft_unusable,
    stop_all,
    wait_for,
)

Obj = dict[str, Any]


@pytest.fixture(params=[("process", 1, "userspace"), ("thread", 1, "userspace"),
                        ("process", 2, "userspace"),
                        pytest.param(("process", 1, "kernel"), marks=pytest.mark.nft)],
                ids=["process", "thread", "2-workers", "kernel"])
def cluster(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if request.param[2] == "kernel" and (reason := nft_unusable()):
        pytest.skip(reason)
    c = Cluster(monkeypatch, *request.param)
    yield c
    c.manager.stop()


def test_round_robin_affinity_failover_and_changes(cluster: Cluster) -> None:
    servers = backends(3)
    port = servers[0].server_address[1]
    try:
        svc = cluster.service("web", [{"port": 80, "targetPort": port}],
                              clusterIP="127.77.0.20", type="NodePort")
        node_port = svc["spec"]["ports"][0]["nodePort"]
        ips = ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
        cluster.endpoints("web", ips, [{"port": port}])
        wait_for(lambda: cluster.serving("127.77.0.20", 80) and
                 cluster.serving("127.0.0.1", node_port))
        answers = Counter(ask("127.77.0.20", 80) for _ in range(9))
        if cluster.workers == 1:
            assert answers == {"pod-1": 3, "pod-2": 3, "pod-3": 3}
        else:  # each worker takes its turn on its own connections: every pod answers
            answers += Counter(ask("127.77.0.20", 80) for _ in range(9))
            assert set(answers) == {"pod-1", "pod-2", "pod-3"}
        assert ask("127.0.0.1", node_port) in {"pod-1", "pod-2", "pod-3"}
        # every proxied socket is closed once both ends are done (no descriptor leak)
        wait_for(lambda: sum(d["connections"] for d in cluster.proxy.describe()) == 0)

        # an established connection survives an endpoint change that keeps its backend
        held = socket.create_connection(("127.77.0.20", 80), timeout=3)
        held.sendall(b"hold\n")
        held_name = held.makefile().readline().strip()
        rest = [ip for ip in ips if not ip.endswith(held_name[-1])]
        if cluster.kernel:  # the kernel cannot skip a dead endpoint: only live ones here
            cluster.endpoints("web", [f"127.0.1.{held_name[-1]}", rest[0]], [{"port": port}])
            wait_for(lambda: any(len(d["backends"]) == 2 for d in cluster.proxy.describe()
                                 if d["address"] == "127.77.0.20"))
        else:  # an endpoint that does not answer is skipped: 127.0.1.9 has no server
            cluster.endpoints("web", [f"127.0.1.{held_name[-1]}", rest[0], "127.0.1.9"],
                              [{"port": port}])
            wait_for(lambda: any("127.0.1.9" in b for d in cluster.proxy.describe()
                                 for b in d["backends"]))
        seen = Counter(ask("127.77.0.20", 80) for _ in range(6))
        assert set(seen) == {held_name, f"pod-{rest[0][-1]}"}
        if cluster.kernel:  # round robin over the two that remain, exactly
            assert sorted(seen.values()) == [3, 3]
        held.sendall(b"still there\n")  # the backend was reading: no reset
        held.close()

        # no Ready endpoints: refused at once, no hang
        cluster.endpoints("web", [], [])
        wait_for(lambda: not cluster.serving("127.77.0.20", 80) and
                 not cluster.serving("127.0.0.1", node_port))
        # refused, not left to time out: a hang would raise a timeout error instead
        with pytest.raises(ConnectionRefusedError):
            ask("127.77.0.20", 80)
        with pytest.raises(ConnectionRefusedError):
            ask("127.0.0.1", node_port)
    finally:
        stop_all(servers)


def test_client_ip_affinity_sticks(cluster: Cluster) -> None:
    servers = backends(3)
    port = servers[0].server_address[1]
    try:
        cluster.service("sticky", [{"port": 81, "targetPort": port}], clusterIP="127.77.0.21",
                        sessionAffinity="ClientIP")
        cluster.endpoints("sticky", ["127.0.1.1", "127.0.1.2", "127.0.1.3"], [{"port": port}])
        wait_for(lambda: cluster.serving("127.77.0.21", 81))
        assert len({ask("127.77.0.21", 81) for _ in range(8)}) == 1
    finally:
        stop_all(servers)


def test_udp_echo_and_stop_closes_everything(cluster: Cluster) -> None:
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.1.1", 0))
    echo.settimeout(0.2)
    running = threading.Event()
    running.set()

    def serve() -> None:
        while running.is_set():
            try:
                data, addr = echo.recvfrom(2048)
            except OSError:
                continue
            echo.sendto(b"echo:" + data, addr)

    threading.Thread(target=serve, daemon=True).start()
    port = echo.getsockname()[1]
    try:
        cluster.service("echo", [{"port": 53, "targetPort": port, "protocol": "UDP"}],
                        clusterIP="127.77.0.22")
        cluster.endpoints("echo", ["127.0.1.1"], [{"port": port, "protocol": "UDP"}])
        wait_for(lambda: cluster.serving("127.77.0.22", 53, "UDP"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(2)
            for i in range(3):
                c.sendto(f"ping{i}".encode(), ("127.77.0.22", 53))
                data, addr = c.recvfrom(2048)
                assert data == f"echo:ping{i}".encode() and addr == ("127.77.0.22", 53)
        cluster.proxy.stop()
        assert cluster.proxy.describe() == []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.77.0.22", 53))  # the proxy's socket is gone: the port is free
    finally:
        running.clear()
        echo.close()


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_load_balancer_services_answer_on_their_port_and_report_ingress(
        cluster: Cluster) -> None:
    servers = backends(2)
    port = servers[0].server_address[1]
    lb_port = _free_tcp_port()
    blocker = socket.socket()  # a program holding the port the second Service asks for
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = int(blocker.getsockname()[1])
    try:
        cluster.service("lb", [{"port": lb_port, "targetPort": port}], type="LoadBalancer")
        cluster.endpoints("lb", ["127.0.1.1", "127.0.1.2"], [{"port": port}])
        cluster.service("lb2", [{"port": taken, "targetPort": port}], type="LoadBalancer")
        cluster.endpoints("lb2", ["127.0.1.1"], [{"port": port}])

        def ingress(name: str) -> list[Obj]:
            svc = cluster.client.get("v1", "Service", "default", name)
            return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")
                        or [])

        wait_for(lambda: cluster.serving("127.0.0.1", lb_port) and
                 ingress("lb") == [{"ip": "127.0.0.1"}])
        assert {ask("127.0.0.1", lb_port) for _ in range(4)} == {"pod-1", "pod-2"}
        # a NodePort is allocated as well, as upstream does for LoadBalancer Services
        node_port = cluster.client.get("v1", "Service", "default", "lb")["spec"]["ports"][0][
            "nodePort"]
        wait_for(lambda: cluster.serving("127.0.0.1", node_port))
        # the port held by another program: no listener, and the ingress stays empty
        wait_for(lambda: any(k.startswith(f"127.0.0.1:{taken}/")
                             for k in cluster.proxy.errors()))
        assert ingress("lb2") == []
        # once the port is free the Service gets it and reports it
        blocker.close()
        wait_for(lambda: ingress("lb2") == [{"ip": "127.0.0.1"}])
        cluster.client.delete("v1", "Service", "default", "lb")
        wait_for(lambda: not cluster.serving("127.0.0.1", lb_port))
    finally:
        blocker.close()
        stop_all(servers)
