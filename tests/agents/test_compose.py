"""The composition root: one table of agents, one Settings, and every entry point composing
through them (the daemon, ``gitkube watch``, ``apply --wait``)."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.compose import AGENTS, CONTROLLERS, AgentSet, compose
from gitkube.agents.controllers.eventttl import EventExpiry
from gitkube.agents.dns import DnsAgent
from gitkube.agents.kubelet.agent import Kubelet
from gitkube.agents.manager import Manager
from gitkube.agents.proxy import ProxyAgent
from gitkube.api.local import LocalClient
from gitkube.errors import UsageError
from gitkube.runtime.network import remove_service_range
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.settings import Settings
from gitkube.store import open_store


@pytest.fixture
def settings(_isolated_state_dir: Path) -> Settings:
    return Settings.from_env(os.environ)


def _client() -> LocalClient:
    return LocalClient(open_store("memory://"))


def test_every_agent_of_the_table_is_composed(settings: Settings) -> None:
    agents = AgentSet(_client(), settings, SimulatedRuntime()).agents
    assert len(agents) == len(AGENTS)
    assert isinstance(agents[0], Kubelet)  # first: its heartbeat precedes node lifecycle
    for kind in (EventExpiry, ProxyAgent, DnsAgent):
        assert sum(isinstance(a, kind) for a in agents) == 1, kind


def test_settings_turn_agents_off(settings: Settings) -> None:
    quiet = dataclasses.replace(settings, services=False)
    agents = AgentSet(_client(), quiet, None).agents
    assert not any(isinstance(a, Kubelet | ProxyAgent | DnsAgent) for a in agents)
    assert len(agents) == len(AGENTS) - 3


def test_the_kubelet_is_configured_by_the_settings(settings: Settings) -> None:
    custom = dataclasses.replace(settings, node_name="n1", network=dataclasses.replace(
        settings.network, name="podnet", subnet="10.250.3.0/24"))
    kubelet = AgentSet(_client(), custom, SimulatedRuntime()).kubelet
    assert kubelet is not None and kubelet.node_name == "n1"
    assert kubelet.config.network == custom.network
    assert kubelet.config.root_dir == custom.state_dir / "kubelet"
    off = dataclasses.replace(settings, network=dataclasses.replace(settings.network, name=""))
    kubelet = AgentSet(_client(), off, SimulatedRuntime()).kubelet
    assert kubelet is not None and kubelet.config.network is None


def test_the_proxy_and_dns_use_the_settings_service_range(settings: Settings) -> None:
    custom = dataclasses.replace(settings, network=dataclasses.replace(
        settings.network, service_cidr="10.251.7.0/24"))
    agents = compose(Manager(_client()), custom, names=["proxy", "dns"])
    proxy = next(a for a in agents if isinstance(a, ProxyAgent))
    dns = next(a for a in agents if isinstance(a, DnsAgent))
    assert proxy.cidr == "10.251.7.0/24"
    assert dns.network.dns_service_ip == "10.251.7.10"


def test_only_named_agents(settings: Settings) -> None:
    assert len(compose(Manager(_client()), settings, names=CONTROLLERS)) == len(CONTROLLERS)


def test_an_unknown_agent_is_a_usage_error(settings: Settings) -> None:
    with pytest.raises(UsageError, match="unknown agent 'nope'") as info:
        compose(Manager(_client()), settings, names=["deployment", "nope"])
    assert info.value.hint is not None and "eventttl" in info.value.hint


# --- every entry point composes through the table ---------------------------------------


@pytest.fixture
def node_settings(settings: Settings) -> Iterator[Settings]:
    """The settings of a node with a simulated runtime, no proxy or DNS (they would bind
    port 53), and a service range of the test's own (the kubelet routes it locally)."""
    cidr = f"10.254.{random.randint(10, 240)}.0/24"
    yield dataclasses.replace(settings, runtime="simulated", services=False,
                              network=dataclasses.replace(settings.network, service_cidr=cidr))
    remove_service_range(cidr)


def test_the_daemon_runs_every_agent_with_its_settings(node_settings: Settings) -> None:
    """Before: the daemon's kubelet got no pod network (pods had no cluster DNS and no
    service variables) and no Event expiry ran."""
    from gitkube.daemon.daemon import Daemon, ServeOptions

    daemon = Daemon(ServeOptions(settings=node_settings, listen="none"))
    daemon.start()
    try:
        agents: Any = daemon.agents
        assert agents is not None
        assert len(agents.agents) == len(AGENTS) - 2  # services off: no proxy and DNS
        assert any(isinstance(a, EventExpiry) for a in agents.agents)
        assert agents.kubelet.config.network == node_settings.network
    finally:
        daemon.stop()


def test_watch_runs_every_agent_with_its_settings(node_settings: Settings) -> None:
    from gitkube.gitops.connect import connect
    from gitkube.gitops.watch import EmbeddedAgents

    said: list[str] = []
    runner = EmbeddedAgents(connect(node_settings), said.append)
    runner.start()
    try:
        assert runner.agents is not None, said
        assert len(runner.agents.agents) == len(AGENTS) - 2
        assert any(isinstance(a, EventExpiry) for a in runner.agents.agents)
        kubelet = runner.agents.kubelet
        assert kubelet is not None and kubelet.config.network == node_settings.network
    finally:
        runner.stop()
