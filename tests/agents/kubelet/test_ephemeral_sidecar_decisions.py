"""The kubelet's decisions about ephemeral containers: started once (even while init
containers run), never restarted, placed in the target's PID namespace (and, without infra,
its network), reported in ephemeralContainerStatuses without touching phase or readiness;
and about sidecars (init containers with restartPolicy Always): started in the init
sequence, restarted whenever they exit, not holding the pod's completion."""

from __future__ import annotations

from typing import Any

from gitkube.agents.kubelet.actions import Backoff, Observed, PodState, compute_pod_actions
from gitkube.agents.kubelet.ephemeral import ephemeral_config
from gitkube.agents.kubelet.status import compute_status, container_views
from gitkube.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_EPHEMERAL,
    ContainerInfo,
    ContainerSpec,
    ContainerStateName,
    PortMapping,
)

Obj = dict[str, Any]
POD: Obj = {"metadata": {"name": "p", "uid": "u", "namespace": "default"},
            "spec": {"initContainers": [{"name": "setup", "image": "i"}],
                     "containers": [{"name": "web", "image": "i"}],
                     "ephemeralContainers": [{"name": "dbg", "image": "t",
                                              "targetContainerName": "web"}]}}


def _info(name: str, state: ContainerStateName, code: int | None = None) -> ContainerInfo:
    return ContainerInfo(id=f"{name}-id", name=name, sandbox_id="sb",
                         labels={LABEL_ATTEMPT: "0", LABEL_CONTAINER: name}, state=state,
                         exit_code=code)


def _actions(history: dict[str, list[ContainerInfo]]) -> list[tuple[str, bool]]:
    actions = compute_pod_actions(POD, Observed(history), PodState(), 0.0, backoff=Backoff())
    return [(str(s.container["name"]), s.ephemeral) for s in actions.start]


def test_started_once_even_while_init_containers_run() -> None:
    assert _actions({}) == [("dbg", True), ("setup", False)]
    # ran and ended (even failed): never started again
    assert _actions({"dbg": [_info("dbg", "exited", 1)], "setup": [_info("setup", "running")]}) \
        == []


def test_placed_in_the_targets_namespaces() -> None:
    spec = ContainerSpec(name="n", image="t", labels={"a": "b"},
                         ports=(PortMapping(80, 8080),), ip="10.0.0.9")
    c = POD["spec"]["ephemeralContainers"][0]
    running = [_info("web", "running")]
    placed = ephemeral_config(POD, c, spec, infra=True, containers=running)
    assert isinstance(placed, ContainerSpec)
    assert placed.pid_of == "web-id" and placed.share_with == ""
    assert placed.ports == () and placed.ip == "" and placed.labels[LABEL_EPHEMERAL] == "true"
    alone = ephemeral_config(POD, c, spec, infra=False, containers=running)
    assert isinstance(alone, ContainerSpec) and alone.share_with == "web-id"
    # the target does not run (yet): it waits, saying why
    assert ephemeral_config(POD, c, spec, infra=True, containers=[_info("web", "exited", 0)]) \
        == 'waiting for target container "web" to run'
    # a pod sharing one process namespace needs no target's
    shared = {**POD, "spec": {**POD["spec"], "shareProcessNamespace": True}}
    placed = ephemeral_config(shared, c, spec, infra=True, containers=[])
    assert isinstance(placed, ContainerSpec) and placed.pid_of == ""


def test_status_lists_them_apart() -> None:
    history = {"setup": [_info("setup", "exited", 0)], "web": [_info("web", "running")],
               "dbg": [_info("dbg", "exited", 2)]}
    views = {init: container_views(POD, history, init=init, waiting={}, probes={},
                                   messages={}, runtime="podman")
             for init in (True, False, None)}
    status = compute_status(POD, views[True], views[False], ephemeral_views=views[None],
                            pod_ip="10.0.0.2", host_ip="", now=0.0)
    assert status["phase"] == "Running"
    assert [c["name"] for c in status["containerStatuses"]] == ["web"]
    (dbg,) = status["ephemeralContainerStatuses"]
    assert dbg["name"] == "dbg" and dbg["ready"] is False
    assert dbg["state"]["terminated"]["exitCode"] == 2


