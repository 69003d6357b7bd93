"""Helpers for tests and benchmarks that run real containers (through the runtime only).

``podman_missing()`` says why Podman cannot be used here (None when it can);
``ensure_example_image()`` builds the example image with scripts/build-image when absent;
``sweep(runtime, labels)`` removes every sandbox and container carrying ``labels`` and
returns how many there were (a suite asserts 0 at its end);
``start_pods_at_once(runtime, count, ...)`` starts one-container pods with the kubelet's own
runtime calls, all at once (the benchmarks' Podman-alone floor).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gitkube.runtime.base import ContainerRuntime, ContainerSpec, SandboxSpec

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


def start_pods_at_once(runtime: ContainerRuntime, count: int, labels: Mapping[str, str],
                       prefix: str, **container: Any) -> list[float]:
    """Start ``count`` one-container pods (the example image's ``httpd``) with the calls the
    kubelet makes for such a pod (pod without infra, container, start, inspect), each from
    a thread of its own, all at once; ``container``: more ContainerSpec fields (network,
    resolv.conf). Each pod's seconds from the start until its container runs, sorted.
    The caller sweeps ``labels`` afterwards."""

    def one(i: int) -> float:
        name = f"{prefix}-{i}"
        sandbox = runtime.ensure_sandbox(SandboxSpec(name=name, labels=labels, infra=False))
        cid = runtime.create_container(sandbox.id, ContainerSpec(
            name=f"{name}_web_0", image=EXAMPLE_IMAGE, labels=labels, hostname=name,
            entrypoint=("httpd", "-f", "-p", "8080", "-h", "/www"), **container))
        runtime.start_container(cid)
        info = runtime.inspect_container(cid)
        if info is None or info.state != "running":
            raise RuntimeError(f"{name} is not running")
        return time.monotonic() - start

    with ThreadPoolExecutor(max_workers=count) as pool:
        start = time.monotonic()
        return sorted(pool.map(one, range(count)))


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
