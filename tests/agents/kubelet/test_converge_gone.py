"""`gitkube delete` / `apply --wait` waiting for deleted objects (converge's ``gone=``) on the
simulated runtime: a Namespace goes through Terminating, its content, pods and sandboxes go,
a Deployment's ReplicaSets and Pods go with it, and a timeout names what is left and why."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import threading
from typing import Any

from gitkube.agents.compose import AgentSet
from gitkube.agents.converge import ConvergeResult, Deleted, PlainProgress, converge, report
from gitkube.api.local import LocalClient
from gitkube.model import kinds
from gitkube.model.objects import ObjectRef
from gitkube.runtime.base import LABEL_NAMESPACE
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.settings import KubeletSettings, Settings
from gitkube.store import open_store

Obj = dict[str, Any]


def _ns(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _deploy(name: str, namespace: str, replicas: int = 2) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "c", "image": "localhost/x:1",
                                         "imagePullPolicy": "IfNotPresent"}]}}}}


def _converge(client: LocalClient, runtime: SimulatedRuntime, refs: list[ObjectRef], *,
              timeout: float, gone: list[Deleted] | None = None,
              out: io.StringIO | None = None) -> ConvergeResult:
    """converge with the agents on the simulated runtime (a quick relist)."""
    settings = dataclasses.replace(Settings.from_env(os.environ), node_name=socket.gethostname(),
                                   kubelet=KubeletSettings(relist_period=0.1))
    return converge(client, refs, timeout=timeout, gone=gone or [],
                    on_progress=PlainProgress(out or io.StringIO()),
                    agents=AgentSet(client, settings, runtime))


def _up(client: LocalClient, runtime: SimulatedRuntime, objs: list[Obj]) -> None:
    for obj in objs:
        client.create(obj)
    result = _converge(client, runtime, [ObjectRef.of(o) for o in objs], timeout=60)
    assert result.ok, report(result)


def _left_in(client: LocalClient, namespace: str) -> list[str]:
    return [f"{rt.kind}/{o['metadata']['name']}" for rt in kinds.RESOURCES if rt.namespaced
            for o in client.list(rt.api_version, rt.kind, namespace).items]


def test_namespace_delete_goes_through_terminating_and_leaves_nothing() -> None:
    client = LocalClient(open_store("memory://"))
    runtime = SimulatedRuntime()
    _up(client, runtime, [_ns("shop"), _deploy("web", "shop"),
                          {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "settings", "namespace": "shop"}}])
    ns = client.get("v1", "Namespace", None, "shop")
    assert ns["spec"]["finalizers"] == ["kubernetes"]  # defaulted on create, like upstream
    assert runtime.list_sandboxes({LABEL_NAMESPACE: "shop"})
    states: list[tuple[str, str]] = []
    watcher = client.watch("v1", "Namespace", None,
                           resource_version=ns["metadata"]["resourceVersion"])

    def record() -> None:
        for event in watcher:
            states.append((event.type, (event.object.get("status") or {}).get("phase", "")))
            if event.type == "DELETED":
                return

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    deleted = client.delete("v1", "Namespace", None, "shop")
    assert deleted["status"]["phase"] == "Terminating"  # held by spec.finalizers
    out = io.StringIO()
    result = _converge(client, runtime, [], gone=[Deleted.of(deleted)], timeout=60, out=out)
    assert result.ok, report(result)
    assert report(result).startswith("Gone: 1 deleted object(s)")
    assert "gone: Namespace shop (gone)" in out.getvalue()
    recorder.join(10)
    watcher.close()
    assert states[0] == ("MODIFIED", "Terminating")
    assert states[-1][0] == "DELETED"
    assert _left_in(client, "shop") == []  # Events too
    assert runtime.list_sandboxes({LABEL_NAMESPACE: "shop"}) == []


def test_deleted_deployment_waits_for_its_replicasets_and_pods() -> None:
    client = LocalClient(open_store("memory://"))
    runtime = SimulatedRuntime()
    _up(client, runtime, [_deploy("web", "default"), _deploy("api", "default", 1)])
    deleted = client.delete("apps/v1", "Deployment", "default", "web",
                            propagation_policy="Background")
    result = _converge(client, runtime, [], gone=[Deleted.of(deleted)], timeout=60)
    assert result.ok, report(result)
    pods = client.list("v1", "Pod", "default").items
    assert [p["metadata"]["labels"]["app"] for p in pods] == ["api"]  # the other one stays
    assert [rs["metadata"]["name"].split("-")[0]
            for rs in client.list("apps/v1", "ReplicaSet", "default").items] == ["api"]
    assert len(runtime.list_sandboxes({LABEL_NAMESPACE: "default"})) == 1


def test_timeout_names_what_holds_the_namespace() -> None:
    client = LocalClient(open_store("memory://"))
    client.create(_ns("held"))
    client.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "keep", "namespace": "held",
                                "finalizers": ["example.com/hold"]}})
    deleted = client.delete("v1", "Namespace", None, "held")
    result = _converge(client, SimulatedRuntime(), [], gone=[Deleted.of(deleted)], timeout=3)
    assert not result.ok
    text = report(result)
    assert "Namespace held: phase Terminating; 1 object(s) left inside; finalizers " \
           "kubernetes" in text, text
    # release it: the namespace controller (next run) finishes the deletion
    cm = client.get("v1", "ConfigMap", "held", "keep")
    client.update({**cm, "metadata": {**cm["metadata"], "finalizers": []}})
    result = _converge(client, SimulatedRuntime(), [], gone=[Deleted.of(deleted)], timeout=30)
    assert result.ok, report(result)