SIDECAR_POD: Obj = {
    "metadata": {"name": "s", "uid": "u2", "namespace": "default"},
    "spec": {"restartPolicy": "Never",
             "initContainers": [{"name": "proxy", "image": "i", "restartPolicy": "Always"},
                                {"name": "setup", "image": "i"}],
             "containers": [{"name": "app", "image": "i"}]}}


def _sidecar_actions(history: dict[str, list[ContainerInfo]],
                     started: dict[str, bool] | None = None) -> list[str]:
    actions = compute_pod_actions(SIDECAR_POD, Observed(history, {}, started or {}),
                                  PodState(), 0.0, backoff=Backoff())
    return [str(s.container["name"]) for s in actions.start]


def test_a_sidecar_starts_first_and_runs_beside_the_containers() -> None:
    assert _sidecar_actions({}) == ["proxy"]
    # running: the next init container starts, then the containers
    assert _sidecar_actions({"proxy": [_info("proxy", "running")]}) == ["setup"]
    assert _sidecar_actions({"proxy": [_info("proxy", "running")],
                             "setup": [_info("setup", "exited", 0)]}) == ["app"]
    # with a startup probe, the next waits until it passed
    probed = {**SIDECAR_POD, "spec": {**SIDECAR_POD["spec"], "initContainers": [
        {**SIDECAR_POD["spec"]["initContainers"][0], "startupProbe": {"exec": {
            "command": ["true"]}}}, SIDECAR_POD["spec"]["initContainers"][1]]}}
    running = {"proxy": [_info("proxy", "running")]}
    for passed, expected in ((False, []), (True, ["setup"])):
        actions = compute_pod_actions(probed, Observed(running, {}, {"proxy": passed}),
                                      PodState(), 0.0, backoff=Backoff())
        assert [str(s.container["name"]) for s in actions.start] == expected
    # a sidecar that exited is restarted (even in a restartPolicy Never pod), after back-off
    state = PodState()
    history = {"proxy": [_info("proxy", "exited", 1)], "setup": [_info("setup", "exited", 0)],
               "app": [_info("app", "running")]}
    first = compute_pod_actions(SIDECAR_POD, Observed(history), state, 0.0,
                                backoff=Backoff(base=10.0))
    assert first.waiting["proxy"] is not None and first.waiting["proxy"][0] == \
        "CrashLoopBackOff"
    state.exited_seen.update(first.exited_seen)
    later = compute_pod_actions(SIDECAR_POD, Observed(history), state, 11.0,
                                backoff=Backoff(base=10.0))
    assert [str(s.container["name"]) for s in later.start] == ["proxy"]


def test_a_pod_with_a_running_sidecar_is_initialized_and_finishes() -> None:
    history = {"proxy": [_info("proxy", "running")], "setup": [_info("setup", "exited", 0)],
               "app": [_info("app", "running")]}

    def status(h: dict[str, list[ContainerInfo]]) -> Obj:
        views = {init: container_views(SIDECAR_POD, h, init=init, waiting={}, probes={},
                                       messages={}, runtime="podman") for init in (True, False)}
        return compute_status(SIDECAR_POD, views[True], views[False], pod_ip="", host_ip="",
                              now=0.0)

    running = status(history)
    assert running["phase"] == "Running"
    conditions = {c["type"]: c["status"] for c in running["conditions"]}
    assert conditions["Initialized"] == "True" and conditions["Ready"] == "True"
    # the app is done: Succeeded, though the sidecar still runs (the kubelet stops it)
    done = status({**history, "app": [_info("app", "exited", 0)]})
    assert done["phase"] == "Succeeded"
    # a sidecar never started: the pod waits in its init sequence
    assert status({})["phase"] == "Pending"
