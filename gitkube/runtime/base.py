"""The ContainerRuntime protocol: what the kubelet needs from a container engine.

Shaped like Nomad's task drivers: a narrow set of verbs over plain values. Two
implementations pass one contract suite (tests/runtime/): ``podman.PodmanRuntime`` (the only
module that talks to Podman) and ``simulated.SimulatedRuntime`` (containers "run" in memory).

A runtime declares what it can do (``capabilities()``, as Nomad's drivers do) instead of
being probed for methods. Network set-up is part of the protocol (``NetworkDriver``: the pod
network gitkube creates on a node); the simulated runtime keeps its networks in memory.

A *sandbox* is a pod's shared environment (network, IPC, UTS, optionally PID namespaces; a
Podman pod). Containers are created inside a sandbox. Everything is found again by labels,
so a restarted kubelet adopts what it created before (``list_*`` with a label filter).

Streams (``exec_stream``, ``attach``, ``connect_port``) serve ``kubectl exec``, ``attach``, ``cp``
and ``port-forward``: a ``ProcessStream`` is a process's standard streams, read and written
from threads of the caller's; a runtime without them (``capabilities().streaming`` False)
raises RuntimeFailure saying why.

Errors (all ``RuntimeFailure``, a GitkubeError):

    RuntimeFailure          the engine refused or failed an operation
    ├── RuntimeUnavailable  the engine cannot be reached or started
    ├── ImageError          an image is missing and cannot be pulled (reason = ErrImagePull)
    └── NoSuchObject        a container or sandbox id that does not exist (any more)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gitkube.errors import GitkubeError

ContainerStateName = Literal["created", "running", "exited", "unknown"]

# Labels every object gitkube's kubelet creates carries (the kubelet manages only these).
LABEL_MANAGED = "io.gitkube.managed"
LABEL_CLUSTER = "io.gitkube.cluster"  # the store's id: two stores on one host never collide
LABEL_POD_UID = "io.gitkube.pod-uid"
LABEL_NAMESPACE = "io.gitkube.pod-namespace"
LABEL_POD_NAME = "io.gitkube.pod-name"
LABEL_NODE = "io.gitkube.node"
LABEL_CONTAINER = "io.gitkube.container"
LABEL_ATTEMPT = "io.gitkube.attempt"
LABEL_INIT = "io.gitkube.init"
LABEL_EPHEMERAL = "io.gitkube.ephemeral"  # an ephemeral (kubectl debug) container
LABEL_IMAGE = "io.gitkube.image"  # the image as the pod spec names it (engines rewrite names)
LABEL_GRACE = "io.gitkube.grace-seconds"


class RuntimeFailure(GitkubeError):
    """The container engine refused or failed an operation."""


class RuntimeUnavailable(RuntimeFailure):
    """The container engine cannot be reached or started."""


class ImageError(RuntimeFailure):
    """An image is not present and cannot be pulled."""


class NoSuchObject(RuntimeFailure):
    """A container or sandbox that does not exist (any more)."""


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int
    protocol: str = "tcp"
    host_ip: str = ""


@dataclass(frozen=True)
class Mount:
    """A host directory or file bind-mounted into a container."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    name: str
    labels: Mapping[str, str]
    hostname: str = ""
    hosts: tuple[tuple[str, str], ...] = ()  # /etc/hosts entries: (name, ip)
    share_pid: bool = False
    ports: tuple[PortMapping, ...] = ()
    # False: no infra container (a pod of one container needs no namespaces to share; it
    # then owns its network namespace, hostname and ports: see ContainerSpec).
    infra: bool = True
    # the host's network and UTS namespaces (hostNetwork): no network, ports or hostname
    host_network: bool = False
    host_ipc: bool = False  # hostIPC: the pod's containers share no IPC namespace of its own
    # networking: the network to join ("" = the engine's default) and the pod's
    # resolv.conf (empty = the engine's default)
    network: str = ""
    dns_servers: tuple[str, ...] = ()
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxInfo:
    id: str
    name: str
    labels: Mapping[str, str]
    ip: str  # "" when not (yet) known (always "" without infra: ask the container)
    running: bool
    infra: bool = True
    # created by this very ensure_sandbox call: it holds no container yet (no need to list)
    fresh: bool = False


