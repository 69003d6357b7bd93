"""One contract, two runtimes: what the kubelet relies on from Podman and the simulator."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from gitkube.errors import GitkubeError
from gitkube.model.times import parse_time_ns
from gitkube.runtime.base import (
    ADDRESS_TAKEN,
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    ImageError,
    RuntimeFailure,
    SandboxSpec,
)
from gitkube.runtime.network import bridge_name
from tests.runtime.runtime_env import MISSING_IMAGE, RUN_LABEL
from tests.support.containers import EXAMPLE_IMAGE


def _eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _name() -> str:
    return f"gk-ct-{uuid.uuid4().hex[:8]}"


def _sleeper(name: str, **labels: str) -> ContainerSpec:
    return ContainerSpec(name=name, image=EXAMPLE_IMAGE, labels={**RUN_LABEL, **labels},
                         entrypoint=("sleep", "300"))


def _state(rt: ContainerRuntime, cid: str) -> str:
    info = rt.inspect_container(cid)
    return info.state if info else "gone"


def test_images(runtime: ContainerRuntime) -> None:
    present = runtime.image(EXAMPLE_IMAGE)
    assert present is not None and present.id
    assert runtime.image(MISSING_IMAGE) is None
    with pytest.raises(ImageError):
        runtime.pull(MISSING_IMAGE)
    assert runtime.version()


def test_sandbox_lifecycle(runtime: ContainerRuntime) -> None:
    name = _name()
    labels = {**RUN_LABEL, "io.gitkube.case": name}
    sb = runtime.ensure_sandbox(SandboxSpec(name=name, labels=labels, hostname=name))
    assert sb.running and sb.ip and sb.name == name
    again = runtime.ensure_sandbox(SandboxSpec(name=name, labels=labels, hostname=name))
    assert again.id == sb.id and again.ip == sb.ip
    assert [s.id for s in runtime.list_sandboxes(labels)] == [sb.id]
    assert runtime.list_sandboxes({**labels, "io.gitkube.case": "other"}) == []
    runtime.remove_sandbox(sb.id, timeout=0)
    assert runtime.list_sandboxes(labels) == []
    runtime.remove_sandbox(sb.id, timeout=0)  # missing: no error


@pytest.mark.parametrize("timeout", [0, 3])
def test_removing_a_sandbox_stops_its_containers_within_one_grace_period(
        runtime: ContainerRuntime, timeout: int) -> None:
    """Two containers that ignore SIGTERM (sleep as PID 1) go within the pod's grace period,
    not one after the other (2 x the grace period), and at once with 0 (Podman's own pod
    stop reads 0 as its 10 s default)."""
    name = _name()
    sb = runtime.ensure_sandbox(SandboxSpec(name=name, labels={**RUN_LABEL}))
    for n in ("a", "b"):
        runtime.start_container(runtime.create_container(sb.id, _sleeper(f"{name}-{n}")))
    _eventually(lambda: {i.state for i in runtime.list_containers(RUN_LABEL)
                         if i.sandbox_id == sb.id} == {"running"})
    start = time.monotonic()
    runtime.remove_sandbox(sb.id, timeout=timeout)
    took = time.monotonic() - start
    assert sb.id not in {s.id for s in runtime.list_sandboxes(RUN_LABEL)}
    assert took < (2 * timeout or 10), f"removing took {took:.1f}s"


def test_container_lifecycle(runtime: ContainerRuntime) -> None:
    name = _name()
    sb = runtime.ensure_sandbox(SandboxSpec(name=name, labels={**RUN_LABEL}))
    try:
        cid = runtime.create_container(sb.id, _sleeper(f"{name}-a", case=name))
        other = runtime.create_container(sb.id, _sleeper(f"{name}-b", case=f"{name}-b"))
        assert _state(runtime, cid) == "created"
        runtime.start_container(cid)
        _eventually(lambda: _state(runtime, cid) == "running")
        info = runtime.inspect_container(cid)
        assert isinstance(info, ContainerInfo)
        assert info.sandbox_id == sb.id and info.image_id and info.started_at
        assert info.labels["case"] == name
        assert [i.id for i in runtime.list_containers({"case": name})] == [cid]
        assert {i.id for i in runtime.list_containers(RUN_LABEL) if i.sandbox_id == sb.id} == \
            {cid, other}
        result = runtime.exec(cid, ["true"], timeout=10)
        assert result.exit_code == 0
        runtime.stop_container(cid, timeout=0)
        _eventually(lambda: _state(runtime, cid) == "exited")
        stopped = runtime.inspect_container(cid)
        assert stopped is not None and stopped.exit_code not in (None, 0)
        assert stopped.finished_at
        runtime.stop_container(cid, timeout=0)  # already stopped: no error
        runtime.remove_container(cid)
        assert runtime.inspect_container(cid) is None
        runtime.remove_container(cid)  # missing: no error
        assert isinstance(list(runtime.logs(other)), list)
    finally:
        runtime.remove_sandbox(sb.id, timeout=0)
    assert runtime.list_containers({"case": f"{name}-b"}) == []


def test_logs_since_a_time_and_with_the_kubelets_timestamps(runtime: ContainerRuntime) -> None:
    name = _name()
    sb = runtime.ensure_sandbox(SandboxSpec(name=name, labels={**RUN_LABEL}))
    try:
        # the simulated runtime logs "started NAME" when a container starts; Podman's says it
        cid = runtime.create_container(sb.id, ContainerSpec(
            name=f"{name}-c", image=EXAMPLE_IMAGE, labels={**RUN_LABEL},
            entrypoint=("sh", "-c", f"echo started {name}-c; sleep 300")))
        before = time.time()
        runtime.start_container(cid)
        line = f"started {name}-c\n"
        _eventually(lambda: list(runtime.logs(cid)) == [line])
        after = time.time()
        stamped = list(runtime.logs(cid, timestamps=True))
        assert len(stamped) == 1, stamped
        stamp, _, text = stamped[0].partition(" ")
        assert text == line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), stamp
        when = parse_time_ns(stamp)
        assert when is not None and before - 1 <= when / 1e9 <= after + 1
        assert list(runtime.logs(cid, since=when / 1e9 - 0.001)) == [line]
        assert list(runtime.logs(cid, since=when / 1e9 - 5, timestamps=True)) == stamped
        assert list(runtime.logs(cid, since=after + 60)) == []
        assert list(runtime.logs(cid, since=after + 60, timestamps=True)) == []
    finally:
        runtime.remove_sandbox(sb.id, timeout=0)


def test_restart_in_a_sandbox_keeps_its_address(runtime: ContainerRuntime) -> None:
    name = _name()
    sb = runtime.ensure_sandbox(SandboxSpec(name=name, labels={**RUN_LABEL}))
    try:
        first = runtime.create_container(sb.id, _sleeper(f"{name}-0"))
        runtime.start_container(first)
        runtime.stop_container(first, timeout=0)
        second = runtime.create_container(sb.id, _sleeper(f"{name}-1"))
        runtime.start_container(second)
        _eventually(lambda: _state(runtime, second) == "running")
        assert runtime.ensure_sandbox(SandboxSpec(name=name, labels={**RUN_LABEL})).ip == sb.ip
    finally:
        runtime.remove_sandbox(sb.id, timeout=0)


@pytest.fixture
def network(runtime: ContainerRuntime) -> Iterator[tuple[str, str]]:
    """A network of the test's own and an address on it (Podman: a bridge on a free
    10.250.N.0/24, removed after; the simulated runtime keeps it in memory)."""
    name = f"gkt-rt-{uuid.uuid4().hex[:6]}"
    for _ in range(10):
        n = random.randint(100, 249)
        try:
            runtime.ensure_network(name, f"10.250.{n}.0/24", f"10.250.{n}.1", dict(RUN_LABEL),
                                   interface=bridge_name(name))
        except GitkubeError:
            continue  # the subnet belongs to another network
        break
    else:
        raise AssertionError("no free test subnet")
    try:
        yield name, f"10.250.{n}.77"
    finally:
        runtime.remove_network(name)


def test_a_container_takes_the_address_it_asks_for_while_it_is_free(
        runtime: ContainerRuntime, network: tuple[str, str]) -> None:
    net, ip = network
    boxes = [runtime.ensure_sandbox(SandboxSpec(name=_name(), labels={**RUN_LABEL},
                                                infra=False)) for _ in range(2)]
    try:
        spec = replace(_sleeper(f"{boxes[0].name}-0"), network=net, ip=ip)
        first = runtime.create_container(boxes[0].id, spec)
        runtime.start_container(first)
        _eventually(lambda: _state(runtime, first) == "running")
        info = runtime.inspect_container(first)
        assert info is not None and info.ip == ip
        # held by a running container: another asking for it fails to start, and says why
        other = runtime.create_container(
            boxes[1].id, replace(_sleeper(f"{boxes[1].name}-0"), network=net, ip=ip))
        with pytest.raises(RuntimeFailure) as failure:
            runtime.start_container(other)
        assert ADDRESS_TAKEN in str(failure.value)
        runtime.remove_container(other)
        # once that one has stopped, its successor in the sandbox gets the address again
        runtime.stop_container(first, timeout=0)
        second = runtime.create_container(boxes[0].id, replace(spec, name=f"{spec.name}-1"))
        runtime.start_container(second)
        _eventually(lambda: _state(runtime, second) == "running")
        info = runtime.inspect_container(second)
        assert info is not None and info.ip == ip
    finally:
        for box in boxes:
            runtime.remove_sandbox(box.id, timeout=0)
