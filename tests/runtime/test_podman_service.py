"""The Podman API service gitkube starts never outlives its owner: a closed runtime never
starts it again, an owner that dies without closing takes it along, and a CLI command's
service lingers only for its linger time. Real Podman, services of the tests' own."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.runtime.base import RuntimeUnavailable
from gitkube.runtime.podman import PodmanRuntime
from gitkube.runtime.podman_service import stop_recorded_service
from tests.support.containers import podman_missing

pytestmark = pytest.mark.podman


@pytest.fixture
def base() -> Iterator[Path]:
    """A short directory of the test's own (unix socket paths are limited to 108 bytes);
    whatever service is still recorded there is stopped at the end."""
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    path = Path(tempfile.mkdtemp(prefix="gk-svc-"))
    try:
        yield path
    finally:
        for pid in _services(path):
            stop_recorded_service(path)
            _kill_quietly(pid)
        shutil.rmtree(path, ignore_errors=True)


def _services(base: Path) -> list[int]:
    """PIDs of `podman system service` processes on ``base``'s socket."""
    found = []
    socket = str(base / "podman.sock").encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"system\0service" in cmdline and socket in cmdline:
            found.append(int(entry.name))
    return found


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 15)


def _eventually_none(base: Path, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _services(base)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_closed_runtime_never_starts_the_service_again(base: Path) -> None:
    """A kubelet worker still running when its daemon closed the runtime used to start a
    fresh service (`--time=0`, never recorded) that outlived the daemon forever."""
    runtime = PodmanRuntime(base_dir=base)
    runtime.version()
    assert _services(base)
    runtime.close()
    assert _eventually_none(base, 10) == []
    with pytest.raises(RuntimeUnavailable):
        runtime.list_containers({"io.gitkube.test": "closed"})
    assert _services(base) == []


def _owner(base: Path, linger: int | None) -> subprocess.Popen[str]:
    """A process that starts the service, says so, and then waits to be killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from gitkube.runtime.podman import PodmanRuntime
        runtime = PodmanRuntime(base_dir=Path({str(base)!r}), linger={linger!r})
        runtime.version()
        print("up", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    return proc


@pytest.mark.parametrize("linger", [None, 2])
def test_a_service_whose_owner_is_killed_goes_after_its_linger(
        base: Path, linger: int | None) -> None:
    """An owner that never closes its runtime (killed, crashed) must not leave the service
    running: a daemon's goes at once, a CLI command's after its linger."""
    owner = _owner(base, linger)
    try:
        assert _services(base)
    finally:
        owner.kill()
        owner.wait(timeout=10)
    if linger:
        time.sleep(0.5)
        assert _services(base), "a CLI command's service stays warm for its linger"
    assert _eventually_none(base, 10 + (linger or 0)) == []


def test_a_service_in_use_is_not_stopped_by_another_owners_linger(base: Path) -> None:
    """One command's linger running out does not stop a service another one still uses."""
    first = PodmanRuntime(base_dir=base, linger=1)
    first.version()
    second = PodmanRuntime(base_dir=base, linger=1)
    try:
        first.close()
        time.sleep(3)
        assert second.version().startswith("podman://")
        assert _services(base)
    finally:
        second.close()
    assert _eventually_none(base, 10) == []
