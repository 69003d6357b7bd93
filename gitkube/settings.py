"""Every setting a user can change, read once at an entry point and passed down.

The CLI builds one :class:`Settings` per command from the environment
(``Settings.from_env(os.environ)``) and its flags (``dataclasses.replace``), and hands it —
or the part a layer needs — to what it calls. Nothing below the entry points reads the
environment (tests/test_layers.py enforces this), so a daemon, ``gitkube watch`` and
``apply --wait`` started with the same settings behave the same, and a test or a benchmark
configures gitkube by building a Settings, not by changing the process environment.

=============================  =================================  ==========================
variable                       field                              default
=============================  =================================  ==========================
``GITKUBE_STATE_DIR``          ``state_dir``                      ``$XDG_STATE_HOME/gitkube``
                                                                  (``~/.local/state/...``)
``GITKUBE_STORE``              ``store``                          SQLite file in state_dir
``GITKUBE_NO_DAEMON``          ``no_daemon``                      off
``GITKUBE_AUTHOR``             ``author``                         the login name
``GITKUBE_MAX_FILE_BYTES``     ``max_file_bytes``                 4 MiB
``GITKUBE_JOBS``               ``jobs``                           cores, at most 8
``GITKUBE_PODMAN_URL``         ``podman_url``                     a service gitkube starts
``GITKUBE_PODMAN_LINGER``      ``podman_linger``                  120 s (at least 1)
``GITKUBE_POD_NETWORK``        ``network.name``                   ``gitkube0`` ("" = Podman's)
``GITKUBE_POD_SUBNET``         ``network.subnet``                 ``10.244.0.0/16``
``GITKUBE_SERVICE_CIDR``       ``network.service_cidr``           ``10.96.0.0/16``
``GITKUBE_CLUSTER_DOMAIN``     ``network.domain``                 ``cluster.local``
``GITKUBE_SERVICES``           ``services`` (proxy and DNS)       on (``0`` = off)
``GITKUBE_PROXY_MODE``         ``proxy_mode``                     ``auto``
``GITKUBE_EVENT_TTL``          ``controllers.event_ttl``          3600 s
``GITKUBE_MAX_PODS``           ``controllers.max_pods``           5000
``GITKUBE_POD_CREATE_RATE``    ``controllers.pod_create_rate``    500 per workload per s
``GITKUBE_SERVER``             ``server`` (API servers, not store) none
``GITKUBE_TOKEN``              ``token`` (for ``server``)         none
``GITKUBE_CA``                 ``ca`` (CA files for ``server``)   the system's CAs
``GITKUBE_AGGREGATED_DISCOVERY`` ``aggregated_discovery``        on (``0`` = off)
=============================  =================================  ==========================

A value that cannot be used is one GitkubeError naming the variable, with a hint; it stops
the command before anything is written.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from gitkube.errors import GitkubeError, UsageError
from gitkube.model.network import DEFAULT_DOMAIN, DEFAULT_SERVICE_CIDR, NetworkConfig

STATE_ENV = "GITKUBE_STATE_DIR"
STORE_ENV = "GITKUBE_STORE"
NO_DAEMON_ENV = "GITKUBE_NO_DAEMON"
AUTHOR_ENV = "GITKUBE_AUTHOR"
MAX_FILE_ENV = "GITKUBE_MAX_FILE_BYTES"
JOBS_ENV = "GITKUBE_JOBS"
PODMAN_URL_ENV = "GITKUBE_PODMAN_URL"
PODMAN_LINGER_ENV = "GITKUBE_PODMAN_LINGER"
NETWORK_ENV = "GITKUBE_POD_NETWORK"
SUBNET_ENV = "GITKUBE_POD_SUBNET"
SERVICE_CIDR_ENV = "GITKUBE_SERVICE_CIDR"
DOMAIN_ENV = "GITKUBE_CLUSTER_DOMAIN"
SERVICES_ENV = "GITKUBE_SERVICES"
AGGREGATED_DISCOVERY_ENV = "GITKUBE_AGGREGATED_DISCOVERY"
PROXY_MODE_ENV = "GITKUBE_PROXY_MODE"
EVENT_TTL_ENV = "GITKUBE_EVENT_TTL"
MAX_PODS_ENV = "GITKUBE_MAX_PODS"
POD_RATE_ENV = "GITKUBE_POD_CREATE_RATE"
SERVER_ENV = "GITKUBE_SERVER"
TOKEN_ENV = "GITKUBE_TOKEN"
CA_ENV = "GITKUBE_CA"

DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024
DEFAULT_PODMAN_LINGER = 120
ProxyMode = Literal["auto", "kernel", "userspace"]
PROXY_MODES: tuple[ProxyMode, ...] = ("auto", "kernel", "userspace")
RuntimeName = Literal["podman", "simulated"]


@dataclass(frozen=True)
class ControllerSettings:
    """The controllers' tunables, with upstream's defaults."""

    node_grace_period: float = 40.0      # heartbeat age after which a node is NotReady
    pod_eviction_timeout: float = 300.0  # unreachable this long: pods are evicted
    node_monitor_period: float = 5.0     # how often node health is re-checked
    job_backoff_base: float = 10.0       # Job pod re-creation back-off: base * 2^(n-1)
    job_backoff_max: float = 360.0
    event_ttl: float = 3600.0            # Events last seen longer ago are deleted
    event_sweep_period: float = 600.0    # how often expired Events are looked for
    max_pods: int = 5000                 # pods the controllers stop creating at (a typo guard)
    pod_create_rate: float = 500.0       # pods one workload may create per second

    def with_event_ttl(self, ttl: float) -> ControllerSettings:
        """``event_ttl = ttl``, looked for every tenth of it (at least every second, at
        most every ``event_sweep_period``): an Event outlives its TTL by at most 10%."""
        return replace(self, event_ttl=ttl,
                       event_sweep_period=max(1.0, min(self.event_sweep_period, ttl / 10)))


@dataclass(frozen=True)
class KubeletSettings:
    """The local kubelet's tunables (its node name, root directory and pod network come
    from ``Settings``), with upstream's defaults where upstream has one."""

    cpu: str | None = None          # the node's cpu capacity (None: the host's)
    memory: str | None = None       # the node's memory capacity (None: the host's)
    pods: int = 110
    address: str = "127.0.0.1"      # the node's InternalIP (hostIP of its pods)
    heartbeat_interval: float = 10.0
    backoff_base: float = 10.0      # CrashLoopBackOff: base * 2^(n-1), at most backoff_max
    backoff_max: float = 300.0
    workers: int = 8                # pods synced in parallel
    relist_period: float = 1.0      # how often the runtime's containers are listed
    resync_period: float = 10.0     # how often every pod is synced anyway
    labels: Mapping[str, str] = field(default_factory=dict)          # on the Node
    runtime_labels: Mapping[str, str] = field(default_factory=dict)  # on every container


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Leader election of the singleton agents (scheduler, controllers) through Leases in
    ``kube-system``, with upstream's defaults. ``enabled`` is turned on by ``gitkube serve``
    (its ``--leader-elect`` flags); ``identity`` names this process in the Leases (None:
    the host name and a random suffix). A leader stops acting ``renew_deadline`` after its
    last successful renewal began, before any other candidate may take over
    (``lease_duration`` after it saw that renewal)."""

    enabled: bool = False
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None

    def check(self) -> None:
        """GitkubeError unless retry_period < renew_deadline < lease_duration (whole
        seconds: a Lease stores its duration in seconds)."""
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise GitkubeError(
                f"leader election: retry period {self.retry_period:g}s, renew deadline "
                f"{self.renew_deadline:g}s and lease duration {self.lease_duration:g}s must "
                "grow in that order", hint="e.g. --leader-elect-retry-period 2s "
                "--leader-elect-renew-deadline 10s --leader-elect-lease-duration 15s")
        if self.lease_duration != int(self.lease_duration):
            raise GitkubeError(f"leader election: lease duration {self.lease_duration:g}s "
                               "is not a whole number of seconds",
                               hint="a Lease stores leaseDurationSeconds as an integer")


@dataclass(frozen=True)
class Settings:
    """What one gitkube process runs with (see the module docstring)."""

    state_dir: Path
    store: str | None = None          # None: the SQLite file in ``state_dir``
    no_daemon: bool = False           # never route through a running daemon
    author: str = "unknown"           # who ``apply`` records in the history
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    jobs: int = 1                     # processes that parse manifests
    podman_url: str | None = None     # an existing Podman API service to use
    podman_linger: int = DEFAULT_PODMAN_LINGER  # s a CLI-started Podman service outlives use
    network: NetworkConfig = field(default_factory=NetworkConfig)
    services: bool = True             # run the proxy and the cluster DNS
    proxy_mode: ProxyMode = "auto"
    controllers: ControllerSettings = field(default_factory=ControllerSettings)
    kubelet: KubeletSettings = field(default_factory=KubeletSettings)
    runtime: RuntimeName = "podman"   # the kubelet's container runtime
    node_name: str | None = None      # the local kubelet's node (None: the host name)
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    server: str | None = None         # API servers to use (comma-separated URLs), not a store
    token: str | None = None          # bearer token for ``server``
    ca: str | None = None             # CA files for ``server`` (comma-separated)
    aggregated_discovery: bool = True  # /api and /apis answer APIGroupDiscoveryList

    @property
    def store_url(self) -> str:
        """The store to open: ``store``, else ``sqlite:///<state_dir>/state.db``."""
        return self.store or f"sqlite:///{self.state_dir / 'state.db'}"

    @property
    def cache_dir(self) -> Path:
        """Content-addressed caches (parsed and validated manifests by git blob id)."""
        return self.state_dir / "cache"

    @property
    def kubelet_dir(self) -> Path:
        """The local kubelet's volumes, claims and termination messages."""
        return self.state_dir / "kubelet"

    @property
    def podman_dir(self) -> Path:
        """The Podman API service gitkube starts: its socket, PID file and containers.conf."""
        return self.state_dir / "podman"

    def with_store(self, store: str | None) -> Settings:
        """The same settings with ``--store`` applied (None keeps the current store)."""
        return self if store is None else replace(self, store=store)

    @classmethod
    def defaults(cls, state_dir: Path) -> Settings:
        """Every default, with the state under ``state_dir`` (tests, benchmarks)."""
        return cls(state_dir=state_dir, jobs=_cores())

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, home: Path | None = None) -> Settings:
        """The settings an environment (normally ``os.environ``) describes. Raises a
        GitkubeError naming the variable for a value that cannot be used."""
        return cls(
            state_dir=state_dir_from(env, home=home),
            store=env.get(STORE_ENV) or None,
            no_daemon=env.get(NO_DAEMON_ENV, "") not in ("", "0"),
            author=env.get(AUTHOR_ENV) or _login_name(),
            max_file_bytes=_max_file_bytes(env.get(MAX_FILE_ENV, "")),
            jobs=_jobs(env.get(JOBS_ENV, "")),
            podman_url=env.get(PODMAN_URL_ENV) or None,
            podman_linger=_linger(env.get(PODMAN_LINGER_ENV)),
            network=_network(env),
            services=env.get(SERVICES_ENV, "1") != "0",
            proxy_mode=proxy_mode(env.get(PROXY_MODE_ENV)),
            controllers=_controllers(env),
            server=env.get(SERVER_ENV) or None,
            token=env.get(TOKEN_ENV) or None,
            ca=env.get(CA_ENV) or None,
            aggregated_discovery=env.get(AGGREGATED_DISCOVERY_ENV, "1") != "0",
        )