@dataclass(frozen=True)
class Security:
    """A container's securityContext as the runtime applies it (kubelet/security.py)."""

    user: str = ""  # "uid", "uid:gid" or "name:gid" ("" = the image's user)
    groups: tuple[str, ...] = ()  # supplementary groups (supplementalGroups, fsGroup)
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    read_only_root: bool = False
    no_new_privileges: bool = False
    seccomp: str = ""  # "" = the runtime's default profile, "unconfined", or a profile file


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    labels: Mapping[str, str]
    entrypoint: tuple[str, ...] | None = None  # Kubernetes' command
    command: tuple[str, ...] | None = None  # Kubernetes' args
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""
    mounts: tuple[Mount, ...] = ()
    memory_limit: int | None = None  # bytes
    cpu_limit_milli: int | None = None  # thousandths of a CPU
    # Only for a sandbox without infra: the container's own hostname, published ports,
    # network and resolv.conf (the fields SandboxSpec has for a sandbox with infra).
    hostname: str = ""
    hosts: tuple[tuple[str, str], ...] = ()  # /etc/hosts entries: (name, ip)
    ports: tuple[PortMapping, ...] = ()
    network: str = ""
    dns_servers: tuple[str, ...] = ()
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    security: Security = field(default_factory=Security)
    host_network: bool = False  # without infra: the host's network and UTS namespaces
    host_pid: bool = False  # hostPID: the host's PID namespace
    host_ipc: bool = False  # hostIPC: the host's IPC namespace
    # keep the container's stdin open (a pod's ``stdin``); ``stdin_once``: closed after the
    # first attach ends; ``tty``: a terminal for its process
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    # Join another container's namespaces (ephemeral containers): ``pid_of`` its PID
    # namespace (it then sees that container's processes); ``share_with`` its network, IPC
    # and UTS namespaces (a sandbox without infra, where no pod-wide ones exist).
    pid_of: str = ""
    share_with: str = ""
    # The address to take on ``network`` ("" = any free one): a container restarted in a
    # sandbox without infra asks for its predecessor's, so the pod keeps its IP. When another
    # container holds it, ``start_container`` fails with ADDRESS_TAKEN in the message.
    ip: str = ""


ADDRESS_TAKEN = "already allocated"


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    sandbox_id: str
    labels: Mapping[str, str]
    state: ContainerStateName
    exit_code: int | None = None
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    image: str = ""
    image_id: str = ""
    reason: str = ""  # "OOMKilled", "Error", "Completed" for exited containers
    ip: str = ""  # its own address (inspect_container; in a sandbox without infra)


@dataclass(frozen=True)
class Capabilities:
    """What a runtime can do, declared (shaped like Nomad's ``DriverCapabilities``)."""

    # httpGet, tcpSocket and grpc probes and hooks reach the pod's address over the network (a
    # simulated pod listens nowhere: such checks then pass without a connection)
    network_probes: bool = True
    # exec_stream, attach and connect_port work (a simulated container runs no process)
    streaming: bool = True


@dataclass(frozen=True)
class StreamOptions:
    """Which of a process's standard streams a session uses, and whether it is a terminal
    (then stdout and stderr are one stream)."""

    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


