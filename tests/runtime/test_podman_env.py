"""The environment gitkube gives the podman processes it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitkube.runtime.podman import podman_env


def test_minimal_path_gains_the_system_directories(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `env -i PATH=/usr/bin:/bin` Podman's netavark could not find iptables in
    /usr/sbin, and every pod failed to start."""
    monkeypatch.setenv("PATH", "/opt/tools/bin:/usr/bin:/bin")
    env = podman_env(Path("/state/containers.conf"))
    path = env["PATH"].split(":")
    assert path[:3] == ["/opt/tools/bin", "/usr/bin", "/bin"]  # the caller's order first
    assert "/usr/sbin" in path and "/sbin" in path
    assert len(path) == len(set(path))
    assert env["CONTAINERS_CONF"] == "/state/containers.conf"


def test_no_path_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATH", raising=False)
    path = podman_env(Path("c.conf"))["PATH"].split(":")
    assert path[0] == "/usr/local/sbin" and "/usr/sbin" in path and "" not in path
