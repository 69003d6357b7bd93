"""The proxy's data plane: listeners and balancers on one asyncio loop, driven by tables.

A **table** is plain JSON data computed by the agent (agent.py) from Services and Endpoints::

    {"ports": {"ns/web:http/TCP": {"backends": [["10.244.0.5", 8080], ...],
                                   "affinity": 10800.0 | null}, ...},
     "listeners": [["TCP", "10.96.0.7", 80, "ns/web:http/TCP"], ...]}

``Dataplane.apply(table)`` makes the loop serve exactly that: balancers get the new backend
sets (established connections are never touched), listeners that are no longer wanted close
(their port then refuses at once), new ones open (a failure is reported in ``errors`` and
retried on the next apply). ``close()`` closes every listener and connection.

By default it runs in a child process (``python -m gitkube.agents.proxy``): the
agent writes one table per line on its stdin and reads one status line per apply (and one a
second) on its stdout; EOF on stdin closes everything and ends the process. A process of its
own keeps the forwarding loop away from the other agents' threads (one interpreter lock
each), which is what its latency needs. Several processes (``workers``) can serve one table:
their TCP listeners share each port (``SO_REUSEPORT``: the kernel spreads connections, so
every core forwards); worker 0 alone serves UDP and ClientIP-affinity ports (one place for
their sessions and affinity entries).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from typing import Any

from gitkube.agents.proxy.balancer import Balancer
from gitkube.agents.proxy.table import Backend
from gitkube.agents.proxy.tcp import TcpListener
from gitkube.agents.proxy.udp import UdpListener

log = logging.getLogger("gitkube.proxy")
Obj = dict[str, Any]
ListenerKey = tuple[str, str, int]
Listener = TcpListener | UdpListener


class Dataplane:
    """Listeners and balancers on ``loop`` (every method runs on the loop's thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, connect_timeout: float = 1.0,
                 udp_idle_timeout: float = 30.0, worker: int = 0, workers: int = 1):
        self.loop = loop
        self.worker = worker  # > 0: an extra worker: round-robin TCP listeners only
        self.workers = workers
        self.connect_timeout = connect_timeout
        self.udp_idle_timeout = udp_idle_timeout
        self.listeners: dict[ListenerKey, tuple[str, Listener]] = {}
        self.balancers: dict[str, Balancer] = {}
        self.errors: dict[ListenerKey, str] = {}
        self._applying: asyncio.Lock | None = None

    async def apply(self, table: Obj) -> None:
        """Serve exactly ``table`` (see the module docstring). Applies run one at a time."""
        if self._applying is None:
            self._applying = asyncio.Lock()
        async with self._applying:
            await self._apply(table)

    async def _apply(self, table: Obj) -> None:
        ports: dict[str, Obj] = table.get("ports") or {}
        want: dict[ListenerKey, str] = {(str(p), str(a), int(n)): str(pid)
                                        for p, a, n, pid in table.get("listeners") or []}
        if self.worker:  # UDP sessions and ClientIP affinity live in worker 0 only
            want = {k: pid for k, pid in want.items() if k[0] == "TCP" and
                    (ports.get(pid) or {}).get("affinity") is None}
        for pid, spec in ports.items():
            backends = tuple(sorted(Backend(str(ip), int(port))
                                    for ip, port in spec.get("backends") or []))
            affinity = spec.get("affinity")
            balancer = self.balancers.get(pid)
            if balancer is None:
                self.balancers[pid] = Balancer(backends, affinity_timeout=affinity)
            elif balancer.backends != backends or balancer.affinity_timeout != affinity:
                balancer.update(backends, affinity)
        for key, (pid, old) in list(self.listeners.items()):
            if want.get(key) != pid:
                old.close()
                del self.listeners[key]
                log.info("proxy: closed %s %s:%d (%s)", *key, pid)
        for pid in list(self.balancers):
            if pid not in ports:
                del self.balancers[pid]
        for key, pid in want.items():
            if key in self.listeners or pid not in self.balancers:
                continue
            await self._open(key, pid)

    async def _open(self, key: ListenerKey, pid: str) -> None:
        proto, address, port = key
        balancer = self.balancers[pid]
        listener: Listener
        if proto == "TCP":
            shared = self.workers > 1 and balancer.affinity_timeout is None
            listener = TcpListener(self.loop, pid, address, port, balancer,
                                   connect_timeout=self.connect_timeout, reuse_port=shared)
        else:
            listener = UdpListener(self.loop, pid, address, port, balancer,
                                   idle_timeout=self.udp_idle_timeout)
        try:
            await listener.start()
        except OSError as e:
            if self.errors.get(key) != str(e):
                log.warning("proxy: cannot listen on %s %s:%d for %s: %s", proto, address,
                            port, pid, e)
            self.errors[key] = str(e)
            return
        self.errors.pop(key, None)
        self.listeners[key] = (pid, listener)
        log.info("proxy: listening on %s %s:%d for %s -> %s", proto, address, port, pid,
                 ", ".join(map(str, balancer.backends)))

    def tick(self) -> None:
        """Housekeeping (once a second): idle UDP sessions, stale affinity entries."""
        for _, listener in list(self.listeners.values()):
            if isinstance(listener, UdpListener):
                listener.expire()
        for balancer in self.balancers.values():
            balancer.expire()

    def status(self) -> Obj:
        """What is served: one entry per listener, and the listeners that failed to open."""
        serving = []
        for (proto, address, port), (pid, listener) in sorted(self.listeners.items()):
            balancer = self.balancers.get(pid)
            serving.append({
                "service": pid, "protocol": proto, "address": address, "port": port,
                "backends": [str(b) for b in (balancer.backends if balancer else ())],
                "affinity": balancer.affinity_timeout if balancer else None,
                "connections": len(listener.conns) if isinstance(listener, TcpListener)
                else len(listener.sessions)})
        errors = {f"{a}:{p}/{proto}": e for (proto, a, p), e in self.errors.items()}
        return {"serving": serving, "errors": errors}

    def close(self) -> None:
        for _, listener in self.listeners.values():
            listener.close(connections=True)
        self.listeners.clear()
        self.balancers.clear()


# --- the child process -------------------------------------------------------------------------


def main() -> None:
    """Run a Dataplane fed by stdin (one JSON table per line), reporting on stdout."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="gitkube proxy dataplane: %(message)s")
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    loop = asyncio.new_event_loop()
    plane = Dataplane(loop, connect_timeout=float(options.get("connect_timeout", 1.0)),
                      udp_idle_timeout=float(options.get("udp_idle_timeout", 30.0)),
                      worker=int(options.get("worker", 0)),
                      workers=int(options.get("workers", 1)))
    out = sys.stdout

    def report() -> None:
        out.write(json.dumps(plane.status(), separators=(",", ":")) + "\n")
        out.flush()

    async def apply(table: Obj) -> None:
        await plane.apply(table)
        report()

    def tick() -> None:
        plane.tick()
        report()
        loop.call_later(1.0, tick)

    tasks: set[asyncio.Task[None]] = set()

    def schedule(table: Obj) -> None:
        task = loop.create_task(apply(table))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def read() -> None:
        for line in sys.stdin:
            try:
                table = json.loads(line)
            except ValueError:
                continue
            loop.call_soon_threadsafe(schedule, table)
        loop.call_soon_threadsafe(loop.stop)  # EOF: the agent stopped

    threading.Thread(target=read, daemon=True, name="tables").start()
    loop.call_soon(tick)
    try:
        loop.run_forever()
    finally:
        plane.close()
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.close()


if __name__ == "__main__":
    main()
