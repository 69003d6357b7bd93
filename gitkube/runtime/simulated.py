"""SimulatedRuntime: a kwok-like ContainerRuntime whose containers "run" in memory.

It passes the same contract suite as PodmanRuntime (tests/runtime/). A started container is
``created`` for ``start_delay`` seconds, then ``running`` until it is stopped (exit code 143,
or 137 when stopped with timeout 0) or failed on request (``fail_container``,
``fail_sandbox``). Images are present unless listed in ``missing_images``; a pull of a
missing image fails like an unreachable registry. ``exec`` succeeds (exit 0) unless
``exec_exit_code`` says otherwise; the streams of exec, attach and port-forward are refused
(``capabilities().streaming`` is False: no process runs). Network probes (httpGet,
tcpSocket, grpc) pass: nothing listens (``capabilities().network_probes`` is False).
Networks are names and subnets in memory. Everything is thread-safe.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from gitkube.model.times import rfc3339_nano
from gitkube.runtime.base import (
    ADDRESS_TAKEN,
    Capabilities,
    ContainerInfo,
    ContainerSpec,
    ExecResult,
    ImageError,
    ImageInfo,
    NoSuchObject,
    ProcessStream,
    RuntimeFailure,
    SandboxInfo,
    SandboxSpec,
    StreamOptions,
)


@dataclass
class _Container:
    info: ContainerInfo
    spec: ContainerSpec
    running_at: float | None = None
    logs: list[tuple[int, str]] = field(default_factory=list)  # (epoch ns, line)


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


class SimulatedRuntime:
    """The in-memory runtime (see the module docstring)."""

    name = "simulated"

    def __init__(self, *, start_delay: float = 0.0, missing_images: Iterable[str] = (),
                 clock: Callable[[], float] = time.time, subnet: str = "10.244"):
        self.start_delay = start_delay
        self.missing_images = set(missing_images)
        self.exec_exit_code = 0
        self.clock = clock
        self.subnet = subnet
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._sandboxes: dict[str, SandboxInfo] = {}
        self._sandbox_ips: dict[str, str] = {}
        self._containers: dict[str, _Container] = {}
        self._networks: dict[str, str] = {}  # name -> subnet

    # -- helpers for tests and the simulator

    def _ip(self, n: int) -> str:
        return f"{self.subnet}.{(n >> 8) & 255}.{n & 255}"

    def fail_container(self, container_id: str, exit_code: int = 1) -> None:
        """The container exits now with ``exit_code``."""
        with self._lock:
            c = self._container(container_id)
            self._refresh(c)
            if c.info.state in ("running", "created"):
                self._exit(c, exit_code)

    def fail_sandbox(self, sandbox_id: str, exit_code: int = 1) -> None:
        """Every container of a sandbox exits with ``exit_code``."""
        with self._lock:
            for c in list(self._containers.values()):
                if c.info.sandbox_id == sandbox_id:
                    self.fail_container(c.info.id, exit_code)

    def container_count(self) -> int:
        with self._lock:
            return len(self._containers)

    # -- internals

    def _container(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise NoSuchObject(f"simulated: no container {container_id}")
        return c

    def _refresh(self, c: _Container) -> None:
        if c.info.state == "created" and c.running_at is not None and \
                self.clock() >= c.running_at:
            c.info = replace(c.info, state="running", started_at=c.running_at)

    def _exit(self, c: _Container, code: int) -> None:
        c.info = replace(c.info, state="exited", exit_code=code, finished_at=self.clock(),
                         started_at=c.info.started_at or self.clock(),
                         reason="Completed" if code == 0 else "Error")
        c.running_at = None

    # -- ContainerRuntime

    def version(self) -> str:
        return "simulated://1"

    def capabilities(self) -> Capabilities:
        return Capabilities(network_probes=False, streaming=False)

    def ensure_network(self, name: str, subnet: str, gateway: str,
                       labels: Mapping[str, str], interface: str = "") -> list[str]:
        with self._lock:
            return [self._networks.setdefault(name, subnet)]

    def remove_network(self, name: str) -> None:
        with self._lock:
            self._networks.pop(name, None)

    def image(self, ref: str) -> ImageInfo | None:
        if ref in self.missing_images:
            return None
        return ImageInfo(ref=ref, id=f"sha256:{abs(hash(ref)):064x}"[:71])

    def pull(self, ref: str) -> ImageInfo:
        info = self.image(ref)
        if info is None:
            raise ImageError(f"pull {ref}: no registry reachable (simulated)")
        return info

    def ensure_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        with self._lock:
            for sb in self._sandboxes.values():
                if sb.name == spec.name:
                    return sb
            n = next(self._ids)
            sb = SandboxInfo(id=f"sim-pod-{n}", name=spec.name, labels=dict(spec.labels),
                             ip=self._ip(n) if spec.infra else "", running=True,
                             infra=spec.infra)
            self._sandbox_ips[sb.id] = self._ip(n)
            self._sandboxes[sb.id] = sb
            return sb

    def list_sandboxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        with self._lock:
            return [sb for sb in self._sandboxes.values() if _matches(sb.labels, labels)]

    def remove_sandbox(self, sandbox_id: str, timeout: float = 0) -> None:
        with self._lock:
            self._sandboxes.pop(sandbox_id, None)
            for cid in [c.info.id for c in self._containers.values()
                        if c.info.sandbox_id == sandbox_id]:
                del self._containers[cid]

    def create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        with self._lock:
            if sandbox_id not in self._sandboxes:
                raise NoSuchObject(f"simulated: no sandbox {sandbox_id}")
            if self.image(spec.image) is None:
                raise ImageError(f"simulated: image {spec.image} not present")
            if any(c.info.name == spec.name for c in self._containers.values()):
                raise NoSuchObject(f"simulated: container name {spec.name} is in use")
            cid = f"sim-ctr-{next(self._ids)}"
            info = ContainerInfo(id=cid, name=spec.name, sandbox_id=sandbox_id,
                                 labels=dict(spec.labels), state="created", image=spec.image,
                                 image_id=self.image(spec.image).id)  # type: ignore[union-attr]
            self._containers[cid] = _Container(info=info, spec=spec)
            return cid

    def _address(self, c: _Container) -> str:
        return c.spec.ip or self._sandbox_ips.get(c.info.sandbox_id, "")

    def start_container(self, container_id: str) -> None:
        with self._lock:
            c = self._container(container_id)
            for other in self._containers.values():
                if c.spec.ip and other is not c and other.info.state != "exited" and \
                        other.running_at is not None and self._address(other) == c.spec.ip:
                    raise RuntimeFailure(f"simulated: requested ip address {c.spec.ip} is "
                                         f"{ADDRESS_TAKEN} to container {other.info.id}")
            if c.info.state in ("created", "exited"):
                c.info = replace(c.info, state="created", exit_code=None, finished_at=None)
                c.running_at = self.clock() + self.start_delay
                c.logs.append((int(self.clock() * 1_000_000_000), f"started {c.spec.name}\n"))
                self._refresh(c)

    def stop_container(self, container_id: str, timeout: float) -> None:
        with self._lock:
            c = self._containers.get(container_id)
            if c is None:
                return
            self._refresh(c)
            if c.info.state in ("running", "created"):
                self._exit(c, 137 if timeout <= 0 else 143)

    def remove_container(self, container_id: str) -> None:
        with self._lock:
            self._containers.pop(container_id, None)

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        with self._lock:
            c = self._containers.get(container_id)
            if c is None:
                return None
            self._refresh(c)
            return replace(c.info, ip=self._address(c))

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        with self._lock:
            out = []
            for c in self._containers.values():
                if _matches(c.info.labels, labels):
                    self._refresh(c)
                    out.append(c.info)
            return out

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             since: float | None = None, timestamps: bool = False) -> Iterator[str]:
        with self._lock:
            lines = list(self._container(container_id).logs)
        if tail is not None:
            lines = lines[-tail:] if tail else []
        since_ns = None if since is None else int(since * 1_000_000_000)
        for ns, text in lines:
            if since_ns is None or ns >= since_ns:
                yield f"{rfc3339_nano(ns)} {text}" if timestamps else text

    def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        with self._lock:
            c = self._container(container_id)
            self._refresh(c)
            if c.info.state != "running":
                return ExecResult(exit_code=-1, output="container is not running")
        return ExecResult(exit_code=self.exec_exit_code, output="")

    def _no_process(self, container_id: str, what: str) -> RuntimeFailure:
        with self._lock:
            name = self._container(container_id).spec.name
        return RuntimeFailure(f"{what} container {name}: a simulated container runs no "
                              "process", hint="run the pod on a node with Podman")

    def exec_stream(self, container_id: str, command: list[str],
                    options: StreamOptions) -> ProcessStream:
        raise self._no_process(container_id, "cannot exec in")

    def attach(self, container_id: str, options: StreamOptions) -> ProcessStream:
        raise self._no_process(container_id, "cannot attach to")

    def connect_port(self, container_id: str, port: int, timeout: float) -> socket.socket:
        raise self._no_process(container_id, f"cannot connect to port {port} of")

    def close(self) -> None:
        pass
