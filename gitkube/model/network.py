"""Cluster networking facts every layer shares (pure; docs/NETWORKING.md).

- ``NetworkConfig``: where pods and services live — the pod network (name and subnet), the
  service range (default ``10.96.0.0/16``) and its reserved DNS address (``.10``), the cluster
  domain (default ``cluster.local``). gitkube/settings.py reads it from the environment;
- what a pod's resolv.conf says (``pod_dns``) and the Kubernetes service environment
  variables a container gets (``service_env``), as the kubelet computes them upstream.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
DEFAULT_SERVICE_CIDR = "10.96.0.0/16"
DEFAULT_DOMAIN = "cluster.local"
DEFAULT_NETWORK = "gitkube0"
DEFAULT_SUBNET = "10.244.0.0/16"
DNS_OFFSET = 10  # the cluster DNS address: <range>.10, as kubeadm's 10.96.0.10


def dns_address(cidr: ipaddress.IPv4Network) -> str:
    """The cluster DNS address inside the service range (reserved, never allocated)."""
    return str(cidr.network_address + DNS_OFFSET)


@dataclass(frozen=True)
class NetworkConfig:
    """Where pods and services live on a node. ``name`` empty: pods stay on Podman's
    default network (no cluster DNS in their resolv.conf, no service variables)."""

    name: str = DEFAULT_NETWORK
    subnet: str = DEFAULT_SUBNET
    service_cidr: str = DEFAULT_SERVICE_CIDR
    domain: str = DEFAULT_DOMAIN
    dns_port: int = 53
    labels: dict[str, str] = field(default_factory=dict)  # on the Podman network

    @property
    def enabled(self) -> bool:
        """Whether pods join gitkube's pod network."""
        return bool(self.name)

    @property
    def gateway(self) -> str:
        """The bridge's address: the host as pods see it (the cluster DNS listens here)."""
        return str(ipaddress.IPv4Network(self.subnet, strict=False).network_address + 1)

    @property
    def service_net(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.service_cidr, strict=False)

    @property
    def dns_service_ip(self) -> str:
        """The reserved DNS address of the service range (also served by the DNS add-on)."""
        return dns_address(self.service_net)

    @property
    def nameserver(self) -> str:
        """What pods' resolv.conf names: the gateway (reachable from every pod)."""
        return self.gateway


@dataclass(frozen=True)
class PodDNS:
    """A pod's resolv.conf: nameservers, search domains, options (``ndots:5``)."""

    servers: tuple[str, ...]
    searches: tuple[str, ...]
    options: tuple[str, ...]


def pod_dns(pod: Obj, nameserver: str, domain: str = DEFAULT_DOMAIN) -> PodDNS | None:
    """The resolv.conf upstream's kubelet writes for ``pod`` (``dnsPolicy`` ClusterFirst,
    the default: the cluster DNS, ``<ns>.svc.<domain> svc.<domain> <domain>``, ndots:5;
    ``None``: only ``dnsConfig``; ``Default``: None, i.e. the host's). ``dnsConfig`` is
    merged in (servers and searches appended, options override by name)."""
    spec = pod.get("spec") or {}
    ns = str((pod.get("metadata") or {}).get("namespace") or "default")
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirstWithHostNet":
        policy = "ClusterFirst"
    if spec.get("hostNetwork") and policy == "ClusterFirst" and \
            spec.get("dnsPolicy") != "ClusterFirstWithHostNet":
        policy = "Default"
    config = spec.get("dnsConfig") or {}
    if policy == "Default" and not config:
        return None
    servers: list[str] = []
    searches: list[str] = []
    options: dict[str, str | None] = {}
    if policy == "ClusterFirst":
        servers = [nameserver]
        searches = [f"{ns}.svc.{domain}", f"svc.{domain}", domain]
        options = {"ndots": "5"}
    servers += [str(s) for s in config.get("nameservers") or []]
    searches += [str(s) for s in config.get("searches") or [] if str(s) not in searches]
    for opt in config.get("options") or []:
        if isinstance(opt, dict) and opt.get("name"):
            value = opt.get("value")
            options[str(opt["name"])] = None if value is None else str(value)
    return PodDNS(tuple(servers[:3]), tuple(searches[:32]),
                  tuple(k if v is None else f"{k}:{v}" for k, v in options.items()))


_NON_ALNUM = re.compile(r"[^A-Z0-9]")


def _env_name(name: str) -> str:
    return _NON_ALNUM.sub("_", name.upper())


def service_env(services: Iterable[Obj]) -> dict[str, str]:
    """Docker-links-style variables for the Services of a pod's namespace (upstream's
    ``enableServiceLinks``): ``WEB_SERVICE_HOST``, ``WEB_SERVICE_PORT[_<NAME>]``,
    ``WEB_PORT``, ``WEB_PORT_80_TCP[_PROTO|_PORT|_ADDR]``. Headless services (no ClusterIP)
    and ExternalName ones give none."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: str((s.get("metadata") or {}).get("name"))):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("port")]
        if not ports:
            continue
        prefix = _env_name(str(svc["metadata"]["name"]))
        env[f"{prefix}_SERVICE_HOST"] = str(ip)
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{prefix}_SERVICE_PORT_{_env_name(str(p['name']))}"] = str(p["port"])
        first = ports[0]
        env[f"{prefix}_PORT"] = f"{str(first.get('protocol', 'TCP')).lower()}://{ip}:" \
                                f"{first['port']}"
        for p in ports:
            proto = str(p.get("protocol", "TCP"))
            base = f"{prefix}_PORT_{p['port']}_{proto.upper()}"
            env[base] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(p["port"])
            env[f"{base}_ADDR"] = str(ip)
    return env


def container_service_env(pod: Obj, services: Iterable[Obj]) -> dict[str, str]:
    """``service_env`` of the pod's namespace's Services, unless the pod sets
    ``enableServiceLinks: false``."""
    if (pod.get("spec") or {}).get("enableServiceLinks") is False:
        return {}
    return service_env(services)


__all__ = ["DEFAULT_DOMAIN", "DEFAULT_NETWORK", "DEFAULT_SERVICE_CIDR", "DEFAULT_SUBNET",
           "DNS_OFFSET", "NetworkConfig", "PodDNS", "container_service_env", "dns_address",
           "pod_dns", "service_env"]
