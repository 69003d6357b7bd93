"""Graceful deletion on real Podman: a deleted pod stays Terminating until its kubelet has
stopped the containers — all at once, each its preStop hook, SIGTERM, then SIGKILL at the
end of the pod's grace period — and then confirms the deletion."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitkube.model.printers import pod_status_text
from tests.agents.kubelet.kubelet_env import Node, ready

pytestmark = pytest.mark.podman

# `sleep` as PID 1 has no handler for SIGTERM: only SIGKILL ends it
STUBBORN = ["sleep", "3600"]


def test_two_containers_that_ignore_sigterm_take_one_grace_period(node: Node) -> None:
    grace = 4
    pod = node.pod("stubborn", [{"name": "one", "command": STUBBORN},
                                {"name": "two", "command": STUBBORN}],
                   terminationGracePeriodSeconds=grace)
    node.wait("stubborn", ready)
    started = time.monotonic()
    held = node.client.delete("v1", "Pod", "default", "stubborn")  # the pod's own grace
    assert held["metadata"]["deletionGracePeriodSeconds"] == grace
    assert pod_status_text(node.get("stubborn")) == "Terminating"
    node.gone("stubborn", timeout=4 * grace)
    elapsed = time.monotonic() - started
    # SIGKILL came at the end of the grace period (SIGTERM did nothing), and for both
    # containers together: one grace period, not one per container
    assert grace - 0.5 <= elapsed < 2 * grace, elapsed
    assert not node.containers(pod)


def test_a_container_without_a_hook_is_not_kept_waiting_for_anothers(
        node: Node, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mount = [{"name": "out", "mountPath": "/out"}]
    node.pod("hooks", [
        {"name": "hooked", "volumeMounts": mount,
         "command": ["sh", "-c", "trap 'touch /out/hooked-term; exit 0' TERM; "
                                 "while true; do sleep 0.1; done"],
         # the hook outlasts the other container's stop: it sees whether that one was
         # sent SIGTERM while the hook still ran
         "lifecycle": {"preStop": {"exec": {"command": [
             "sh", "-c", "sleep 2; if [ -e /out/plain-term ]; then touch /out/in-parallel; "
                         "fi"]}}}},
        {"name": "plain", "volumeMounts": mount,
         "command": ["sh", "-c", "trap 'touch /out/plain-term; exit 0' TERM; "
                                 "while true; do sleep 0.1; done"]}],
        volumes=[{"name": "out", "hostPath": {"path": str(out)}}],
        terminationGracePeriodSeconds=20)
    node.wait("hooks", ready)
    node.client.delete("v1", "Pod", "default", "hooks")
    node.gone("hooks")
    assert sorted(p.name for p in out.iterdir()) == ["hooked-term", "in-parallel",
                                                     "plain-term"]


def test_a_shorter_grace_period_cuts_a_termination_short(node: Node) -> None:
    grace = 60
    node.pod("long", [{"name": "main", "command": STUBBORN}],
             terminationGracePeriodSeconds=grace)
    node.wait("long", ready)
    node.client.delete("v1", "Pod", "default", "long")
    node.wait("long", lambda p: bool(p["metadata"].get("deletionTimestamp")))
    time.sleep(1)  # the kubelet is now waiting out the 60 s
    started = time.monotonic()
    node.client.delete("v1", "Pod", "default", "long", grace_period_seconds=1)
    node.gone("long", timeout=grace / 2)
    assert time.monotonic() - started < grace / 2
