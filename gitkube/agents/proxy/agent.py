"""The proxy agent (the seed's kube-proxy): Services' virtual addresses, on this node.

``ProxyAgent(manager, config)`` watches Services and Endpoints through the Manager's shared
informers and keeps one listener per served address on its own asyncio event loop thread:

- ``ClusterIP:port`` for every Service port that has Ready endpoints (TCP and UDP). The
  service range is routed locally (gitkube/runtime/network.py), so the listener binds the
  ClusterIP itself: pods (through their gateway) and the host reach it, and nothing else is
  needed — no NAT rule;
- ``ADDRESS:nodePort`` for NodePort/LoadBalancer Services on each of ``node_addresses``
  (``127.0.0.1`` by default).

A Service port without Ready endpoints has no listener, so a connection to it is refused at
once by the kernel (TCP reset, ICMP port unreachable for UDP). Each change of a Service or
Endpoints schedules a sync on the loop (and a sync runs every ``resync`` s anyway): the
balancers get the new backend sets (connections already established are never touched),
listeners come and go. Backends are chosen per connection by ``balancer.Balancer`` (round
robin; ``sessionAffinity: ClientIP`` with its timeout; a backend that fails to connect is
skipped and the next is tried). UDP sessions close after ``udp_idle_timeout`` s idle.

The agent owns exactly its listening sockets: ``stop()`` closes every listener and every
proxied connection. ``describe()`` lists what it serves.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

from gitkube.agents.proxy.balancer import Balancer
from gitkube.agents.proxy.table import ServicePort, service_ports
from gitkube.agents.proxy.tcp import TcpListener
from gitkube.agents.proxy.udp import UdpListener
from gitkube.agents.runtime import Manager, key_of
from gitkube.model.network import service_cidr
from gitkube.runtime.network import ensure_service_range

log = logging.getLogger("gitkube.proxy")
Obj = dict[str, Any]
ListenerKey = tuple[str, str, int]  # (protocol, address, port)
Listener = TcpListener | UdpListener


@dataclass
class ProxyConfig:
    node_addresses: tuple[str, ...] = ("127.0.0.1",)
    service_cidr: str | None = None  # None: $GITKUBE_SERVICE_CIDR or the default range
    connect_timeout: float = 1.0
    udp_idle_timeout: float = 30.0
    resync: float = 1.0
    route_service_range: bool = True  # make sure the range is local before binding


class ProxyAgent:
    """The proxy agent (see the module docstring)."""

    name = "proxy"

    def __init__(self, manager: Manager, config: ProxyConfig | None = None):
        self.config = config or ProxyConfig()
        self.cidr = self.config.service_cidr or str(service_cidr())
        self.services = manager.informer("v1", "Service")
        self.endpoints = manager.informer("v1", "Endpoints")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listeners: dict[ListenerKey, tuple[str, Listener]] = {}  # -> (port id, it)
        self._balancers: dict[str, Balancer] = {}
        self._sync_pending = False
        self._errors: dict[ListenerKey, str] = {}
        self._lock = threading.Lock()
        self.syncs = 0
        for informer in (self.services, self.endpoints):
            informer.add_handler(self._changed, lambda old, new: self._changed(new),
                                 self._changed)

    # -- lifecycle (any thread)

    def start(self) -> None:
        if self.config.route_service_range:
            ensure_service_range(self.cidr)
        loop = asyncio.new_event_loop()
        self.loop = loop
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.call_soon(self._tick)
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="proxy loop", daemon=True)
        self._thread.start()
        ready.wait(10)
        self._changed(None)

    def stop(self) -> None:
        """Close every listener and proxied connection, then the loop."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        done = threading.Event()

        def shutdown() -> None:
            for _, listener in self._listeners.values():
                listener.close(connections=True)
            self._listeners.clear()
            self._balancers.clear()
            loop.call_later(0.05, loop.stop)
            done.set()

        loop.call_soon_threadsafe(shutdown)
        done.wait(10)
        thread.join(timeout=10)
        self.loop, self._thread = None, None

    def describe(self) -> list[dict[str, Any]]:
        """What is served now: one entry per listener (service, address, port, protocol,
        backends)."""
        with self._lock:
            items = list(self._listeners.items())
        out = []
        for (proto, address, port), (pid, _) in sorted(items):
            balancer = self._balancers.get(pid)
            out.append({"service": pid, "protocol": proto, "address": address, "port": port,
                        "backends": [str(b) for b in (balancer.backends if balancer else ())]})
        return out

    def errors(self) -> dict[str, str]:
        """Listeners that could not be opened (address:port -> why); retried every resync."""
        return {f"{a}:{p}/{proto}": e for (proto, a, p), e in self._errors.items()}

    # -- changes (informer threads) -> one sync on the loop

    def _changed(self, obj: Obj | None) -> None:
        loop = self.loop
        if loop is None or self._sync_pending:
            return
        self._sync_pending = True
        try:
            loop.call_soon_threadsafe(self._sync_soon)
        except RuntimeError:  # the loop is closed (stopping)
            self._sync_pending = False

    def _sync_soon(self) -> None:
        self._sync_pending = False
        assert self.loop is not None
        self.loop.create_task(self._sync())

    def _tick(self) -> None:
        assert self.loop is not None
        self.loop.create_task(self._sync())
        for _, listener in list(self._listeners.values()):
            if isinstance(listener, UdpListener):
                listener.expire()
        for balancer in self._balancers.values():
            balancer.expire()
        self.loop.call_later(self.config.resync, self._tick)

    # -- the sync (loop thread)

    def desired(self) -> dict[ListenerKey, ServicePort]:
        """Every listener that should exist now, from the informers' caches."""
        out: dict[ListenerKey, ServicePort] = {}
        for svc in self.services.list():
            eps = self.endpoints.get(key_of(svc))
            for sp in service_ports(svc, eps):
                if not sp.backends:
                    continue
                if sp.cluster_ip:
                    out[(sp.protocol, sp.cluster_ip, sp.port)] = sp
                if sp.node_port:
                    for address in self.config.node_addresses:
                        out[(sp.protocol, address, sp.node_port)] = sp
        return out

    async def _sync(self) -> None:
        assert self.loop is not None
        want = self.desired()
        ports = {sp.id: sp for sp in want.values()}
        for pid, sp in ports.items():
            balancer = self._balancers.get(pid)
            if balancer is None:
                self._balancers[pid] = Balancer(sp.backends,
                                                affinity_timeout=sp.affinity_timeout)
            elif balancer.backends != sp.backends or \
                    balancer.affinity_timeout != sp.affinity_timeout:
                balancer.update(sp.backends, sp.affinity_timeout)
        for key, (pid, old) in list(self._listeners.items()):
            if key not in want or want[key].id != pid:
                old.close()
                with self._lock:
                    del self._listeners[key]
                log.info("proxy: closed %s %s:%d (%s)", *key, pid)
        for pid in list(self._balancers):
            if pid not in ports:
                del self._balancers[pid]
        for key, sp in want.items():
            if key in self._listeners:
                continue
            proto, address, port = key
            balancer = self._balancers[sp.id]
            listener: Listener
            if proto == "TCP":
                listener = TcpListener(self.loop, sp.id, address, port, balancer,
                                       connect_timeout=self.config.connect_timeout)
            else:
                listener = UdpListener(self.loop, sp.id, address, port, balancer,
                                       idle_timeout=self.config.udp_idle_timeout)
            try:
                await listener.start()
            except OSError as e:
                if self._errors.get(key) != str(e):
                    log.warning("proxy: cannot listen on %s %s:%d for %s: %s", proto, address,
                                port, sp.id, e)
                self._errors[key] = str(e)
                continue
            self._errors.pop(key, None)
            with self._lock:
                self._listeners[key] = (sp.id, listener)
            log.info("proxy: listening on %s %s:%d for %s -> %s", proto, address, port, sp.id,
                     ", ".join(map(str, sp.backends)))
        self.syncs += 1


def build(manager: Manager, config: ProxyConfig | None = None) -> ProxyAgent:
    """The proxy agent on ``manager`` (added to it)."""
    agent = ProxyAgent(manager, config)
    manager.add(agent)
    return agent


__all__ = ["ProxyAgent", "ProxyConfig", "build"]
