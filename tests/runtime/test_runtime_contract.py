"""One contract, two runtimes: what the kubelet relies on from Podman and the simulator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from runtime_env import MISSING_IMAGE, RUN_LABEL

from gitkube.runtime.base import (
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    ImageError,
    SandboxSpec,
)
from gitkube.runtime.testing import EXAMPLE_IMAGE


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
