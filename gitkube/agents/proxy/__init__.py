"""The proxy agent: Services' ClusterIPs and NodePorts on this node (see agent.py)."""

from gitkube.agents.proxy.agent import ProxyAgent, ProxyConfig, build

__all__ = ["ProxyAgent", "ProxyConfig", "build"]
