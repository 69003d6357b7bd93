"""Liveness, readiness and startup probes: exec, httpGet, tcpSocket, grpc.

One ``ProbeWorker`` per (container instance, probe kind) keeps upstream's counters:
nothing runs before ``initialDelaySeconds``; then every ``periodSeconds`` a check with
``timeoutSeconds``; the result flips to failure after ``failureThreshold`` consecutive
failures and to success after ``successThreshold`` consecutive successes. Before its first
result a readiness or startup probe counts as failing, a liveness probe as passing. Liveness
and readiness wait until the startup probe (if any) succeeded.

``Prober`` runs every due worker on a small thread pool and calls ``on_change(pod_key)`` when
a result flips, so the kubelet syncs that pod (level-triggered: it then reads ``result``).
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from gitkube.agents.kubelet.grpcprobe import grpc_check
from gitkube.runtime.base import ContainerRuntime

log = logging.getLogger("gitkube.kubelet.probes")
Kind = Literal["liveness", "readiness", "startup"]
KINDS: tuple[Kind, ...] = ("startup", "liveness", "readiness")
KILLING: tuple[Literal["startup", "liveness"], ...] = ("startup", "liveness")  # in this order


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for p in container.get("ports") or []:
        if p.get("name") == text:
            return int(p.get("containerPort"))
    raise ValueError(f"no port named {text!r} in container {container.get('name')}")


def check(probe: Mapping[str, Any], container: Mapping[str, Any], *,
          runtime: ContainerRuntime, container_id: str, pod_ip: str) -> tuple[bool, str]:
    """Run one probe once: (success, message). A probe with no handler gitkube knows passes
    (validation refuses such probes before they get here)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            command = [str(c) for c in (probe["exec"].get("command") or [])]
            result = runtime.exec(container_id, command, timeout)
            return result.exit_code == 0, result.output.strip()[-200:]
        for name, handler in _NETWORK_HANDLERS.items():
            action = probe.get(name)
            if action is not None:
                port = resolve_port(action.get("port"), container)
                if not runtime.capabilities().network_probes:
                    return True, ""  # a simulated pod listens nowhere
                return handler(action, str(action.get("host") or pod_ip or "127.0.0.1"),
                               port, timeout)
    except (OSError, ValueError, http.client.HTTPException) as e:
        return False, str(e)
    return True, ""


