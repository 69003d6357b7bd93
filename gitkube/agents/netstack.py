"""The node's service networking, as composed by ``converge.build_agents``.

- ``pod_network()``: the NetworkConfig the kubelet puts pods on (``$GITKUBE_POD_NETWORK``,
  default ``gitkube0``; empty: none, pods stay on Podman's default network);
- ``network_agents(manager, network)``: the proxy agent and the cluster DNS add-on.
  ``$GITKUBE_SERVICES=0`` leaves both out. ``$GITKUBE_PROXY_MODE`` (``proxy_backend()``)
  chooses how the proxy forwards ClusterIP TCP ports: ``auto`` (the default: the kernel
  where nftables works), ``kernel`` or ``userspace`` (every connection through the proxy's
  data plane, which tries the next endpoint when one refuses).
"""

from __future__ import annotations

import os
from typing import Literal, cast

from gitkube.agents.dns import DnsAgent
from gitkube.agents.manager import Agent, Manager
from gitkube.agents.proxy import ProxyAgent, ProxyConfig
from gitkube.errors import GitkubeError
from gitkube.runtime.network import NetworkConfig

SERVICES_ENV = "GITKUBE_SERVICES"
PROXY_MODE_ENV = "GITKUBE_PROXY_MODE"
PROXY_MODES = ("auto", "kernel", "userspace")


def proxy_backend() -> Literal["auto", "kernel", "userspace"]:
    """The proxy mode from ``$GITKUBE_PROXY_MODE`` (default ``auto``); GitkubeError for
    anything else."""
    value = os.environ.get(PROXY_MODE_ENV, "").strip().lower() or "auto"
    if value not in PROXY_MODES:
        raise GitkubeError(f"{PROXY_MODE_ENV}={os.environ.get(PROXY_MODE_ENV)!r} is not a "
                           f"proxy mode",
                           hint=f"set it to one of {', '.join(PROXY_MODES)} (or unset it)")
    return cast(Literal["auto", "kernel", "userspace"], value)


def pod_network() -> NetworkConfig | None:
    """The pod network from the environment, or None when disabled."""
    config = NetworkConfig.from_env()
    return config if config.name else None


def network_agents(manager: Manager, network: NetworkConfig | None) -> list[Agent]:
    """The proxy and the DNS add-on on ``manager`` (not added: the caller adds them)."""
    if os.environ.get(SERVICES_ENV, "1") == "0":
        return []
    proxy = ProxyAgent(manager, ProxyConfig(backend=proxy_backend()))
    return [proxy, DnsAgent(manager, network=network)]


__all__ = ["PROXY_MODES", "PROXY_MODE_ENV", "SERVICES_ENV", "network_agents", "pod_network",
           "proxy_backend"]
