"""Helpers for tests and benchmarks that run real containers (through the runtime only).

``podman_missing()`` says why Podman cannot be used here (None when it can);
``ensure_example_image()`` builds the example image with scripts/build-image when absent;
``sweep(runtime, labels)`` removes every sandbox and container carrying ``labels`` and
returns how many there were (a suite asserts 0 at its end).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from gitkube.runtime.base import ContainerRuntime

EXAMPLE_IMAGE = "localhost/gitkube-example:1"
REPO = Path(__file__).resolve().parents[2]


def podman_missing() -> str | None:
    """Why real-container tests must be skipped, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/setup installs it)"
    if not (REPO / "scripts" / "build-image").exists():
        return "scripts/build-image is missing"
    return None


def ensure_example_image(ref: str = EXAMPLE_IMAGE) -> None:
    """Build ``ref`` from busybox-static unless present (idempotent)."""
    subprocess.run([str(REPO / "scripts" / "build-image"), ref], check=True,
                   capture_output=True, timeout=300)


def sweep(runtime: ContainerRuntime, labels: Mapping[str, str]) -> int:
    """Remove everything carrying ``labels``; the number of sandboxes and containers found."""
    found = 0
    for sb in runtime.list_sandboxes(labels):
        found += 1
        runtime.remove_sandbox(sb.id, timeout=0)
    for info in runtime.list_containers(labels):
        found += 1
        runtime.remove_container(info.id)
    return found


@contextlib.contextmanager
def podman_for_tests(prefix: str, run_label: Mapping[str, str],
                     what: str) -> Iterator[ContainerRuntime]:
    """A PodmanRuntime with its own service in a fresh short directory (unix socket paths
    are limited to 108 bytes), the example image present; afterwards everything carrying
    ``run_label`` is swept, the service stopped, and a leftover is an assertion error."""
    from gitkube.runtime.podman import PodmanRuntime

    ensure_example_image()
    base = Path(tempfile.mkdtemp(prefix=prefix))
    runtime = PodmanRuntime(base_dir=base)
    try:
        yield runtime
    finally:
        left = sweep(runtime, run_label)
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)
    assert left == 0, f"{left} sandboxes/containers were left behind by the {what}"
