"""The cluster DNS add-on as an agent: a DnsServer over the Manager's Service and Endpoints
informers.

Every change of a Service or Endpoints marks the zone stale; the next query rebuilds it from
the informers' caches (records.build_zone), so answers follow changes as soon as the
informers see them (well within a second). Listens, by default, on the pod network's gateway
(what pods' resolv.conf names), on the DNS address of the service range and on 127.0.0.1,
port 53; names outside the cluster domain go to the host's resolvers from /etc/resolv.conf.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from gitkube.agents.dns.records import Zone, build_zone
from gitkube.agents.dns.server import Address, DnsServer, host_resolvers
from gitkube.agents.manager import Manager, key_of
from gitkube.model.network import NetworkConfig

Obj = dict[str, Any]
log = logging.getLogger("gitkube.dns")


@dataclass
class DnsConfig:
    listen: tuple[Address, ...] | None = None  # None: gateway, DNS service IP, 127.0.0.1 :53
    upstreams: tuple[Address, ...] | None = None  # None: /etc/resolv.conf's nameservers
    domain: str | None = None  # None: the network's (cluster.local)
    ttl: int = 5
    timeout: float = 2.0

    @staticmethod
    def default_listen(net: NetworkConfig) -> tuple[Address, ...]:
        port = net.dns_port
        return ((net.gateway, port), (net.dns_service_ip, port), ("127.0.0.1", port))


class DnsAgent:
    name = "dns"

    def __init__(self, manager: Manager, config: DnsConfig | None = None,
                 network: NetworkConfig | None = None):
        self.config = config or DnsConfig()
        self.network = network or NetworkConfig()
        self.domain = (self.config.domain or self.network.domain).lower().rstrip(".")
        self.services = manager.informer("v1", "Service")
        self.endpoints = manager.informer("v1", "Endpoints")
        self._zone: tuple[int, Zone] | None = None  # (the generation it was built at, it)
        self._generation = 0  # bumped by every change
        self._lock = threading.Lock()
        for informer in (self.services, self.endpoints):
            informer.add_handler(self._stale, lambda old, new: self._stale(new), self._stale)
        listen = self.config.listen or DnsConfig.default_listen(self.network)
        upstreams = self.config.upstreams
        if upstreams is None:
            upstreams = tuple(host_resolvers())
        self.server = DnsServer(self.zone, listen, upstreams, ttl=self.config.ttl,
                                timeout=self.config.timeout)

    def _stale(self, obj: Obj | None = None) -> None:
        self._generation += 1

    def zone(self) -> Zone:
        """The current zone (rebuilt after a change)."""
        current = self._zone
        if current is not None and current[0] == self._generation:
            return current[1]
        with self._lock:
            current = self._zone
            if current is None or current[0] != self._generation:
                generation = self._generation  # read before the caches: never newer
                eps = {key_of(e): e for e in self.endpoints.list()}
                current = (generation, build_zone(self.services.list(), eps, self.domain))
                self._zone = current
            return current[1]

    def start(self) -> None:
        try:
            self.server.start()
        except OSError as e:  # e.g. port 53 taken by another gitkube: run without it
            log.warning("%s", e)

    def stop(self) -> None:
        self.server.stop()


def build(manager: Manager, config: DnsConfig | None = None,
          network: NetworkConfig | None = None) -> DnsAgent:
    """The DNS agent on ``manager`` (added to it)."""
    agent = DnsAgent(manager, config, network)
    manager.add(agent)
    return agent


__all__ = ["DnsAgent", "DnsConfig", "build"]
