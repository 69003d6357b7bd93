"""The composition root: every agent gitkube runs, by name, built from one Settings.

``AGENTS`` is the one table of agents (name -> factory, in start order). Every way gitkube
runs agents composes through it — the daemon (``gitkube serve``/``up``), ``gitkube watch``,
``apply --wait`` and ``delete --wait``, ``gitkube agent kubelet``, benchmarks and tests::

    runtime = open_runtime(settings)                 # None: no kubelet (--no-kubelet)
    with AgentSet(client, settings, runtime) as agents:
        agents.wait_initial_sync(timeout)            # the kubelet re-synced what it had
        ...

- **A new agent**: a factory ``(Parts) -> Agent | None`` here (None: the settings turn it
  off), added to ``AGENTS`` at its place in the start order. Nothing else changes: every
  entry point runs it.
- **A new setting**: a field of ``gitkube.settings.Settings`` (its variable, if any, read in
  ``Settings.from_env``; a flag, if any, applied by the command), read by the factories
  here and passed down as a plain value. Nothing below the entry points reads the
  environment.

The kubelet comes first: it refreshes its Node's heartbeat before the node-lifecycle
controller looks at it. It runs only with a container runtime; the proxy and the cluster
DNS run unless ``settings.services`` is off.
"""

from __future__ import annotations

import functools
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType

from gitkube.agents.controllers import (
    cronjob,
    daemonset,
    deployment,
    disruption,
    endpoints,
    endpointslice,
    eventttl,
    gc,
    job,
    namespace,
    nodelifecycle,
    priorityclass,
    replicaset,
    resourcequota,
    statefulset,
    ttlafterfinished,
)
from gitkube.agents.controllers.budget import PodBudget
from gitkube.agents.dns import DnsAgent
from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
from gitkube.agents.leaderelection import ElectedGroup
from gitkube.agents.manager import Agent, Clock, Manager
from gitkube.agents.proxy import ProxyAgent, ProxyConfig
from gitkube.agents.scheduler import build_scheduler
from gitkube.api.client import Client
from gitkube.errors import UsageError
from gitkube.runtime.base import ContainerRuntime
from gitkube.settings import Settings


@dataclass(frozen=True)
class Parts:
    """What a factory builds its agent from."""

    manager: Manager
    settings: Settings
    runtime: ContainerRuntime | None  # None: this process runs no kubelet
    budget: PodBudget  # the pods every controller together may create (a typo guard)


Factory = Callable[[Parts], Agent | None]


def kubelet_config(settings: Settings) -> KubeletConfig:
    """The local kubelet's configuration: its node name, root directory and pod network, and
    the tunables of ``settings.kubelet``."""
    k = settings.kubelet
    return KubeletConfig(
        node_name=settings.node_name or socket.gethostname(), root_dir=settings.kubelet_dir,
        network=settings.network if settings.network.enabled else None,
        cpu=k.cpu, memory=k.memory, pods=k.pods, address=k.address,
        heartbeat_interval=k.heartbeat_interval, backoff_base=k.backoff_base,
        backoff_max=k.backoff_max, workers=k.workers, relist_period=k.relist_period,
        resync_period=k.resync_period, labels=dict(k.labels),
        runtime_labels=dict(k.runtime_labels))


def _kubelet(p: Parts) -> Agent | None:
    if p.runtime is None:
        return None
    return Kubelet(p.manager, p.runtime, kubelet_config(p.settings))


def _proxy(p: Parts) -> Agent | None:
    if not p.settings.services:
        return None
    return ProxyAgent(p.manager, ProxyConfig(backend=p.settings.proxy_mode,
                                             service_cidr=p.settings.network.service_cidr))


def _dns(p: Parts) -> Agent | None:
    return DnsAgent(p.manager, network=p.settings.network) if p.settings.services else None


def _job(p: Parts) -> Agent:
    s = p.settings.controllers
    return job.controller(p.manager, backoff_base=s.job_backoff_base,
                          backoff_max=s.job_backoff_max, budget=p.budget)


def _nodelifecycle(p: Parts) -> Agent:
    s = p.settings.controllers
    return nodelifecycle.controller(p.manager, grace_period=s.node_grace_period,
                                    eviction_timeout=s.pod_eviction_timeout,
                                    monitor_period=s.node_monitor_period)


def _eventttl(p: Parts) -> Agent:
    s = p.settings.controllers
    return eventttl.controller(p.manager, ttl=s.event_ttl, period=s.event_sweep_period)


AGENTS: Mapping[str, Factory] = {
    "kubelet": _kubelet,
    "scheduler": lambda p: build_scheduler(p.manager.client, None, manager=p.manager),
    "deployment": lambda p: deployment.controller(p.manager),
    "replicaset": lambda p: replicaset.controller(p.manager, budget=p.budget),
    "statefulset": lambda p: statefulset.controller(p.manager, budget=p.budget),
    "daemonset": lambda p: daemonset.controller(p.manager, budget=p.budget),
    "job": _job,
    "endpoints": lambda p: endpoints.controller(p.manager),
    "endpointslice": lambda p: endpointslice.controller(p.manager),
    "replicationcontroller": lambda p: replicaset.controller(
        p.manager, budget=p.budget, kind="ReplicationController"),
    "gc": lambda p: gc.controller(p.manager),
    "namespace": lambda p: namespace.controller(p.manager),
    "nodelifecycle": _nodelifecycle,
    "eventttl": _eventttl,
    "cronjob": lambda p: cronjob.controller(p.manager),
    "ttlafterfinished": lambda p: ttlafterfinished.controller(p.manager),
    "priorityclass": lambda p: priorityclass.controller(p.manager),
    "disruption": lambda p: disruption.controller(p.manager),
    "resourcequota": lambda p: resourcequota.controller(p.manager),
    "proxy": _proxy,
    "dns": _dns,
}
CONTROLLERS = ("deployment", "replicaset", "statefulset", "daemonset", "job", "endpoints",
               "gc", "namespace", "nodelifecycle", "eventttl", "cronjob",
               "ttlafterfinished", "priorityclass", "disruption", "resourcequota",
               "endpointslice", "replicationcontroller")
