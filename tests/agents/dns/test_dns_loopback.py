"""Cluster DNS: the zone (pure), the server on loopback with a fake upstream on loopback, and
the pod-side settings (resolv.conf, service environment variables)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from gitkube.agents.dns import DnsAgent, DnsConfig
from gitkube.agents.dns.records import Srv, build_zone
from gitkube.agents.manager import Manager
from gitkube.api.local import LocalClient
from gitkube.model.network import pod_dns, service_env
from gitkube.store import open_store

Obj = dict[str, Any]
D = "cluster.local"


def svc(name: str, ns: str = "default", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def eps(name: str, addresses: list[Obj], ports: list[Obj], ns: str = "default") -> Obj:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns},
            "subsets": [{"addresses": addresses, "ports": ports}] if addresses else []}


# --- the zone ---------------------------------------------------------------------------------


def test_zone_records() -> None:
    services = [
        svc("web", clusterIP="10.96.0.5", ports=[{"name": "http", "port": 80}]),
        svc("db", clusterIP="None", ports=[{"name": "pg", "port": 5432}]),
    ]
    endpoints = {"default/db": eps("db", [{"ip": "10.244.0.7", "hostname": "db-0"},
                                          {"ip": "10.244.0.8", "hostname": "db-1"}],
                                   [{"name": "pg", "port": 5432}])}
    zone = build_zone(services, endpoints, D)
    assert zone.lookup("WEB.default.svc.cluster.local.", "A").addresses == ("10.96.0.5",)
    assert zone.lookup("db.default.svc.cluster.local", "A").addresses == ("10.244.0.7",
                                                                          "10.244.0.8")
    assert zone.lookup("db-1.db.default.svc.cluster.local", "A").addresses == ("10.244.0.8",)
    srv = zone.lookup("_http._tcp.web.default.svc.cluster.local", "SRV")
    assert srv.srv == (Srv(0, 100, 80, "web.default.svc.cluster.local"),)
    assert srv.extra == (("web.default.svc.cluster.local", "10.96.0.5"),)
    pg = zone.lookup("_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert {s.target for s in pg.srv} == {"db-0.db.default.svc.cluster.local",
                                          "db-1.db.default.svc.cluster.local"}
    assert zone.lookup("nope.default.svc.cluster.local", "A").exists is False
    nodata = zone.lookup("web.default.svc.cluster.local", "AAAA")
    assert nodata.exists and not nodata.addresses
    assert zone.lookup("default.svc.cluster.local", "A").exists  # an empty non-terminal
    assert zone.lookup("10-244-0-9.default.pod.cluster.local", "A").addresses == (
        "10.244.0.9",)


# --- the server -------------------------------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_both() -> int:
    """A loopback port free for UDP *and* TCP: the DNS server listens on both, and a port
    that is free for UDP may be taken for TCP (a busy host has thousands of TCP ports in
    use), which made the TCP query fail now and then."""
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no loopback port free for both UDP and TCP")


# Bounded waits for "answers follow changes": generous so a loaded machine cannot fail them;
# the sub-second figure itself is measured, not asserted (docs/BENCHMARKS.md).
FOLLOW_TIMEOUT = 15.0


def eventually(predicate: Callable[[], bool], timeout: float = FOLLOW_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class FakeUpstream:
    """A resolver on 127.0.0.1 that answers every A query with 192.0.2.99 (a documentation
    address, only ever used as answer data)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.queries: list[str] = []
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            q = DNSRecord.parse(data)
            self.queries.append(str(q.q.qname))
            reply = q.reply()
            reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("192.0.2.99"), ttl=60))
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self.running = False
        self.sock.close()