def state_dir_from(env: Mapping[str, str], *, home: Path | None = None) -> Path:
    """``$GITKUBE_STATE_DIR``, else ``$XDG_STATE_HOME/gitkube``, else
    ``~/.local/state/gitkube``."""
    explicit = env.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    xdg = env.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else (home or Path.home()) / ".local" / "state"
    return base / "gitkube"


def proxy_mode(raw: str | None) -> ProxyMode:
    """``$GITKUBE_PROXY_MODE`` read: ``auto`` (empty or unset), ``kernel`` or ``userspace``,
    in any case and with spaces around; GitkubeError for anything else."""
    value = (raw or "").strip().lower() or "auto"
    if value not in PROXY_MODES:
        raise GitkubeError(f"{PROXY_MODE_ENV}={raw!r} is not a proxy mode",
                           hint=f"set it to one of {', '.join(PROXY_MODES)} (or unset it)")
    return value


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _max_file_bytes(raw: str) -> int:
    try:
        return int(raw) if raw else DEFAULT_MAX_FILE_BYTES
    except ValueError as err:
        raise UsageError(f"{MAX_FILE_ENV}={raw!r} is not a number of bytes") from err


def _cores() -> int:
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:
        return max(1, min(8, os.cpu_count() or 1))


def _jobs(raw: str) -> int:
    return int(raw) if raw.isdigit() and int(raw) > 0 else _cores()


