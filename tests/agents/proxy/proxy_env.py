"""A proxy agent on loopback for the proxy tests: a Manager over an in-memory store with a
service range in 127.0.0.0/8, backends that answer with their name on 127.0.1.x, and
bounded polling."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

import pytest

from gitkube.agents.manager import Manager
from gitkube.agents.proxy import ProxyAgent, ProxyConfig
from gitkube.agents.proxy.nft import NftError, nft
from gitkube.api.local import LocalClient
from gitkube.settings import ProxyMode
from gitkube.store import open_store

Obj = dict[str, Any]
CIDR = "127.77.0.0/16"


class NameServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_name(address: str, name: str) -> NameServer:
    """A TCP server that answers each connection with its name, then closes (after reading
    one line)."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline()
            if line.startswith(b"hold"):
                self.wfile.write(name.encode() + b"\n")
                self.rfile.readline()  # until the client closes
                return
            self.wfile.write(name.encode() + b"\n")

    server = NameServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ask(address: str, port: int, payload: bytes = b"hi\n", timeout: float = 3) -> str:
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(payload)
        return s.makefile().readline().strip()


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def nft_unusable() -> str | None:
    """Why nftables cannot be used here (None: it can): a throwaway table is made and
    deleted (nothing else is touched)."""
    name = f"gitkube_probe_{uuid.uuid4().hex[:8]}"
    try:
        nft(f"table ip {name} {{}}\ndelete table ip {name}\n")
    except NftError as e:
        return f"nftables unusable here: {e}"
    return None


class Cluster:
    """A started Manager with a ProxyAgent in ``mode``/``backend`` over an in-memory store;
    the nftables table, when kernel mode is used, is named for this cluster alone."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, mode: Literal["process", "thread"],
                 workers: int = 1, backend: ProxyMode = "userspace"):
        self.workers = workers
        self.kernel = backend == "kernel"
        self.client = LocalClient(open_store("memory://"), service_cidr=CIDR)
        self.manager = Manager(self.client)
        self.table = f"gitkube_test_{uuid.uuid4().hex[:8]}"
        self.proxy = ProxyAgent(self.manager, ProxyConfig(
            service_cidr=CIDR, route_service_range=False, connect_timeout=0.5,
            udp_idle_timeout=1.0, mode=mode, workers=workers,
            backend=backend, nft_table=self.table))
        self.manager.add(self.proxy)
        self.manager.start()
        assert self.proxy.mode == backend

    def service(self, name: str, ports: list[Obj], **spec: Any) -> Obj:
        return self.client.create({"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": name, "namespace": "default"},
                                   "spec": {"ports": ports, **spec}})

    def endpoints(self, name: str, ips: list[str], ports: list[Obj]) -> None:
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": name, "namespace": "default"},
                     "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": ports}]
                     if ips else []}
        try:
            current = self.client.get("v1", "Endpoints", "default", name)
        except Exception:
            self.client.create(body)
            return
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.client.update(body)

    def serving(self, address: str, port: int, proto: str = "TCP") -> bool:
        return any(d["address"] == address and d["port"] == port and d["protocol"] == proto
                   for d in self.proxy.describe())


def backends(n: int, port_hint: int = 0) -> list[NameServer]:
    """n servers on 127.0.1.1.. with one shared port (like pods: same port, distinct IPs)."""
    first = serve_name("127.0.1.1", "pod-1")
    port = first.server_address[1]
    out = [first]
    for i in range(2, n + 1):
        s = NameServer((f"127.0.1.{i}", port), _handler_for(f"pod-{i}"))
        threading.Thread(target=s.serve_forever, daemon=True).start()
        out.append(s)
    return out


def _handler_for(name: str) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline()
            self.wfile.write(name.encode() + b"\n")
            if line.startswith(b"hold"):
                self.rfile.readline()
    return Handler


def stop_all(servers: list[NameServer]) -> None:
    for s in servers:
        s.shutdown()
        s.server_close()
