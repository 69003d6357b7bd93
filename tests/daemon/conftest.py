"""Fixtures of the daemon tests (helpers live in daemon_env.py: a unique module name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.daemon_env import RunningDaemon, start_daemon


@pytest.fixture
def daemon(_isolated_state_dir: Path) -> Iterator[RunningDaemon]:
    """A `gitkube serve` (simulated kubelet, TLS on a free loopback port) on this test's
    state directory, stopped by its PID afterwards."""
    running = start_daemon(_isolated_state_dir)
    try:
        yield running
    finally:
        running.stop()
