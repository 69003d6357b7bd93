"""The kubelet's smaller pure decisions: images, the relist's comparison, which pod updates
reach the queue, and the container views the status is made from."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.kubelet.actions import Backoff
from gitkube.agents.kubelet.images import image_step, pull_delay
from gitkube.agents.kubelet.nodepods import status_only
from gitkube.agents.kubelet.pleg import changed_keys
from gitkube.agents.kubelet.status import ProbeResults, container_views
from gitkube.runtime.base import LABEL_ATTEMPT, ContainerInfo, ContainerStateName

Obj = dict[str, Any]


@pytest.mark.parametrize(("policy", "present", "retry_at", "step"), [
    ("IfNotPresent", True, 0.0, "use"),
    ("IfNotPresent", False, 0.0, "pull"),
    ("IfNotPresent", False, 50.0, "back-off"),  # a pull failed: ImagePullBackOff until 50
    ("Never", True, 0.0, "use"),
    ("Never", False, 0.0, "never"),  # ErrImageNeverPull
    ("Always", False, 0.0, "pull"),  # never looked up: always pulled
    ("Always", False, 50.0, "back-off"),
])
def test_image_step(policy: str, present: bool, retry_at: float, step: str) -> None:
    assert image_step(policy, present, retry_at, now=40.0) == step


@pytest.mark.parametrize(("failures", "delay"), [(1, 10.0), (2, 20.0), (6, 300.0)])
def test_pull_delay(failures: int, delay: float) -> None:
    assert pull_delay(failures, Backoff(10.0, 300.0)) == delay


def test_changed_keys_are_new_changed_and_gone_containers() -> None:
    before = {"c1": ("running", None, "ns/a"), "c2": ("running", None, "ns/b"),
              "c3": ("exited", 0, "ns/c")}
    after = {"c1": ("running", None, "ns/a"), "c2": ("exited", 137, "ns/b"),
             "c4": ("created", None, "ns/d")}
    assert changed_keys(before, after) == {"ns/b", "ns/c", "ns/d"}
    assert changed_keys(after, after) == set()


def _pod(**changes: Any) -> Obj:
    p: Obj = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"},
              "status": {"phase": "Running"}}
    for part, value in changes.items():
        p[part] = {**p[part], **value}
    return p


@pytest.mark.parametrize(("new", "only_status"), [
    (_pod(status={"podIP": "10.0.0.1"}), True),  # the kubelet's own write: dropped
    (_pod(spec={"containers": []}), False),
    (_pod(metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}), False),
    (_pod(status={"phase": "Failed"}), False),  # finished: its containers are stopped
])
def test_which_updates_reach_the_queue(new: Obj, only_status: bool) -> None:
    assert status_only(_pod(), new) is only_status


def _info(name: str, state: ContainerStateName, code: int | None = None,
          attempt: int = 0) -> ContainerInfo:
    return ContainerInfo(id=f"{name}-{attempt}", name=name, sandbox_id="sb",
                         labels={LABEL_ATTEMPT: str(attempt)},
                         state=state, exit_code=code)


POD: Obj = {"metadata": {"name": "p", "uid": "u"},
            "spec": {"initContainers": [{"name": "setup", "image": "i"}],
                     "containers": [{"name": "web", "image": "i"}]}}


def test_containers_wait_with_pod_initializing_while_init_containers_run() -> None:
    views = container_views(POD, {"setup": [_info("setup", "running")]}, init=False,
                            waiting={}, probes={}, messages={}, runtime="podman")
    assert [(v.name, v.waiting_reason) for v in views] == [("web", "PodInitializing")]


def test_a_view_is_ready_only_when_running_started_and_ready() -> None:
    history = {"setup": [_info("setup", "exited", 0)],
               "web": [_info("web", "exited", 1), _info("web", "running", attempt=1)]}

    def view(probes: ProbeResults, waiting: dict[str, tuple[str, str]] | None = None) -> Any:
        return container_views(POD, history, init=False, waiting=waiting or {},
                               probes={"web": probes}, messages={"web-0": "bye"},
                               runtime="podman")[0]

    ok = view(ProbeResults())
    assert (ok.ready, ok.started, ok.restart_count, ok.waiting_reason) == (True, True, 1, "")
    assert ok.previous is not None and ok.messages == {"web-0": "bye"}
    assert view(ProbeResults(readiness=False)).ready is False
    not_started = view(ProbeResults(startup=False))
    assert (not_started.ready, not_started.started) == (False, False)
    # a running container waits for nothing, whatever was noted before
    assert view(ProbeResults(), {"web": ("CrashLoopBackOff", "x")}).waiting_reason == ""
    init = container_views(POD, history, init=True, waiting={}, probes={}, messages={},
                           runtime="podman")[0]
    assert (init.name, init.ready) == ("setup", False)