def _http_get(action: Mapping[str, Any], host: str, port: int,
              timeout: float) -> tuple[bool, str]:
    conn_cls = (http.client.HTTPSConnection if str(action.get("scheme", "HTTP")).upper()
                == "HTTPS" else http.client.HTTPConnection)
    conn = conn_cls(host, port, timeout=timeout)
    try:
        headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
        conn.request("GET", str(action.get("path") or "/"), headers=headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    ok = 200 <= status < 400
    return ok, "" if ok else f"HTTP probe failed with statuscode: {status}"


def _tcp_socket(_action: Mapping[str, Any], host: str, port: int,
                timeout: float) -> tuple[bool, str]:
    with socket.create_connection((host, port), timeout=timeout):
        return True, ""


def _grpc(action: Mapping[str, Any], host: str, port: int, timeout: float) -> tuple[bool, str]:
    # GRPCAction has no host field: the pod's own address, always
    return grpc_check(host, port, str(action.get("service") or ""), timeout)


# The handlers that reach the pod over the network (at its address on the pod network, as
# upstream's kubelet does), by the Probe field that asks for them.
_NETWORK_HANDLERS: dict[str, Callable[[Mapping[str, Any], str, int, float],
                                      tuple[bool, str]]] = {
    "httpGet": _http_get,
    "tcpSocket": _tcp_socket,
    "grpc": _grpc,
}


@dataclass(frozen=True)
class ProbeVerdict:
    """What the probes say of one running container instance: ``failed`` names the probe
    (liveness or startup) whose failure means the container must be killed ("" : none)."""

    failed: Literal["", "liveness", "startup"] = ""
    message: str = ""


@dataclass
class ProbeWorker:
    pod_key: str
    uid: str
    container: Mapping[str, Any]
    container_id: str
    kind: Kind
    probe: Mapping[str, Any]
    pod_ip: str
    started: float
    result: bool | None = None  # None: no result yet
    successes: int = 0
    failures: int = 0
    message: str = ""
    next_at: float = 0.0
    busy: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.next_at = self.started + float(self.probe.get("initialDelaySeconds") or 0)

    @property
    def passing(self) -> bool:
        if self.result is None:
            return self.kind == "liveness"
        return self.result

    def record(self, ok: bool, message: str) -> bool:
        """Count one check; True when the result flipped."""
        before = self.result
        if ok:
            self.successes += 1
            self.failures = 0
            threshold = int(self.probe.get("successThreshold") or 1)
            if self.successes >= threshold:
                self.result = True
        else:
            self.failures += 1
            self.successes = 0
            self.message = message
            if self.failures >= int(self.probe.get("failureThreshold") or 3):
                self.result = False
        return self.result != before


class Prober:
    """Runs probe workers and reports flips (see the module docstring)."""

    def __init__(self, runtime: ContainerRuntime, on_change: Callable[[str], None], *,
                 threads: int = 4, tick: float = 0.1):
        self.runtime = runtime
        self.on_change = on_change
        self.tick = tick
        self._workers: dict[tuple[str, str, Kind], ProbeWorker] = {}
        self.threads = threads
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start probing (again after ``stop``: from no workers, as a new kubelet would)."""
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="probe")
        self._thread = threading.Thread(target=self._run, args=(self._pool,), daemon=True,
                                        name="prober")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._workers.clear()

    def ensure(self, pod_key: str, uid: str, container: Mapping[str, Any], container_id: str,
               pod_ip: str, started: float, *, assume_passing: bool = False) -> None:
        """Probe this container instance (a new id replaces the previous instance's
        workers, resetting their counters). ``assume_passing``: start from a passing result
        (a restarted kubelet adopting a container last reported ready and started)."""
        name = str(container.get("name"))
        with self._lock:
            for kind in KINDS:
                probe = container.get(f"{kind}Probe")
                key = (uid, name, kind)
                current = self._workers.get(key)
                if not probe:
                    self._workers.pop(key, None)
                    continue
                if current is not None and current.container_id == container_id:
                    continue
                worker = ProbeWorker(pod_key, uid, container, container_id, kind, probe,
                                     pod_ip, started)
                if assume_passing:
                    worker.result = True
                    worker.next_at = time.time()
                self._workers[key] = worker

    def forget_container(self, uid: str, name: str) -> None:
        with self._lock:
            for kind in KINDS:
                self._workers.pop((uid, name, kind), None)

    def forget_pod(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._workers if k[0] == uid]:
                del self._workers[key]

    def state(self, uid: str, name: str, kind: Kind) -> ProbeWorker | None:
        with self._lock:
            return self._workers.get((uid, name, kind))

    def verdict(self, uid: str, container: Mapping[str, Any],
                container_id: str) -> ProbeVerdict:
        """The verdict on instance ``container_id`` of ``container``: a failed startup probe
        first, then a failed liveness probe. Only that instance's workers count (another
        instance's are replaced when it is probed)."""
        name = str(container.get("name"))
        with self._lock:
            for kind in KILLING:
                worker = self._workers.get((uid, name, kind))
                if worker is None or worker.container_id != container_id or \
                        not container.get(f"{kind}Probe"):
                    continue
                failed = worker.result is False if kind == "startup" else not worker.passing
                if failed:
                    return ProbeVerdict(kind, worker.message)
        return ProbeVerdict()

    def passing(self, uid: str, name: str, kind: Kind) -> bool:
        """The probe's result; True when the container has no such probe."""
        worker = self.state(uid, name, kind)
        return True if worker is None else worker.passing

    def _due(self, now: float) -> list[ProbeWorker]:
        with self._lock:
            due = []
            for w in self._workers.values():
                if w.busy or w.next_at > now:
                    continue
                if w.kind != "startup":
                    startup = self._workers.get((w.uid, str(w.container.get("name")),
                                                 "startup"))
                    if startup is not None and startup.result is not True:
                        continue
                w.busy = True
                due.append(w)
            return due

    def _run(self, pool: ThreadPoolExecutor) -> None:
        while not self._stop.wait(self.tick):
            for w in self._due(time.time()):
                try:
                    pool.submit(self._check, w)
                except RuntimeError:  # pool shut down
                    return

    def _check(self, w: ProbeWorker) -> None:
        try:
            ok, message = check(w.probe, w.container, runtime=self.runtime,
                                container_id=w.container_id, pod_ip=w.pod_ip)
        except Exception as e:  # a runtime failure is a failed check
            ok, message = False, str(e)
        with self._lock:
            flipped = w.record(ok, message)
            w.next_at = time.time() + float(w.probe.get("periodSeconds") or 10)
            w.busy = False
            current = self._workers.get((w.uid, str(w.container.get("name")), w.kind)) is w
        if flipped and current:
            log.debug("%s probe of %s/%s: %s", w.kind, w.pod_key, w.container.get("name"),
                      "success" if w.result else f"failure: {w.message}")
            self.on_change(w.pod_key)
