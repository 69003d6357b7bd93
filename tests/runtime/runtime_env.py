"""The runtimes under the contract: Podman (real containers) and the simulated one."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.runtime.base import ContainerRuntime
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.runtime.testing import ensure_example_image, podman_missing, sweep

RUN_LABEL = {"io.gitkube.test-run": f"rt-{uuid.uuid4().hex[:8]}"}
MISSING_IMAGE = "localhost/gitkube-missing:0"


@pytest.fixture(scope="session")
def podman_runtime() -> Iterator[ContainerRuntime]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    from gitkube.runtime.podman import PodmanRuntime

    ensure_example_image()
    # A short path: unix socket paths are limited to 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="gk-rt-"))
    rt = PodmanRuntime(base_dir=base)
    yield rt
    left = sweep(rt, RUN_LABEL)
    rt.close()
    shutil.rmtree(base, ignore_errors=True)
    assert left == 0, f"{left} sandboxes/containers were left behind by the runtime tests"


@pytest.fixture(params=["podman", "simulated"])
def runtime(request: pytest.FixtureRequest) -> Iterator[ContainerRuntime]:
    if request.param == "podman":
        request.applymarker(pytest.mark.podman)
        yield request.getfixturevalue("podman_runtime")
    else:
        yield SimulatedRuntime(missing_images=[MISSING_IMAGE])
