"""gitkube's network model on one node (docs/NETWORKING.md).

- **Pods** run on a Podman bridge network of gitkube's own (``gitkube0``, subnet
  ``10.244.0.0/16`` by default, Podman's own DNS off), created when missing; a pod's IP on it
  is its ``status.podIP`` and pods reach each other by it. The bridge's gateway
  (``10.244.0.1``) is the host as pods see it: the cluster DNS listens there.
- **Services** get addresses from the service range (``10.96.0.0/16`` by default, allocated
  by the api: gitkube/api/allocator.py). The whole range is routed as **local** on this host
  (``ip route add local <range> dev lo``, marked ``proto 155``): every service address is
  the host's own address. A packet to one — from the host or from a pod, whose default route
  is the host — is delivered to this host's sockets and never forwarded: it cannot leave the
  machine whether or not the proxy runs (no listener: TCP reset / ICMP port unreachable). The
  proxy binds its listeners straight to ``ClusterIP:port`` (userspace mode), or its nftables
  table DNATs the connection to a pod's address first (kernel mode): only a pod on this
  host's bridge is then the destination.

The settings (``NetworkConfig``, gitkube/model/network.py) come from gitkube/settings.py:
``GITKUBE_POD_NETWORK`` (name; empty: pods stay on Podman's default network),
``GITKUBE_POD_SUBNET``, ``GITKUBE_SERVICE_CIDR``, ``GITKUBE_CLUSTER_DOMAIN``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gitkube.errors import GitkubeError
from gitkube.model.network import DEFAULT_NETWORK, DEFAULT_SUBNET, NetworkConfig, pod_dns
from gitkube.runtime.base import NetworkDriver

Obj = dict[str, Any]

log = logging.getLogger("gitkube.network")

ROUTE_PROTO = "155"  # marks the routes gitkube made (``ip route show proto 155``)
LABEL_NETWORK = "io.gitkube.network"


class NetworkError(GitkubeError):
    """The host's network could not be set up as gitkube needs."""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("ip") is None:
        raise NetworkError("the `ip` command (iproute2) is not installed",
                           hint="apt-get install iproute2")
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


def service_range_routed(cidr: str) -> bool:
    """Whether ``cidr`` is routed as local by gitkube's route."""
    out = _ip("-4", "route", "show", "table", "local", "proto", ROUTE_PROTO, "root", cidr)
    net = ipaddress.IPv4Network(cidr, strict=False)
    return any(line.split()[1:2] == [str(net)] or line.split()[1:2] == [cidr]
               for line in out.stdout.splitlines() if line.startswith("local"))


def ensure_service_range(cidr: str) -> None:
    """Route the service range as local (idempotent). NetworkError when that fails: without
    it, packets to service addresses could follow the default route off the machine."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    if service_range_routed(str(net)):
        return
    proc = _ip("-4", "route", "replace", "local", str(net), "dev", "lo", "table", "local",
               "proto", ROUTE_PROTO)
    if proc.returncode != 0:
        raise NetworkError(f"could not route the service range {net} locally: "
                           f"{proc.stderr.strip()}", hint="gitkube needs root (CAP_NET_ADMIN)")
    log.info("network: service range %s routed locally (dev lo)", net)


def remove_service_range(cidr: str) -> None:
    """Remove gitkube's local route for ``cidr`` (only that route; missing: no error)."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    _ip("-4", "route", "del", "local", str(net), "dev", "lo", "table", "local", "proto",
        ROUTE_PROTO)


def is_local(address: str) -> bool:
    """Whether the kernel routes ``address`` to this host (``ip route get`` says local)."""
    out = _ip("-4", "route", "get", address)
    return out.returncode == 0 and out.stdout.startswith("local ")


__all__ = [
    "DEFAULT_NETWORK",
    "DEFAULT_SUBNET",
    "LABEL_NETWORK",
    "ROUTE_PROTO",
    "NetworkConfig",
    "NetworkError",
    "bridge_name",
    "ensure_service_range",
    "is_local",
    "pin_bridge_mac",
    "prepare_node",
    "remove_service_range",
    "sandbox_fields",
    "service_range_routed",
]


def bridge_name(network: str) -> str:
    """The Linux bridge of the pod network ``network`` (at most 15 characters)."""
    return network if len(network) <= 15 else \
        "gk" + hashlib.sha1(network.encode()).hexdigest()[:12]


def pin_bridge_mac(network: str) -> None:
    """Fix the bridge's MAC address to its current one (when the bridge exists). A Linux
    bridge otherwise takes the lowest MAC of its ports, so it changes when a pod's veth with
    a lower one joins, and pods that cached the gateway's old MAC lose it (their packets to
    the gateway are dropped until their ARP entry expires). Setting it once stops that."""
    base = Path("/sys/class/net") / bridge_name(network)
    try:
        if (base / "addr_assign_type").read_text().strip() == "3":  # NET_ADDR_SET
            return
        mac = (base / "address").read_text().strip()
    except OSError:
        return  # no bridge yet: the first pod creates it
    proc = _ip("link", "set", "dev", bridge_name(network), "address", mac)
    if proc.returncode != 0:
        log.warning("network: could not pin the MAC of %s: %s", bridge_name(network),
                    proc.stderr.strip())


def prepare_node(driver: NetworkDriver, config: NetworkConfig) -> None:
    """Make the node ready for pods on ``config``: the service range routed locally and the
    pod network ensured by the runtime's ``driver`` (NetworkError when a network of that
    name exists with another subnet)."""
    ensure_service_range(config.service_cidr)
    if not config.name:
        return
    subnets = driver.ensure_network(config.name, config.subnet, config.gateway,
                                    {LABEL_NETWORK: "pods", **config.labels},
                                    interface=bridge_name(config.name))
    want = str(ipaddress.IPv4Network(config.subnet, strict=False))
    if subnets and want not in subnets:
        raise NetworkError(
            f"the network {config.name} exists with subnet {', '.join(subnets)}, not "
            f"{want}", hint=f"set GITKUBE_POD_SUBNET={subnets[0]}, or remove the network")


def sandbox_fields(pod: Obj, config: NetworkConfig) -> dict[str, Any]:
    """The SandboxSpec fields for ``pod`` on ``config``: the network and the resolv.conf
    (``model.network.pod_dns``)."""
    pin_bridge_mac(config.name)  # before this pod's veth joins the bridge
    fields: dict[str, Any] = {"network": config.name}
    dns = pod_dns(pod, config.nameserver, config.domain)
    if dns is not None:
        fields.update(dns_servers=dns.servers, dns_searches=dns.searches,
                      dns_options=dns.options)
    return fields
