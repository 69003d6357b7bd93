"""The node side of the network model: the service range routed locally (the safety net),
and the pod network's checks. Needs root (CAP_NET_ADMIN) for the route; changes nothing but
a route of its own, removed at the end."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gitkube.runtime.network import (
    NetworkConfig,
    NetworkError,
    bridge_name,
    ensure_service_range,
    is_local,
    prepare_node,
    remove_service_range,
    service_range_routed,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="routes need root")


@pytest.fixture
def cidr() -> Iterator[str]:
    value = f"10.251.{random.randint(100, 249)}.0/24"
    try:
        yield value
    finally:
        remove_service_range(value)


def test_service_range_is_local_until_removed(cidr: str) -> None:
    base = cidr.rsplit(".", 1)[0]
    ensure_service_range(cidr)
    ensure_service_range(cidr)  # idempotent
    assert service_range_routed(cidr)
    # every address of the range is this host's: nothing to it is ever forwarded
    assert all(is_local(f"{base}.{i}") for i in (1, 10, 200, 255))
    remove_service_range(cidr)
    assert not service_range_routed(cidr)


class FakeRuntime:
    """A NetworkDriver that records the networks asked for and reports ``subnets``."""

    def __init__(self, subnets: list[str]):
        self.subnets = subnets
        self.calls: list[tuple[Any, ...]] = []

    def ensure_network(self, name: str, subnet: str, gateway: str, labels: Mapping[str, str],
                       interface: str = "") -> list[str]:
        self.calls.append((name, subnet, gateway, interface))
        return self.subnets

    def remove_network(self, name: str) -> None:
        self.calls.append(("remove", name))


def test_prepare_node_creates_or_checks_the_pod_network(cidr: str) -> None:
    net = NetworkConfig(name="gkt-network-check", subnet="10.250.9.0/24", service_cidr=cidr)
    ok = FakeRuntime(["10.250.9.0/24"])
    prepare_node(ok, net)
    assert ok.calls == [("gkt-network-check", "10.250.9.0/24", "10.250.9.1",
                         bridge_name("gkt-network-check"))]
    assert len(bridge_name("gkt-network-check")) <= 15
    with pytest.raises(NetworkError, match=r"exists with subnet 10\.99\.0\.0/16"):
        prepare_node(FakeRuntime(["10.99.0.0/16"]), net)
