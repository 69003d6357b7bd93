"""Balancing, affinity and the Service/Endpoints view: pure, no sockets."""

from __future__ import annotations

from collections import Counter

from gitkube.agents.manager import ManualClock
from gitkube.agents.proxy.balancer import Balancer
from gitkube.agents.proxy.table import Backend, service_ports

A, B, C = Backend("10.0.0.1", 80), Backend("10.0.0.2", 80), Backend("10.0.0.3", 80)


def test_round_robin_visits_every_backend_in_turn() -> None:
    bal = Balancer([A, B, C])
    picks = [bal.candidates("1.1.1.1")[0] for _ in range(9)]
    assert Counter(picks) == {A: 3, B: 3, C: 3}
    assert picks[:3] == [A, B, C]
    assert bal.candidates("x") == [A, B, C]  # the rest follow, for failover


def test_affinity_sticks_until_the_timeout() -> None:
    clock = ManualClock(1000.0)
    bal = Balancer([A, B, C], affinity_timeout=10, clock=clock)
    first = bal.candidates("c1")[0]
    bal.connected("c1", first)
    for _ in range(5):
        clock.advance(5)  # each use refreshes the entry
        pick = bal.candidates("c1")[0]
        assert pick == first
        bal.connected("c1", pick)
    other = bal.candidates("c2")[0]
    bal.connected("c2", other)
    clock.advance(11)
    bal.expire()
    assert "c1" not in bal._affinity


def test_failed_backend_goes_last_and_affinity_moves() -> None:
    clock = ManualClock(0.0)
    bal = Balancer([A, B, C], affinity_timeout=100, clock=clock)
    bal.connected("c", A)
    bal.failed(A)
    order = bal.candidates("c")
    assert order[-1] == A and order[0] != A
    clock.advance(3)  # after the cooldown it is tried again in turn
    picks = [bal.candidates("c")[0] for _ in range(3)]
    assert sorted(picks) == [A, B, C]


def test_update_keeps_affinity_to_remaining_backends() -> None:
    bal = Balancer([A, B, C], affinity_timeout=100)
    bal.connected("c1", B)
    bal.connected("c2", C)
    bal.update([A, B], 100)
    assert bal.candidates("c1")[0] == B
    assert C not in bal.candidates("c2")
    bal.update([], 100)
    assert bal.candidates("c1") == []


def test_service_ports_from_service_and_endpoints() -> None:
    svc = {"metadata": {"name": "web", "namespace": "ns"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 30}},
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                              {"name": "dns", "port": 53, "protocol": "UDP"}]}}
    eps = {"subsets": [
        {"addresses": [{"ip": "10.244.0.3"}, {"ip": "10.244.0.2"}],
         "notReadyAddresses": [{"ip": "10.244.0.9"}],
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                   {"name": "dns", "port": 5353, "protocol": "UDP"}]}]}
    http, dns = service_ports(svc, eps)
    assert http.id == "ns/web:http/TCP" and http.node_port == 30080
    assert http.backends == (Backend("10.244.0.2", 8080), Backend("10.244.0.3", 8080))
    assert http.affinity_timeout == 30
    assert dns.protocol == "UDP" and dns.backends[0].port == 5353 and dns.node_port is None
    headless = {"metadata": {"name": "h", "namespace": "ns"},
                "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}
    assert service_ports(headless, None)[0].cluster_ip == ""
    assert service_ports({"metadata": {"name": "x"}, "spec": {"type": "ExternalName"}},
                         None) == []
