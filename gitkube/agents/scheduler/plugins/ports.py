"""NodePorts: a pod asking for a hostPort goes only where that (hostIP, protocol, port) is
free among the node's pods (bound and assumed)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from gitkube.agents.scheduler.framework import SKIP, SUCCESS, CycleState, Status
from gitkube.agents.scheduler.types import NodeInfo, PodInfo, ports_conflict

ERR_REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"


class NodePorts:
    name = "NodePorts"

    def __init__(self, args: Mapping[str, Any] | None = None):
        pass

    def signature(self, pod: PodInfo) -> Hashable:
        return pod.host_ports

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return SUCCESS if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        used = node_info.used_ports
        if used and any(ports_conflict(want, have) for want in pod.host_ports
                        for have in used):
            return Status.unschedulable(ERR_REASON_PORTS)
        return SUCCESS


__all__ = ["ERR_REASON_PORTS", "NodePorts"]
