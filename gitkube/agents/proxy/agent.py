"""The proxy agent (the seed's kube-proxy): Services' virtual addresses, on this node.

``ProxyAgent(manager, config)`` watches Services and Endpoints through the Manager's shared
informers and keeps one listener per served address in its data plane (userspace mode;
kernel mode below):

- ``ClusterIP:port`` for every Service port that has Ready endpoints (TCP and UDP). The
  service range is routed locally (gitkube/runtime/network.py), so the listener binds the
  ClusterIP itself: pods (through their gateway) and the host reach it, and nothing else is
  needed — no NAT rule;
- ``ADDRESS:nodePort`` for NodePort/LoadBalancer Services on each of ``node_addresses``
  (``127.0.0.1`` by default);
- ``ADDRESS:port`` for LoadBalancer Services, on the same addresses: the node is the load
  balancer, as with k3s's ServiceLB. Once those listeners are up, the Service's
  ``status.loadBalancer.ingress`` lists the addresses; while a port cannot be bound (another
  Service or program holds it) the ingress stays empty, which clients show as ``<pending>``.

**Kernel mode** (``backend="auto"``, the default, when nftables works; the choice is logged
at start): the ClusterIP TCP ports without session affinity are not listened on but DNATed
by the kernel, round robin, through a table of gitkube's own (nft.py), rewritten whole in
one transaction after each change and deleted by ``stop()``; their ports without Ready
endpoints get a ``reject with tcp reset`` rule. NodePorts, UDP and ClientIP affinity stay in
the userspace data plane below (**userspace mode**: everything there).

A Service port without Ready endpoints has no listener, so a connection to it is refused at
once by the kernel (TCP reset, ICMP port unreachable for UDP). Each change of a Service or
Endpoints schedules a sync on the loop (and a sync runs every ``resync`` s anyway): the
balancers get the new backend sets (connections already established are never touched),
listeners come and go. Backends are chosen per connection by ``balancer.Balancer`` (round
robin; ``sessionAffinity: ClientIP`` with its timeout; a backend that fails to connect is
skipped and the next is tried). UDP sessions close after ``udp_idle_timeout`` s idle.

The sockets live in the data plane (dataplane.py): by default a child process of the agent
(``mode="process"``: the forwarding loop does not share an interpreter lock with the other
agents), or a thread of this process (``mode="thread"``). The agent computes a table from its
informers and hands it over after each change. The agent owns exactly its listening sockets
and its nftables table: ``stop()`` closes every listener and every proxied connection (the
child process is told to, then waited for by its PID) and deletes the table.
``describe()`` lists what is served (``mode``: who forwards it).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO, Any, Literal

from gitkube.agents.manager import Manager, key_of
from gitkube.agents.proxy.dataplane import Dataplane
from gitkube.agents.proxy.nft import KernelPort, NftError, NftTable
from gitkube.agents.proxy.table import service_ports
from gitkube.errors import Conflict, NotFound
from gitkube.model.network import DEFAULT_SERVICE_CIDR
from gitkube.runtime.network import NetworkError, ensure_service_range

log = logging.getLogger("gitkube.proxy")
Obj = dict[str, Any]


@dataclass
class ProxyConfig:
    node_addresses: tuple[str, ...] = ("127.0.0.1",)
    service_cidr: str = DEFAULT_SERVICE_CIDR  # the range ClusterIPs are allocated from
    connect_timeout: float = 1.0
    udp_idle_timeout: float = 30.0
    resync: float = 1.0
    route_service_range: bool = True  # make sure the range is local before binding
    mode: Literal["process", "thread"] = "process"
    # data plane processes (mode "process"): >1 shares round-robin TCP ports between them
    # with SO_REUSEPORT (every core forwards; another process of root's could then share a
    # port too, so it is opt-in)
    workers: int = 1
    # where ClusterIP TCP ports are forwarded: "auto" (the kernel when nftables works,
    # otherwise userspace; the choice is logged), "kernel" (the same, but logged as an error
    # when nftables does not work) or "userspace" (the data plane only)
    backend: Literal["auto", "kernel", "userspace"] = "auto"
    nft_table: str | None = None  # None: nft.table_name(service range)


class ProxyAgent:
    """The proxy agent (see the module docstring)."""

    name = "proxy"

    def __init__(self, manager: Manager, config: ProxyConfig | None = None):
        self.config = config or ProxyConfig()
        self.cidr = self.config.service_cidr
        self.client = manager.client
        self.services = manager.informer("v1", "Service")
        self.endpoints = manager.informer("v1", "Endpoints")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: dict[int, Obj] = {}  # worker -> its last status line
        self._status_lock = threading.Lock()
        self._children: dict[int, subprocess.Popen[str]] = {}
        self._readers: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._plane: Dataplane | None = None
        self.mode: Literal["kernel", "userspace"] = "userspace"  # chosen by start()
        self._nft: NftTable | None = None
        self._kernel_ports: list[KernelPort] = []
        for informer in (self.services, self.endpoints):
            informer.add_handler(self._changed, lambda old, new: self._changed(new),
                                 self._changed)

    # -- lifecycle

    def start(self) -> None:
        if self.config.route_service_range:
            try:
                ensure_service_range(self.cidr)
            except NetworkError as e:
                # ClusterIPs cannot be bound then (they are not local): NodePorts still work.
                # Pods are protected by the kubelet, which refuses to run them without it.
                log.error("proxy: %s (%s); serving NodePorts only", e.message, e.hint or "")
        self._stop.clear()
        self._choose_backend()
        if self.config.mode == "process":
            for worker in range(max(1, self.config.workers)):
                self._start_child(worker)
        else:
            self._start_loop()
        self._thread = threading.Thread(target=self._run, name="proxy sync", daemon=True)
        self._thread.start()
        self._wake.set()

    def _choose_backend(self) -> None:
        """Kernel mode when gitkube's nftables table can be created, else userspace."""
        self.mode, self._nft = "userspace", None
        if self.config.backend == "userspace":
            log.info("proxy: userspace mode (configured)")
            return
        table = NftTable(self.cidr, self.config.nft_table)
        try:
            table.create()
        except NftError as e:
            report = log.error if self.config.backend == "kernel" else log.warning
            report("proxy: nftables unusable (%s); userspace mode", e)
            return
        self.mode, self._nft = "kernel", table
        log.info("proxy: kernel mode (nftables table ip %s): ClusterIP TCP ports without "
                 "session affinity are DNATed by the kernel; NodePorts, UDP and ClientIP "
                 "affinity stay in userspace", table.name)

    def _start_child(self, worker: int) -> None:
        options = json.dumps({"connect_timeout": self.config.connect_timeout,
                              "udp_idle_timeout": self.config.udp_idle_timeout,
                              "worker": worker, "workers": max(1, self.config.workers)})
        child = subprocess.Popen(
            [sys.executable, "-m", "gitkube.agents.proxy", options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._children[worker] = child
        reader = threading.Thread(target=self._read_status, args=(worker, child),
                                  daemon=True, name=f"proxy status {worker}")
        reader.start()
        self._readers.append(reader)

    def _start_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._plane = Dataplane(loop, connect_timeout=self.config.connect_timeout,
                                udp_idle_timeout=self.config.udp_idle_timeout)
        plane = self._plane

        def tick() -> None:
            plane.tick()
            loop.call_later(1.0, tick)

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(tick)
            loop.run_forever()
            plane.close()
            loop.run_until_complete(asyncio.sleep(0.05))
            loop.close()

        self._loop_thread = threading.Thread(target=run, name="proxy loop", daemon=True)
        self._loop_thread.start()

    def stop(self) -> None:
        """Close every listener and proxied connection (the data plane ends)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        children, self._children = self._children, {}
        for child in children.values():
            with contextlib.suppress(OSError):
                assert child.stdin is not None
                child.stdin.close()  # EOF: the child closes everything and exits
        for child in children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()  # by its PID, ours
                child.wait(timeout=5)
        for reader in self._readers:
            reader.join(timeout=5)
        self._readers = []
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=10)
        self._plane = None
        with self._status_lock:
            self._status = {}
        table, self._nft = self._nft, None
        if table is not None:
            table.remove()  # gitkube's table only; established connections keep conntrack
        self._kernel_ports = []

    def describe(self) -> list[Obj]:
        """What is served now: one entry per listener (service, protocol, address, port,
        backends, affinity, open connections or UDP sessions). ``mode`` says who forwards:
        ``kernel`` entries (nftables DNAT) count no connections."""
        kernel = [{"service": p.service, "protocol": "TCP", "address": p.address,
                   "port": p.port, "backends": [str(b) for b in p.backends], "affinity": None,
                   "connections": 0, "mode": "kernel"}
                  for p in (self._nft.ports if self._nft is not None else ()) if p.backends]
        return self._userspace_status() + kernel

    def _userspace_status(self) -> list[Obj]:
        if self._plane is not None and self._loop is not None:
            return [dict(e, mode="userspace") for e in self._plane_status()["serving"]]
        with self._status_lock:
            statuses = dict(self._status)
        first = statuses.get(0) or {"serving": []}
        out = [dict(entry, mode="userspace") for entry in first["serving"]]
        for worker, status in statuses.items():  # connections summed over the workers
            if worker == 0:
                continue
            counts = {(e["protocol"], e["address"], e["port"]): e["connections"]
                      for e in status.get("serving") or []}
            for entry in out:
                entry["connections"] += counts.get(
                    (entry["protocol"], entry["address"], entry["port"]), 0)
        return out

    def errors(self) -> dict[str, str]:
        """Listeners that could not be opened (address:port/proto -> why); retried."""
        if self._plane is not None and self._loop is not None:
            return dict(self._plane_status()["errors"])
        with self._status_lock:
            statuses = dict(self._status)
        return {k: v for status in statuses.values()
                for k, v in (status.get("errors") or {}).items()}

    def _plane_status(self) -> Obj:
        plane, loop = self._plane, self._loop
        assert plane is not None and loop is not None
        try:
            return asyncio.run_coroutine_threadsafe(_status_of(plane), loop).result(5)
        except Exception:
            return {"serving": [], "errors": {}}

    def _read_status(self, worker: int, child: subprocess.Popen[str]) -> None:
        stream: IO[str] | None = child.stdout
        assert stream is not None
        for line in stream:
            with contextlib.suppress(ValueError):
                status = json.loads(line)
                with self._status_lock:
                    if self._children.get(worker) is child:
                        self._status[worker] = status

    # -- changes -> tables

    def _changed(self, obj: Obj | None) -> None:
        self._wake.set()

    def _run(self) -> None:
        """One table per change (and one every ``resync`` s: failed listeners are retried)."""
        while not self._stop.is_set():
            self._wake.wait(self.config.resync)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                table = self.table()
                self._send(table, json.dumps(table, separators=(",", ":")))
                if self._nft is not None:
                    try:
                        if self._nft.apply(self._kernel_ports):
                            log.info("proxy: nftables table %s: %d service ports",
                                     self._nft.name, len(self._kernel_ports))
                    except NftError as e:  # retried on the next sync
                        log.error("proxy: nftables table %s: %s", self._nft.name, e)
                self._load_balancer_status()
            except Exception:
                log.exception("proxy: sync failed")

    def _load_balancer_status(self) -> None:
        """Write ``status.loadBalancer.ingress`` of LoadBalancer Services: the node's
        addresses where every port of the Service with Ready endpoints is listened on (seen
        serving, not just asked for). A port without Ready endpoints has no listener (its
        connections are refused) and does not hold the ingress back."""
        balanced = [svc for svc in self.services.list()
                    if (svc.get("spec") or {}).get("type") == "LoadBalancer"]
        if not balanced:  # the data plane's status is not asked for on every sync for nothing
            return
        errors = self.errors()
        serving = {(d["address"], d["port"], d["protocol"]) for d in self._userspace_status()}
        for svc in balanced:
            ports = [sp for sp in service_ports(svc, self.endpoints.get(key_of(svc)))
                     if sp.load_balancer]
            ingress = [{"ip": a} for a in self.config.node_addresses if all(
                (a, sp.port, sp.protocol) in serving if sp.backends
                else f"{a}:{sp.port}/{sp.protocol}" not in errors for sp in ports)]
            current = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if current == ingress:
                continue
            updated = copy.deepcopy(svc)
            updated.setdefault("status", {})["loadBalancer"] = {"ingress": ingress} \
                if ingress else {}
            with contextlib.suppress(Conflict, NotFound):  # the next sync tries again
                self.client.update_status(updated)

    def _send(self, table: Obj, text: str) -> None:
        if self._children:
            for worker, child in list(self._children.items()):
                if child.poll() is not None:
                    log.warning("proxy: data plane %d exited (%s); starting it again", worker,
                                child.returncode)
                    self._start_child(worker)
                    child = self._children[worker]
                assert child.stdin is not None
                try:
                    child.stdin.write(text + "\n")
                    child.stdin.flush()
                except OSError as e:  # it died meanwhile: restarted on the next sync
                    log.warning("proxy: data plane %d: %s", worker, e)
        elif self._loop is not None and self._plane is not None:
            asyncio.run_coroutine_threadsafe(self._plane.apply(table), self._loop)

    def table(self) -> Obj:
        """The data plane's table for what the informers hold now (dataplane.py). In kernel
        mode, the ClusterIP TCP ports without affinity go to ``self._kernel_ports`` instead
        of the table (and those without Ready endpoints too: refused by a rule)."""
        ports: dict[str, Obj] = {}
        listeners: list[list[Any]] = []
        kernel: list[KernelPort] = []
        for svc in self.services.list():
            for sp in service_ports(svc, self.endpoints.get(key_of(svc))):
                by_kernel = self._nft is not None and sp.protocol == "TCP" and \
                    bool(sp.cluster_ip) and (sp.affinity_timeout is None or not sp.backends)
                if by_kernel:
                    kernel.append(KernelPort(sp.cluster_ip, sp.port, sp.id, sp.backends))
                if not sp.backends:
                    continue  # no listener: connections are refused at once
                ports[sp.id] = {"backends": [[b.ip, b.port] for b in sp.backends],
                                "affinity": sp.affinity_timeout}
                if sp.cluster_ip and not by_kernel:
                    listeners.append([sp.protocol, sp.cluster_ip, sp.port, sp.id])
                if sp.node_port:
                    listeners += [[sp.protocol, a, sp.node_port, sp.id]
                                  for a in self.config.node_addresses]
                if sp.load_balancer:
                    listeners += [[sp.protocol, a, sp.port, sp.id]
                                  for a in self.config.node_addresses]
        self._kernel_ports = kernel
        return {"ports": ports, "listeners": sorted(listeners)}


async def _status_of(plane: Dataplane) -> Obj:
    return plane.status()


def build(manager: Manager, config: ProxyConfig | None = None) -> ProxyAgent:
    """The proxy agent on ``manager`` (added to it)."""
    agent = ProxyAgent(manager, config)
    manager.add(agent)
    return agent


__all__ = ["ProxyAgent", "ProxyConfig", "build"]
