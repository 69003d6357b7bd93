"""A restarted container waits (briefly) for its predecessor to free the pod's address."""

from __future__ import annotations

from typing import cast

import pytest

from gitkube.agents.kubelet import executor
from gitkube.agents.kubelet.executor import start_keeping_address
from gitkube.runtime.base import (
    ADDRESS_TAKEN,
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    RuntimeFailure,
)

OLD = ContainerInfo(id="a" * 64, name="old", sandbox_id="sb", labels={}, state="exited")


class Flaky:
    """start_container fails ``failures`` times, naming ``holder`` as the address's owner."""

    def __init__(self, failures: int, holder: str):
        self.failures, self.holder, self.calls = failures, holder, 0

    def start_container(self, cid: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeFailure(f"podman POST /containers/{cid}/start: IPAM error: requested "
                                 f"ip address 10.0.0.5 is {ADDRESS_TAKEN} to container ID "
                                 f"{self.holder}")


def start(runtime: Flaky, ip: str = "10.0.0.5") -> None:
    spec = ContainerSpec(name="new", image="img", labels={}, ip=ip)
    # start_keeping_address calls nothing but start_container
    start_keeping_address(cast(ContainerRuntime, runtime), "cid", spec, [OLD])


class Clock:
    """The executor module's time: sleeping advances it, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("gitkube.agents.kubelet.executor.time", fake)
    return fake


def test_it_tries_again_while_the_predecessor_holds_the_address() -> None:
    runtime = Flaky(3, OLD.id)
    start(runtime)
    assert runtime.calls == 4


@pytest.mark.parametrize(("holder", "ip"), [("b" * 64, "10.0.0.5"), (OLD.id, "")])
def test_another_holder_or_no_address_asked_fails_at_once(holder: str, ip: str) -> None:
    runtime = Flaky(1, holder)
    with pytest.raises(RuntimeFailure):
        start(runtime, ip)
    assert runtime.calls == 1


def test_it_gives_up_after_the_wait(clock: Clock) -> None:
    runtime = Flaky(1000, OLD.id)
    with pytest.raises(RuntimeFailure):
        start(runtime)
    assert clock.now == pytest.approx(executor.ADDRESS_WAIT, abs=0.11)
    assert 25 <= runtime.calls <= 32  # every 0.1 s of the wait