NODE_AGENTS = ("kubelet",)  # what `gitkube agent kubelet` runs on a node
# With leader election on, these agents run only in the control plane holding the Lease
# (kube-system/<lease>); every other agent runs in every process that asks for it.
ELECTED: Mapping[str, tuple[str, ...]] = {
    "kube-scheduler": ("scheduler",),
    "kube-controller-manager": CONTROLLERS,
}


def compose(manager: Manager, settings: Settings, runtime: ContainerRuntime | None = None, *,
            names: Iterable[str] | None = None) -> list[Agent]:
    """The agents named in ``names`` (default: every one in ``AGENTS``) that the settings
    turn on, made on ``manager``'s shared informers and added to it, in ``AGENTS``' order.
    UsageError for a name not in the table."""
    wanted = list(AGENTS) if names is None else list(names)
    unknown = [n for n in wanted if n not in AGENTS]
    if unknown:
        raise UsageError(f"unknown agent {unknown[0]!r}",
                         hint=f"choose from {', '.join(AGENTS)}")
    pods = manager.informer("v1", "Pod")
    budget = PodBudget(max_pods=settings.controllers.max_pods,
                       rate=settings.controllers.pod_create_rate,
                       pods_now=lambda: len(pods.list_keys()), clock=time.monotonic)
    parts = Parts(manager, settings, runtime, budget)
    made: list[Agent] = []
    for name in AGENTS:
        if name in wanted:
            agent = AGENTS[name](parts)
            if agent is not None:
                manager.add(agent)
                made.append(agent)
    return made


def _build_group(manager: Manager, *, settings: Settings, runtime: ContainerRuntime | None,
                 names: tuple[str, ...]) -> list[Agent]:
    return compose(manager, settings, runtime, names=names)


def open_runtime(settings: Settings, *, linger: int | None = None) -> ContainerRuntime:
    """The container runtime ``settings.runtime`` names: Podman (its API service under the
    state directory, or ``settings.podman_url``) or the simulated one. ``linger``: a
    Podman service this starts outlives the runtime by that many idle seconds (a CLI
    command's next command finds it warm); None: ``close()`` stops it."""
    if settings.runtime == "simulated":
        from gitkube.runtime.simulated import SimulatedRuntime

        return SimulatedRuntime()
    from gitkube.runtime.podman import PodmanRuntime

    return PodmanRuntime(settings.podman_url, base_dir=settings.podman_dir, linger=linger)


class AgentSet:
    """A Manager with every agent the settings ask for, started and stopped as one.

    ``start()`` starts the informers, then the agents; ``stop()`` stops them (containers
    keep running: conmon supervises them, and the next kubelet adopts them). A context
    manager. The runtime belongs to the caller, who closes it."""

    def __init__(self, client: Client, settings: Settings,
                 runtime: ContainerRuntime | None = None, *,
                 names: Iterable[str] | None = None, clock: Clock | None = None):
        self.settings = settings
        self.runtime = runtime
        self.manager = Manager(client, clock=clock)
        wanted = list(AGENTS) if names is None else list(names)
        self.groups: list[ElectedGroup] = []
        election = settings.leader_election
        if election.enabled:
            identity = election.identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
            for lease, members in ELECTED.items():
                mine = tuple(n for n in wanted if n in members)
                if mine:
                    self.groups.append(ElectedGroup(
                        client, lease, identity, election,
                        functools.partial(_build_group, settings=settings, runtime=runtime,
                                          names=mine)))
            elected = {n for members in ELECTED.values() for n in members}
            wanted = [n for n in wanted if n not in elected]
        self.agents = compose(self.manager, settings, runtime, names=wanted)

    @property
    def kubelet(self) -> Kubelet | None:
        """The local kubelet, when this set runs one."""
        return next((a for a in self.agents if isinstance(a, Kubelet)), None)

    def start(self) -> AgentSet:
        self.manager.start()
        for group in self.groups:
            group.start()
        return self

    def wait_initial_sync(self, timeout: float) -> bool:
        """Wait until the kubelet synced every pod it found bound to its node at start (so
        their statuses are this run's, not a previous one's). True without a kubelet."""
        kubelet = self.kubelet
        return True if kubelet is None else kubelet.wait_initial_sync(timeout)

    def stop(self) -> None:
        """Stop every agent; a leader gives its Leases up (a successor starts at once)."""
        for group in self.groups:
            group.stop()
        self.manager.stop()

    def __enter__(self) -> AgentSet:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


__all__ = ["AGENTS", "CONTROLLERS", "ELECTED", "NODE_AGENTS", "AgentSet", "Factory", "Parts",
           "compose", "kubelet_config", "open_runtime"]
