"""The cluster DNS add-on: ``cluster.local`` records from Services and Endpoints (agent.py)."""

from gitkube.agents.dns.agent import DnsAgent, DnsConfig, build

__all__ = ["DnsAgent", "DnsConfig", "build"]
