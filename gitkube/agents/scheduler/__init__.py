"""The scheduler: pending pods are bound to nodes by a plugin framework (see framework.py).

Public surface::

    from gitkube.agents.scheduler import SchedulerConfig, build_scheduler, default_registry

    registry = default_registry()
    registry.register("MyFilter", MyFilter)            # a user's own algorithm, by name
    config = SchedulerConfig.load("profile.yaml")      # or SchedulerConfig.bin_packing()
    manager.add(build_scheduler(client, config, manager=manager, registry=registry))
"""

from gitkube.agents.scheduler.config import SchedulerConfig, SchedulerConfigError, ScoreSpec
from gitkube.agents.scheduler.framework import (
    SKIP,
    SUCCESS,
    Code,
    CycleState,
    Framework,
    ScheduleResult,
    Status,
    default_normalize,
    fit_error_message,
    num_feasible_nodes_to_find,
)
from gitkube.agents.scheduler.profile import build_framework
from gitkube.agents.scheduler.registry import Registry, UnknownPlugin, default_registry
from gitkube.agents.scheduler.scheduler import Scheduler, Stats, build_scheduler
from gitkube.agents.scheduler.types import NodeInfo, PodInfo, Resources

__all__ = [
    "SKIP",
    "SUCCESS",
    "Code",
    "CycleState",
    "Framework",
    "NodeInfo",
    "PodInfo",
    "Registry",
    "Resources",
    "ScheduleResult",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerConfigError",
    "ScoreSpec",
    "Stats",
    "Status",
    "UnknownPlugin",
    "build_framework",
    "build_scheduler",
    "default_normalize",
    "default_registry",
    "fit_error_message",
    "num_feasible_nodes_to_find",
]
