"""Lifecycle hook handlers (pure, on the simulated runtime; Podman: test_kubelet_podman.py)."""

from __future__ import annotations

import pytest

from gitkube.agents.kubelet import lifecycle
from gitkube.agents.kubelet.lifecycle import hook, run_handler
from gitkube.runtime.simulated import SimulatedRuntime


def test_hook_finds_the_handler_or_none() -> None:
    c = {"name": "c", "lifecycle": {"preStop": {"sleep": {"seconds": 1}}, "postStart": {}}}
    assert hook(c, "preStop") == {"sleep": {"seconds": 1}}
    assert hook(c, "postStart") is None
    assert hook({"name": "c"}, "preStop") is None


def test_sleep_is_bounded_by_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(lifecycle, "time", type("Clock", (), {"sleep": staticmethod(slept.append)}))
    for seconds, timeout in ((3, 10.0), (100, 2.5)):
        assert run_handler({"sleep": {"seconds": seconds}}, {"name": "c"},
                           runtime=SimulatedRuntime(), container_id="x", pod_ip="",
                           timeout=timeout) == ""
    assert slept == [3.0, 2.5]


def test_a_handler_without_an_action_is_an_error() -> None:
    assert "no exec, httpGet or sleep" in run_handler(
        {}, {"name": "c"}, runtime=SimulatedRuntime(), container_id="x", pod_ip="",
        timeout=1)