def _linger(raw: str | None) -> int:
    """0 would mean "never exit" to Podman: the floor is 1 s; junk means the default."""
    try:
        return max(1, int(raw if raw is not None else DEFAULT_PODMAN_LINGER))
    except ValueError:
        return DEFAULT_PODMAN_LINGER


def _network(env: Mapping[str, str]) -> NetworkConfig:
    cidr = env.get(SERVICE_CIDR_ENV) or DEFAULT_SERVICE_CIDR
    subnet = env.get(SUBNET_ENV) or NetworkConfig.subnet
    for name, value in ((SERVICE_CIDR_ENV, cidr), (SUBNET_ENV, subnet)):
        try:
            ipaddress.IPv4Network(value, strict=False)
        except ValueError as err:
            raise GitkubeError(f"{name}={value!r} is not an IPv4 network",
                               hint="give a CIDR such as 10.96.0.0/16 (or unset it)") from err
    return NetworkConfig(name=env.get(NETWORK_ENV, NetworkConfig.name), subnet=subnet,
                         service_cidr=str(ipaddress.IPv4Network(cidr, strict=False)),
                         domain=env.get(DOMAIN_ENV) or DEFAULT_DOMAIN)


def _controllers(env: Mapping[str, str]) -> ControllerSettings:
    s = ControllerSettings()
    raw = env.get(EVENT_TTL_ENV, "")
    if raw:
        s = s.with_event_ttl(parse_duration(raw, EVENT_TTL_ENV))
    if env.get(MAX_PODS_ENV):
        s = replace(s, max_pods=int(_positive(env[MAX_PODS_ENV], MAX_PODS_ENV)))
    if env.get(POD_RATE_ENV):
        s = replace(s, pod_create_rate=_positive(env[POD_RATE_ENV], POD_RATE_ENV))
    return s


