"""The built-in plugins (one concern per module)."""

from gitkube.agents.scheduler.plugins.affinity import NodeAffinity
from gitkube.agents.scheduler.plugins.node import NodeReady, NodeUnschedulable, TaintToleration
from gitkube.agents.scheduler.plugins.ports import NodePorts
from gitkube.agents.scheduler.plugins.resources import (
    BalancedAllocation,
    LeastAllocated,
    MostAllocated,
    NodeResourcesFit,
)

BUILTIN = (NodeUnschedulable, NodeReady, TaintToleration, NodeAffinity, NodePorts,
           NodeResourcesFit, LeastAllocated, MostAllocated, BalancedAllocation)

__all__ = [
    "BUILTIN",
    "BalancedAllocation",
    "LeastAllocated",
    "MostAllocated",
    "NodeAffinity",
    "NodePorts",
    "NodeReady",
    "NodeResourcesFit",
    "NodeUnschedulable",
    "TaintToleration",
]
