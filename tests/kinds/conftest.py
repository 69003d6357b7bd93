"""Fixtures of the kind tests: a daemon (simulated kubelet) on the test's state directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.daemon_env import RunningDaemon, start_daemon


@pytest.fixture
def daemon(_isolated_state_dir: Path) -> Iterator[RunningDaemon]:
    """A `gitkube serve` with a simulated kubelet, stopped by its PID afterwards."""
    running = start_daemon(_isolated_state_dir)
    try:
        yield running
    finally:
        running.stop()
