"""compute_pod_actions, table-tested without a runtime: what the kubelet does with a pod's
containers given what the runtime holds, the probes' verdicts and its bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gitkube.agents.kubelet.actions import (
    Backoff,
    Observed,
    PodActions,
    PodState,
    compute_pod_actions,
    format_delay,
    restart_delay,
    should_restart,
)
from gitkube.agents.kubelet.probes import ProbeVerdict
from gitkube.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_IMAGE,
    ContainerInfo,
    ContainerStateName,
)

NOW = 1_000_000.0
BACKOFF = Backoff(base=10.0, max=300.0)
IMAGE = "localhost/app:1"
Obj = dict[str, Any]


def pod(*names: str, inits: tuple[str, ...] = (), policy: str = "Always",
        **containers: Obj) -> Obj:
    """A pod with containers ``names`` (``containers[name]`` adds fields) and init
    containers ``inits``."""
    def spec(name: str) -> Obj:
        return {"name": name, "image": IMAGE, **containers.get(name, {})}

    return {"metadata": {"name": "web", "namespace": "ns", "uid": "u-1"},
            "spec": {"restartPolicy": policy, "containers": [spec(n) for n in names],
                     "initContainers": [spec(n) for n in inits]}}


def instance(name: str, attempt: int = 0, state: ContainerStateName = "running",
             code: int | None = None, *, image: str = IMAGE, ran: float = 5.0) -> ContainerInfo:
    """Instance ``attempt`` of container ``name``; an exited one ran ``ran`` s."""
    return ContainerInfo(
        id=f"{name}-{attempt}", name=f"web_{name}_{attempt}", sandbox_id="sb",
        labels={LABEL_CONTAINER: name, LABEL_ATTEMPT: str(attempt), LABEL_IMAGE: image},
        state=state, exit_code=code,
        started_at=NOW - 100, finished_at=NOW - 100 + ran if state == "exited" else None)


def exited(name: str, attempt: int = 0, code: int = 1, **kw: Any) -> ContainerInfo:
    return instance(name, attempt, "exited", code, **kw)


@dataclass
class Case:
    """A pod, what the runtime holds (by container name, oldest first), the probes'
    verdicts and the kubelet's bookkeeping."""

    pod: Obj
    history: dict[str, list[ContainerInfo]] = field(default_factory=dict)
    probes: dict[str, ProbeVerdict] = field(default_factory=dict)
    state: PodState = field(default_factory=PodState)

    def actions(self) -> PodActions:
        return compute_pod_actions(self.pod, Observed(self.history, self.probes), self.state,
                                   NOW, backoff=BACKOFF)


def starts(actions: PodActions) -> list[tuple[str, int, bool, int | None]]:
    """(name, attempt, init, how many previous instances) of each start."""
    return [(str(s.container["name"]), s.attempt, s.init,
             None if s.previous is None else len(s.previous)) for s in actions.start]


def kills(actions: PodActions) -> list[tuple[str, str, str, float | None]]:
    return [(str(k.container["name"]), k.info.id, k.reason, k.grace) for k in actions.kill]


# --- starting ----------------------------------------------------------------------------

START_CASES = {
    "a new pod starts every container": (
        Case(pod("a", "b")), [("a", 0, False, None), ("b", 0, False, None)]),
    "the first init container runs alone": (
        Case(pod("a", inits=("i1", "i2"))), [("i1", 0, True, None)]),
    "init containers run in order": (
        Case(pod("a", inits=("i1", "i2")), {"i1": [exited("i1", code=0)]}),
        [("i2", 0, True, None)]),
    "the containers start once every init container succeeded": (
        Case(pod("a", inits=("i1", "i2")),
             {"i1": [exited("i1", code=0)], "i2": [exited("i2", code=0)]}),
        [("a", 0, False, None)]),
    "a running init container holds the containers back": (
        Case(pod("a", inits=("i1",)), {"i1": [instance("i1")]}), []),
    "only the missing container starts": (
        Case(pod("a", "b"), {"a": [instance("a")]}), [("b", 0, False, None)]),
}


@pytest.mark.parametrize(("case", "expected"), START_CASES.values(), ids=START_CASES.keys())
def test_what_starts(case: Case, expected: list[tuple[str, int, bool, int | None]]) -> None:
    actions = case.actions()
    assert starts(actions) == expected
    assert actions.kill == ()


def test_a_running_container_is_probed_and_waits_for_nothing() -> None:
    running = instance("a")
    actions = Case(pod("a"), {"a": [running]}, state=PodState(
        waiting={"a": ("ContainerCreating", "")})).actions()
    assert [(c["name"], info.id) for c, info in actions.probe] == [("a", running.id)]
    assert actions.waiting == {"a": None}
    assert actions.start == () and actions.kill == () and actions.requeue_after is None


# --- killing -----------------------------------------------------------------------------


def test_a_changed_image_replaces_the_running_container_at_once() -> None:
    old = instance("a", attempt=2, image="localhost/app:0")
    actions = Case(pod("a"), {"a": [exited("a", 1), old]}).actions()
    assert kills(actions) == [("a", old.id, "changed", None)]
    assert starts(actions) == [("a", 3, False, 2)]
    assert actions.probe == ()


LIVENESS = {"livenessProbe": {"exec": {"command": ["true"]}}}
STARTUP_WITH_GRACE = {"startupProbe": {"exec": {"command": ["true"]},
                                       "terminationGracePeriodSeconds": 3}}