class ProcessStream(Protocol):
    """A process being run (``exec_stream``) or attached to (``attach``). ``read`` and the
    writing methods may be called from two threads at once; ``close`` from any thread ends
    a ``read`` that waits."""

    def read(self) -> tuple[int, bytes] | None:
        """The next output: ``(1, data)`` stdout or ``(2, data)`` stderr (with a terminal
        everything is stdout); None once the output has ended."""
        ...

    def write(self, data: bytes) -> None:
        """Send ``data`` to the process's stdin."""
        ...

    def close_stdin(self) -> None:
        """End the process's stdin (EOF; with a terminal, the end-of-file character)."""
        ...

    def resize(self, width: int, height: int) -> None:
        """Set the terminal's size (no terminal: nothing)."""
        ...

    def exit_code(self, timeout: float = 5.0) -> int | None:
        """After the output ended: the process's exit code; None when it is still running
        (an attach that ended before the container) or cannot be known."""
        ...

    def close(self) -> None:
        """Release the stream (the process itself is not stopped). Idempotent."""
        ...


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    id: str
    user: str = ""  # the image's USER ("" = root)


class NetworkDriver(Protocol):
    """The networks a runtime attaches pods to (runtime/network.py sets gitkube's up)."""

    def ensure_network(self, name: str, subnet: str, gateway: str,
                       labels: Mapping[str, str], interface: str = "") -> list[str]:
        """The bridge network ``name`` with ``subnet`` (its bridge named ``interface``),
        created when missing; an existing one is kept as it is. Its subnets."""
        ...

    def remove_network(self, name: str) -> None:
        """Remove the network ``name`` (missing: no error)."""
        ...


class ContainerRuntime(NetworkDriver, Protocol):
    """A container engine as the kubelet sees it. Every method may raise RuntimeFailure."""

    name: str

    def capabilities(self) -> Capabilities:
        """What this runtime can do (pure: the same answer every time)."""
        ...

    def version(self) -> str:
        """The engine's name and version, e.g. ``podman://4.3.1``."""
        ...

    def image(self, ref: str) -> ImageInfo | None:
        """The local image ``ref``, or None when it is not present."""
        ...

    def pull(self, ref: str) -> ImageInfo:
        """Pull ``ref``; ImageError (with the engine's reason) when it cannot."""
        ...

    def ensure_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        """The running sandbox named ``spec.name``, created and started when missing."""
        ...

    def list_sandboxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        """Sandboxes carrying every label in ``labels``."""
        ...

    def remove_sandbox(self, sandbox_id: str, timeout: float = 0) -> None:
        """Stop (SIGTERM, SIGKILL after ``timeout`` s) and remove a sandbox and everything in
        it. Missing: no error."""
        ...

    def create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        """Create (not start) a container in a sandbox; returns its id."""
        ...

    def start_container(self, container_id: str) -> None: ...

    def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Already stopped: no error."""
        ...

    def remove_container(self, container_id: str) -> None:
        """Remove (force). Missing: no error."""
        ...

    def inspect_container(self, container_id: str) -> ContainerInfo | None: ...

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """Containers (any state) carrying every label in ``labels``; infra excluded."""
        ...

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             since: float | None = None, timestamps: bool = False) -> Iterator[str]:
        """The container's output (stdout and stderr), line by line (with newlines): the
        last ``tail`` lines, of those only the ones written at or after ``since`` (epoch
        seconds); with ``timestamps`` each line starts with the time it was written and a
        space, as the kubelet stamps them (``gitkube.model.times.rfc3339_nano``:
        ``2026-01-02T03:04:05.123456789Z hello``)."""
        ...

    def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        """Run a command in a running container (probes)."""
        ...

    def exec_stream(self, container_id: str, command: list[str],
                    options: StreamOptions) -> ProcessStream:
        """Start ``command`` in a running container with the streams ``options`` asks for."""
        ...

    def attach(self, container_id: str, options: StreamOptions) -> ProcessStream:
        """The streams of a running container's main process."""
        ...

    def connect_port(self, container_id: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to ``port`` on the loopback of the container's network namespace
        (so ports the pod does not publish are reached too); connected, blocking."""
        ...

    def close(self) -> None:
        """Release connections (and stop an engine service this runtime started)."""
        ...
