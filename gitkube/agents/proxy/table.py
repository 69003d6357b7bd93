"""What the proxy must serve, computed from Services and Endpoints. Pure.

``service_ports(service, endpoints)`` turns one Service (and its Endpoints, or None) into
one ``ServicePort`` per ``spec.ports`` entry: the ClusterIP and port to listen on, the
NodePort, the protocol, the session affinity timeout and the Ready backends. A Service port
is matched to the Endpoints' ports by name (upstream's rule; an unnamed port matches an
unnamed one) and protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
DEFAULT_AFFINITY_TIMEOUT = 10800


@dataclass(frozen=True, order=True)
class Backend:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    namespace: str
    name: str
    port_name: str
    protocol: str  # TCP or UDP (SCTP is not proxied)
    cluster_ip: str  # "" for headless or ExternalName: no virtual address
    port: int
    node_port: int | None
    affinity_timeout: float | None  # seconds; None: round robin only
    backends: tuple[Backend, ...]
    load_balancer: bool = False  # type LoadBalancer: the port itself on the node's addresses

    @property
    def id(self) -> str:
        """``ns/name:port-name/PROTO`` (stable across endpoint changes)."""
        return f"{self.namespace}/{self.name}:{self.port_name or self.port}/{self.protocol}"


def _ready_backends(endpoints: Mapping[str, Any] | None, port_name: str,
                    protocol: str) -> tuple[Backend, ...]:
    out: set[Backend] = set()
    for subset in (endpoints or {}).get("subsets") or []:
        number = None
        for p in subset.get("ports") or []:
            if str(p.get("name") or "") == port_name and \
                    str(p.get("protocol") or "TCP") == protocol:
                number = p.get("port")
        if number is None:
            continue
        for addr in subset.get("addresses") or []:
            if addr.get("ip"):
                out.add(Backend(str(addr["ip"]), int(number)))
    return tuple(sorted(out))


def service_ports(service: Mapping[str, Any],
                  endpoints: Mapping[str, Any] | None) -> list[ServicePort]:
    """The proxy's view of one Service (see the module docstring)."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    ip = str(spec.get("clusterIP") or "")
    if ip == "None":
        ip = ""
    affinity: float | None = None
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = float(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    out = []
    for p in spec.get("ports") or []:
        protocol = str(p.get("protocol") or "TCP")
        if protocol not in ("TCP", "UDP") or not p.get("port"):
            continue
        name = str(p.get("name") or "")
        out.append(ServicePort(
            namespace=str(meta.get("namespace") or "default"), name=str(meta.get("name")),
            port_name=name, protocol=protocol, cluster_ip=ip, port=int(p["port"]),
            node_port=int(p["nodePort"]) if node_ports and p.get("nodePort") else None,
            affinity_timeout=affinity, backends=_ready_backends(endpoints, name, protocol),
            load_balancer=spec.get("type") == "LoadBalancer"))
    return out


__all__ = ["DEFAULT_AFFINITY_TIMEOUT", "Backend", "ServicePort", "service_ports"]
