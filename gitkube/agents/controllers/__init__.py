"""The controllers (the seed's controller-manager): one module per kind, each with a pure
"what should exist" core and a ``controller(manager, ...) -> Controller`` factory.

``build_controllers(manager)`` makes every one of them on a Manager's shared informers and
adds them to it::

    manager = Manager(client)
    build_controllers(manager, ControllerSettings(node_grace_period=40))
    manager.start()
"""

from __future__ import annotations

from dataclasses import dataclass

from gitkube.agents.manager import Agent, Manager


@dataclass(frozen=True)
class ControllerSettings:
    """Tunables, with upstream's defaults."""

    node_grace_period: float = 40.0      # heartbeat age after which a node is NotReady
    pod_eviction_timeout: float = 300.0  # unreachable this long: pods are evicted
    node_monitor_period: float = 5.0     # how often node health is re-checked
    job_backoff_base: float = 10.0       # Job pod re-creation back-off: base * 2^(n-1)
    job_backoff_max: float = 360.0
    event_ttl: float = 3600.0            # Events last seen longer ago are deleted
    event_sweep_period: float = 600.0


NAMES = ("deployment", "replicaset", "statefulset", "daemonset", "job", "endpoints", "gc",
         "namespace", "nodelifecycle", "eventttl")


def build_controllers(manager: Manager, settings: ControllerSettings | None = None, *,
                      only: tuple[str, ...] = NAMES) -> list[Agent]:
    """Every controller (or those named in ``only``), added to ``manager``."""
    from gitkube.agents.controllers import (
        daemonset,
        deployment,
        endpoints,
        eventttl,
        gc,
        job,
        namespace,
        nodelifecycle,
        replicaset,
        statefulset,
    )

    s = settings or ControllerSettings()
    made: list[Agent] = []
    for name in only:
        ctl: Agent
        if name == "deployment":
            ctl = deployment.controller(manager)
        elif name == "replicaset":
            ctl = replicaset.controller(manager)
        elif name == "statefulset":
            ctl = statefulset.controller(manager)
        elif name == "daemonset":
            ctl = daemonset.controller(manager)
        elif name == "job":
            ctl = job.controller(manager, backoff_base=s.job_backoff_base,
                                 backoff_max=s.job_backoff_max)
        elif name == "endpoints":
            ctl = endpoints.controller(manager)
        elif name == "gc":
            ctl = gc.controller(manager)
        elif name == "namespace":
            ctl = namespace.controller(manager)
        elif name == "nodelifecycle":
            ctl = nodelifecycle.controller(manager, grace_period=s.node_grace_period,
                                           eviction_timeout=s.pod_eviction_timeout,
                                           monitor_period=s.node_monitor_period)
        elif name == "eventttl":
            ctl = eventttl.controller(manager, ttl=s.event_ttl, period=s.event_sweep_period)
        else:
            raise ValueError(f"unknown controller {name!r}: choose from {', '.join(NAMES)}")
        manager.add(ctl)
        made.append(ctl)
    return made


__all__ = ["NAMES", "ControllerSettings", "build_controllers"]
