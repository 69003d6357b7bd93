"""The runtimes under the contract: Podman (real containers) and the simulated one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from gitkube.runtime.base import ContainerRuntime
from gitkube.runtime.simulated import SimulatedRuntime
from tests.support.containers import podman_for_tests, podman_missing

RUN_LABEL = {"io.gitkube.test-run": f"rt-{uuid.uuid4().hex[:8]}"}
MISSING_IMAGE = "localhost/gitkube-missing:0"


@pytest.fixture(scope="session")
def podman_runtime() -> Iterator[ContainerRuntime]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    with podman_for_tests("gk-rt-", RUN_LABEL, "runtime tests") as rt:
        yield rt


@pytest.fixture(params=["podman", "simulated"])
def runtime(request: pytest.FixtureRequest) -> Iterator[ContainerRuntime]:
    if request.param == "podman":
        request.applymarker(pytest.mark.podman)
        yield request.getfixturevalue("podman_runtime")
    else:
        yield SimulatedRuntime(missing_images=[MISSING_IMAGE])