def _positive(raw: str, what: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise GitkubeError(f"{what}={raw!r} is not a positive number",
                           hint="give a number above 0 (or unset it)")
    return value


def parse_duration(raw: str, what: str) -> float:
    """``90``, ``90s``, ``5m`` or ``1h`` in seconds (> 0); GitkubeError naming ``what``."""
    text = raw.strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(text[-1:], 0.0)
    number = text[:-1] if scale else text
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise GitkubeError(f"{what}={raw!r} is not a duration",
                           hint="give seconds (90), or 90s, 5m, 1h")
    return seconds


__all__ = [
    "AUTHOR_ENV",
    "CA_ENV",
    "DOMAIN_ENV",
    "EVENT_TTL_ENV",
    "JOBS_ENV",
    "MAX_FILE_ENV",
    "MAX_PODS_ENV",
    "NETWORK_ENV",
    "NO_DAEMON_ENV",
    "PODMAN_LINGER_ENV",
    "PODMAN_URL_ENV",
    "POD_RATE_ENV",
    "PROXY_MODES",
    "PROXY_MODE_ENV",
    "SERVER_ENV",
    "SERVICES_ENV",
    "SERVICE_CIDR_ENV",
    "STATE_ENV",
    "STORE_ENV",
    "SUBNET_ENV",
    "TOKEN_ENV",
    "ControllerSettings",
    "KubeletSettings",
    "LeaderElectionSettings",
    "NetworkConfig",
    "ProxyMode",
    "RuntimeName",
    "Settings",
    "parse_duration",
    "proxy_mode",
    "state_dir_from",
]