@pytest.mark.parametrize(("fields", "verdict", "grace"), [
    (LIVENESS, ProbeVerdict("liveness", "exit 1"), None),  # the pod's grace period
    (STARTUP_WITH_GRACE, ProbeVerdict("startup", "exit 1"), 3.0),  # the probe's own
], ids=["liveness", "startup with its own grace period"])
def test_a_failed_probe_kills_the_container_and_looks_again_at_once(
        fields: Obj, verdict: ProbeVerdict, grace: float | None) -> None:
    running = instance("a")
    actions = Case(pod("a", a=fields), {"a": [running]}, {"a": verdict}).actions()
    assert kills(actions) == [("a", running.id, verdict.failed, grace)]
    assert actions.kill[0].message == "exit 1"
    assert actions.start == ()  # the restart policy takes over on the next sync
    assert actions.probe == ()
    assert actions.requeue_after == 0.0


def test_a_probe_verdict_never_kills_an_init_container() -> None:
    running = instance("i1")
    actions = Case(pod("a", inits=("i1",)), {"i1": [running]},
                   {"i1": ProbeVerdict("liveness", "x")}).actions()
    assert actions.kill == ()
    assert [info.id for _c, info in actions.probe] == [running.id]


# --- restarting --------------------------------------------------------------------------

RESTART_CASES = {
    # policy, exit code, restarts?
    "Always restarts a success": ("Always", 0, True),
    "Always restarts a failure": ("Always", 1, True),
    "OnFailure leaves a success": ("OnFailure", 0, False),
    "OnFailure restarts a failure": ("OnFailure", 2, True),
    "Never leaves a failure": ("Never", 1, False),
    "OnFailure restarts a container that never started": ("OnFailure", None, True),
}


@pytest.mark.parametrize(("policy", "code", "restarts"), RESTART_CASES.values(),
                         ids=RESTART_CASES.keys())
def test_restart_policy(policy: str, code: int | None, restarts: bool) -> None:
    latest = instance("a", state="created") if code is None else exited("a", code=code)
    seen_long_ago = PodState(exited_seen={latest.id: NOW - 3600})
    actions = Case(pod("a", policy=policy), {"a": [latest]}, state=seen_long_ago).actions()
    assert starts(actions) == ([("a", 1, False, 1)] if restarts else [])
    assert actions.stop_probing == ("a",)
    if not restarts:
        assert actions.waiting == {"a": None}
    assert should_restart(policy, 128 if code is None else code) is restarts


def test_a_failed_init_container_under_never_is_not_restarted() -> None:
    actions = Case(pod("a", inits=("i1",), policy="Never"),
                   {"i1": [exited("i1", code=1)]}).actions()
    assert actions.start == () and actions.waiting == {"i1": None}


def test_a_failed_init_container_is_restarted_under_always_after_its_back_off() -> None:
    failed = exited("i1", code=1)
    later = PodState(exited_seen={failed.id: NOW - 11})
    actions = Case(pod("a", inits=("i1",)), {"i1": [failed]}, state=later).actions()
    assert starts(actions) == [("i1", 1, True, 1)]


def test_a_first_seen_exit_waits_in_crash_loop_back_off() -> None:
    failed = exited("a", code=1)
    actions = Case(pod("a"), {"a": [failed]}).actions()
    assert actions.start == ()
    assert actions.exited_seen == {failed.id: NOW}
    assert actions.waiting == {"a": (
        "CrashLoopBackOff", "back-off 10s restarting failed container=a pod=web_ns(u-1)")}
    assert actions.back_off_events == (("a", failed.id),)
    assert actions.requeue_after == 10.0


def test_back_off_is_noted_once_and_counts_from_the_first_sight() -> None:
    failed = exited("a", code=1)
    state = PodState(exited_seen={failed.id: NOW - 4}, backoff_noted={failed.id},
                     start_errors={failed.id: "no such file"})
    actions = Case(pod("a"), {"a": [failed]}, state=state).actions()
    assert actions.back_off_events == () and actions.exited_seen == {}
    assert actions.requeue_after == pytest.approx(6.0)
    assert actions.waiting["a"] == (
        "CrashLoopBackOff",
        "back-off 10s restarting failed container=a pod=web_ns(u-1): no such file")


def test_a_container_stopped_by_its_failed_post_start_hook_restarts_with_back_off() -> None:
    """The executor stops a container whose postStart hook failed; the restart policy and
    its back-off take over from there."""
    stopped = exited("a", code=137, ran=0.5)
    fields = {"lifecycle": {"postStart": {"exec": {"command": ["false"]}}}}
    actions = Case(pod("a", a=fields), {"a": [stopped]}).actions()
    assert actions.start == () and actions.waiting["a"] is not None
    assert actions.waiting["a"][0] == "CrashLoopBackOff"


@pytest.mark.parametrize(("attempt", "ran", "delay", "text"), [
    (0, 5.0, 10.0, "10s"),
    (2, 5.0, 40.0, "40s"),
    (5, 5.0, 300.0, "5m0s"),  # at most backoff.max
    (5, 601.0, 0.0, "0s"),  # ran longer than twice the maximum: the back-off starts over
])
def test_restart_delay(attempt: int, ran: float, delay: float, text: str) -> None:
    info = exited("a", attempt, ran=ran)
    assert restart_delay(info, BACKOFF) == delay
    assert format_delay(delay) == text


def test_a_container_that_ran_long_restarts_at_once() -> None:
    failed = exited("a", attempt=7, ran=700)
    assert starts(Case(pod("a"), {"a": [failed]}).actions()) == [("a", 8, False, 1)]


def test_the_decision_reads_the_state_and_never_writes_it() -> None:
    failed = exited("a", code=1)
    state = PodState()
    Case(pod("a"), {"a": [failed]}, state=state).actions()
    assert state == PodState()