def query(port: int, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    raw = DNSRecord.question(name, qtype).send("127.0.0.1", port, tcp=tcp, timeout=3)
    return DNSRecord.parse(raw)


class Env:
    def __init__(self, upstreams: tuple[tuple[str, int], ...]):
        self.client = LocalClient(open_store("memory://"))
        self.manager = Manager(self.client)
        self.port = free_port_both()
        self.agent = DnsAgent(self.manager, DnsConfig(listen=(("127.0.0.1", self.port),),
                                                      upstreams=upstreams, timeout=0.5))
        self.manager.add(self.agent)
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    u = FakeUpstream()
    yield u
    u.close()


@pytest.fixture
def env(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    e = Env((("127.0.0.1", upstream.port),))
    yield e
    e.stop()


def addresses(reply: DNSRecord) -> list[str]:
    return sorted(str(r.rdata) for r in reply.rr if r.rtype == QTYPE.A)


def test_answers_follow_changes(env: Env) -> None:
    created = env.client.create(svc("web", ports=[{"name": "http", "port": 80}]))
    ip = created["spec"]["clusterIP"]
    assert eventually(lambda: addresses(query(env.port, "web.default.svc.cluster.local")) == [ip])
    assert addresses(query(env.port, "web.default.svc.cluster.local", tcp=True)) == [ip]
    srv = query(env.port, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert srv.rr[0].rdata.port == 80
    missing = query(env.port, "nope.default.svc.cluster.local")
    assert missing.header.rcode == RCODE.NXDOMAIN and missing.auth
    # a headless service and its pods by name
    env.client.create(svc("db", clusterIP="None", ports=[{"port": 5432}]))
    env.client.create(eps("db", [{"ip": "10.244.0.7", "hostname": "db-0"}],
                          [{"port": 5432}]))
    assert eventually(
        lambda: addresses(query(env.port, "db-0.db.default.svc.cluster.local")) == ["10.244.0.7"]
    )
    env.client.delete("v1", "Service", "default", "web")
    assert eventually(
        lambda: query(env.port, "web.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN
    )


def test_external_name_services_are_cnames(env: Env) -> None:
    zone = build_zone([svc("mail", type="ExternalName", externalName="Smtp.Example.COM.")], {}, D)
    for kind in ("A", "SRV", "AAAA"):
        assert zone.lookup("mail.default.svc.cluster.local", kind).cname == "smtp.example.com"
    # on the wire: a CNAME answer, which the client's resolver follows (not this server)
    env.client.create(svc("mail", type="ExternalName", externalName="smtp.example.com"))

    def cname() -> list[str]:
        reply = query(env.port, "mail.default.svc.cluster.local")
        return [str(r.rdata) for r in reply.rr if r.rtype == QTYPE.CNAME]

    assert eventually(lambda: cname() == ["smtp.example.com."])
    created = env.client.get("v1", "Service", "default", "mail")
    assert not created["spec"].get("clusterIP")  # nothing allocated for it
    assert service_env([created]) == {}


def test_other_names_are_forwarded(env: Env, upstream: FakeUpstream) -> None:
    reply = query(env.port, "example.org")
    assert addresses(reply) == ["192.0.2.99"]
    assert upstream.queries == ["example.org."]


def test_no_upstream_answering_is_servfail_and_none_at_all_refused() -> None:
    dead = free_udp_port()  # nothing listens there: ICMP port unreachable at once
    e = Env((("127.0.0.1", dead),))
    try:
        assert query(e.port, "example.org").header.rcode == RCODE.SERVFAIL
    finally:
        e.stop()
    e = Env(())
    try:
        assert query(e.port, "example.org").header.rcode == RCODE.REFUSED
        assert query(e.port, "x.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN
    finally:
        e.stop()


# --- what pods get ------------------------------------------------------------------------------


def test_pod_resolv_conf_like_kubernetes() -> None:
    pod = {"metadata": {"namespace": "shop"}, "spec": {}}
    dns = pod_dns(pod, "10.244.0.1")
    assert dns is not None
    assert dns.servers == ("10.244.0.1",)
    assert dns.searches == ("shop.svc.cluster.local", "svc.cluster.local", "cluster.local")
    assert dns.options == ("ndots:5",)
    assert pod_dns({"metadata": {}, "spec": {"dnsPolicy": "Default"}}, "10.244.0.1") is None
    custom = pod_dns({"metadata": {}, "spec": {"dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["127.0.0.53"], "options": [{"name": "ndots", "value": "2"}]}}}, "x")
    assert custom is not None and custom.servers == ("127.0.0.53",)
    assert custom.options == ("ndots:2",)


def test_service_environment_variables() -> None:
    env = service_env([
        svc("web", clusterIP="10.96.0.5", ports=[{"name": "http", "port": 80,
                                                  "protocol": "TCP"}]),
        svc("my-db", clusterIP="None", ports=[{"port": 5432}]),
    ])
    assert env == {
        "WEB_SERVICE_HOST": "10.96.0.5", "WEB_SERVICE_PORT": "80",
        "WEB_SERVICE_PORT_HTTP": "80", "WEB_PORT": "tcp://10.96.0.5:80",
        "WEB_PORT_80_TCP": "tcp://10.96.0.5:80", "WEB_PORT_80_TCP_PROTO": "tcp",
        "WEB_PORT_80_TCP_PORT": "80", "WEB_PORT_80_TCP_ADDR": "10.96.0.5",
    }
