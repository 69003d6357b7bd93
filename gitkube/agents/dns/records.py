"""The cluster's DNS records, computed from Services and Endpoints. Pure (no sockets).

Kubernetes' DNS specification (the subset gitkube serves), with ``D`` the cluster domain:

- ``<svc>.<ns>.svc.D``  A: the ClusterIP; for a headless Service, each Ready endpoint IP.
- ``<hostname>.<svc>.<ns>.svc.D``  A: the endpoint whose pod sets ``hostname`` and
  ``subdomain: <svc>`` (a StatefulSet's pods through their headless Service).
- ``_<port>._<proto>.<svc>.<ns>.svc.D``  SRV for each *named* port: target the Service name
  (ClusterIP) or each endpoint's ``<hostname or a-b-c-d>.<svc>.<ns>.svc.D`` (headless).
- ``<a-b-c-d>.<ns>.pod.D``  A: ``a.b.c.d`` (pod A records by IP).
- ``<svc>.<ns>.svc.D``  CNAME: ``spec.externalName`` for a Service of type ExternalName,
  whatever record type is asked (the client's resolver then looks the target up).

A name under ``D`` that has none of these is NXDOMAIN; a name that exists but has no record
of the type asked for answers NOERROR with no records (NODATA). ``Zone.lookup`` says which.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Obj = dict[str, Any]
Kind = Literal["A", "SRV"]  # CNAME answers come for any kind


@dataclass(frozen=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True)
class Answer:
    """What the zone says about a name: ``exists`` (False: NXDOMAIN) and the records of the
    type asked (A: addresses; SRV: Srv values, with the A records of their targets)."""

    exists: bool
    addresses: tuple[str, ...] = ()
    srv: tuple[Srv, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()  # (name, ip) A records for SRV targets
    cname: str = ""  # an ExternalName Service: the name it stands for


@dataclass
class Zone:
    domain: str = "cluster.local"
    a: dict[str, set[str]] = field(default_factory=dict)  # name -> IPs
    srv: dict[str, set[Srv]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # every existing name (and its parents)
    cname: dict[str, str] = field(default_factory=dict)  # name -> ExternalName target

    def _add_name(self, name: str) -> None:
        while name and name not in self.names:
            self.names.add(name)
            if name == self.domain:
                break
            name = name.partition(".")[2]

    def add_a(self, name: str, ip: str) -> None:
        self.a.setdefault(name, set()).add(ip)
        self._add_name(name)

    def add_srv(self, name: str, value: Srv) -> None:
        self.srv.setdefault(name, set()).add(value)
        self._add_name(name)

    def in_zone(self, name: str) -> bool:
        name = _norm(name)
        return name == self.domain or name.endswith("." + self.domain)

    def lookup(self, name: str, kind: str) -> Answer:
        """The answer for ``name`` (any case, trailing dot or not) and record ``kind``."""
        name = _norm(name)
        pod_ip = self._pod_ip(name)
        if pod_ip is not None:
            return Answer(True, (pod_ip,) if kind == "A" else ())
        if name not in self.names:
            return Answer(False)
        if name in self.cname:
            return Answer(True, cname=self.cname[name])
        if kind == "A":
            return Answer(True, tuple(sorted(self.a.get(name, ()))))
        if kind == "SRV":
            srv = tuple(sorted(self.srv.get(name, ()), key=lambda s: (s.target, s.port)))
            extra = tuple((s.target, ip) for s in srv for ip in sorted(self.a.get(s.target, ())))
            return Answer(True, srv=srv, extra=extra)
        return Answer(True)

    def _pod_ip(self, name: str) -> str | None:
        head, _, rest = name.partition(".")
        ns, _, tail = rest.partition(".")
        if not ns or tail != f"pod.{self.domain}":
            return None
        try:
            return str(ipaddress.IPv4Address(head.replace("-", ".")))
        except ValueError:
            return None


def _norm(name: str) -> str:
    return name.lower().rstrip(".")


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def build_zone(services: Iterable[Mapping[str, Any]],
               endpoints: Mapping[str, Mapping[str, Any]], domain: str) -> Zone:
    """The zone for ``services`` and their Endpoints (``endpoints`` keyed ``ns/name``)."""
    zone = Zone(domain=domain)
    zone._add_name(domain)
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ns, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
        base = f"{name}.{ns}.svc.{domain}".lower()
        if spec.get("type") == "ExternalName":
            target = _norm(str(spec.get("externalName") or ""))
            if target:
                zone.cname[base] = target
                zone._add_name(base)
            continue
        ip = spec.get("clusterIP")
        headless = ip in (None, "", "None")
        zone._add_name(base)
        if not headless:
            zone.add_a(base, str(ip))
        subsets = (endpoints.get(f"{ns}/{name}") or {}).get("subsets") or []
        _add_endpoints(zone, base, subsets, headless)
        for port in spec.get("ports") or []:
            if port.get("name"):
                _add_port(zone, base, port, subsets, headless)
    return zone


def _add_endpoints(zone: Zone, base: str, subsets: list[Obj], headless: bool) -> None:
    """A records of a Service's endpoints: every Ready address (headless) and the
    addresses with a hostname."""
    for subset in subsets:
        for addr in subset.get("addresses") or []:
            if not addr.get("ip"):
                continue
            host = f"{addr['hostname']}.{base}" if addr.get("hostname") else \
                f"{_dashed(str(addr['ip']))}.{base}"
            if headless:
                zone.add_a(base, str(addr["ip"]))
                zone.add_a(host.lower(), str(addr["ip"]))
            elif addr.get("hostname"):
                zone.add_a(host.lower(), str(addr["ip"]))


def _add_port(zone: Zone, base: str, port: Obj, subsets: list[Obj], headless: bool) -> None:
    """The SRV records of a named port: the Service itself, or each endpoint (headless)."""
    pname = port.get("name")
    proto = str(port.get("protocol") or "TCP").lower()
    srv_name = f"_{pname}._{proto}.{base}".lower()
    if not headless:
        zone.add_srv(srv_name, Srv(0, 100, int(port["port"]), base))
        return
    for subset in subsets:
        number = next((p.get("port") for p in subset.get("ports") or []
                       if p.get("name") == pname and
                       str(p.get("protocol") or "TCP").lower() == proto), None)
        if number is None:
            continue
        for addr in subset.get("addresses") or []:
            if addr.get("ip"):
                label = addr.get("hostname") or _dashed(str(addr["ip"]))
                zone.add_srv(srv_name, Srv(0, 100, int(number), f"{label}.{base}".lower()))


__all__ = ["Answer", "Srv", "Zone", "build_zone"]
