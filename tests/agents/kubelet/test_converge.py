"""`apply --wait`'s engine on the simulated runtime: converged objects, and the reasons given
when they do not converge."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
from typing import Any

from gitkube.agents.compose import AgentSet
from gitkube.agents.converge import PlainProgress, converge, report, verdict
from gitkube.api.local import LocalClient
from gitkube.model.objects import ObjectRef
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.settings import KubeletSettings, Settings
from gitkube.store import open_store

Obj = dict[str, Any]


def _deploy(name: str, image: str = "localhost/x:1", policy: str = "IfNotPresent") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "c", "image": image,
                                         "imagePullPolicy": policy}]}}}}


def _job(name: str) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": "localhost/x:1"}]}}}}


def _run(objs: list[Obj], timeout: float, runtime: SimulatedRuntime) -> tuple[Any, str]:
    client = LocalClient(open_store("memory://"))
    for obj in objs:
        client.create(obj)
    refs = [ObjectRef.of(o) for o in objs]
    out = io.StringIO()
    settings = dataclasses.replace(Settings.from_env(os.environ), node_name=socket.gethostname(),
                                   kubelet=KubeletSettings(relist_period=0.1))
    result = converge(client, refs, timeout=timeout, on_progress=PlainProgress(out),
                      agents=AgentSet(client, settings, runtime))
    return result, out.getvalue()


def test_deployment_converges_and_is_reported() -> None:
    result, out = _run([_deploy("web")], 60, SimulatedRuntime())
    assert result.ok, report(result)
    assert "converged: Deployment default/web (2/2 available, 2/2 updated)" in out
    assert report(result).startswith("Converged: 1/1 objects ready")
    assert result.pods == {"Running": 2}


def test_timeout_names_the_object_and_why() -> None:
    runtime = SimulatedRuntime(missing_images=["localhost/absent:1"])
    result, _ = _run([_deploy("web"), _deploy("broken", "localhost/absent:1", "Never")], 3,
                     runtime)
    assert not result.ok
    text = report(result)
    assert "Deployment default/broken: 0/2 available" in text
    assert "ErrImageNeverPull" in text and "web" not in text.split("\n", 1)[1]


def test_verdicts() -> None:
    job = _job("j")
    assert not verdict(job).done
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    assert verdict(job).done
    job["status"] = {"conditions": [{"type": "Failed", "status": "True",
                                     "reason": "BackoffLimitExceeded"}]}
    assert verdict(job).failed and "BackoffLimitExceeded" in verdict(job).detail
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert verdict(cm).done


def test_a_paused_deployment_counts_as_converged_once_observed() -> None:
    d: Obj = {"kind": "Deployment", "metadata": {"name": "web", "generation": 2},
              "spec": {"replicas": 2, "paused": True},
              "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 0,
                         "availableReplicas": 2}}
    assert not verdict(d).done  # the controller has not seen the pause yet
    d["status"]["observedGeneration"] = 2
    v = verdict(d)
    assert v.done and v.detail.startswith("paused")
    d["spec"]["paused"] = False
    assert not verdict(d).done  # 0/2 updated: the rollout has to go on


def test_a_suspended_job_counts_as_converged() -> None:
    j: Obj = {"kind": "Job", "metadata": {"name": "batch"}, "spec": {"suspend": True},
              "status": {}}
    assert not verdict(j).done  # the controller has not marked it yet
    j["status"]["conditions"] = [{"type": "Suspended", "status": "True"}]
    assert verdict(j).done and verdict(j).detail.startswith("suspended")
    j["spec"]["suspend"] = False
    assert not verdict(j).done
