"""The node's service networking, as composed by ``converge.build_agents`` (issue 9).

- ``pod_network()``: the NetworkConfig the kubelet puts pods on (``$GITKUBE_POD_NETWORK``,
  default ``gitkube0``; empty: none, pods stay on Podman's default network);
- ``network_agents(manager, network)``: the proxy agent and the cluster DNS add-on.
  ``$GITKUBE_SERVICES=0`` leaves both out.
"""

from __future__ import annotations

import os

from gitkube.agents.dns import DnsAgent
from gitkube.agents.proxy import ProxyAgent
from gitkube.agents.runtime import Agent, Manager
from gitkube.runtime.network import NetworkConfig

SERVICES_ENV = "GITKUBE_SERVICES"


def pod_network() -> NetworkConfig | None:
    """The pod network from the environment, or None when disabled."""
    config = NetworkConfig.from_env()
    return config if config.name else None


def network_agents(manager: Manager, network: NetworkConfig | None) -> list[Agent]:
    """The proxy and the DNS add-on on ``manager`` (not added: the caller adds them)."""
    if os.environ.get(SERVICES_ENV, "1") == "0":
        return []
    return [ProxyAgent(manager), DnsAgent(manager, network=network)]


__all__ = ["SERVICES_ENV", "network_agents", "pod_network"]
