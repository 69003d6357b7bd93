"""Endpoints controller end to end: readiness, named ports, selector changes, removal."""

from __future__ import annotations

from typing import Any

from gitkube.agents.controllers import endpoints as epc
from gitkube.api.client import Client
from tests.agents.agenttest import Cluster, eventually, mark_running, node

Obj = dict[str, Any]


def service(**spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"}},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                               {"name": "metrics", "port": 9090, "targetPort": 9100}],
                     **spec}}


def pod(name: str, port: int = 8080, app: str = "web") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1",
                                     "ports": [{"name": "http", "containerPort": port}]}]}}


def subsets(client: Client) -> list[Obj]:
    try:
        return list(client.get("v1", "Endpoints", "default", "web").get("subsets") or [])
    except Exception:
        return []


def names(subset: Obj, field: str = "addresses") -> list[str]:
    return [a["targetRef"]["name"] for a in subset.get(field) or []]


def test_pure_named_ports_group_subsets() -> None:
    svc = service()
    svc["metadata"]["namespace"] = "default"
    a = {**pod("a"), "status": {"phase": "Running", "podIP": "10.0.0.1",
                                "conditions": [{"type": "Ready", "status": "True"}]}}
    b = {**pod("b", port=9000), "status": {"phase": "Running", "podIP": "10.0.0.2",
                                           "conditions": [{"type": "Ready",
                                                           "status": "False"}]}}
    out = epc.compute_subsets(svc, [a, b])
    assert len(out) == 2
    by_port = {s["ports"][0]["port"]: s for s in out}
    assert names(by_port[8080]) == ["a"]
    assert names(by_port[9000], "notReadyAddresses") == ["b"]
    assert [p["port"] for p in by_port[8080]["ports"]] == [8080, 9100]
    assert by_port[8080]["addresses"][0]["targetRef"]["kind"] == "Pod"


def test_publish_not_ready_addresses_lists_every_pod_as_ready() -> None:
    """Headless services of clustered StatefulSets set it: peers find each other while
    they are still starting."""
    svc = service(publishNotReadyAddresses=True)
    starting = {**pod("a"), "status": {"phase": "Running", "podIP": "10.0.0.1",
                                       "conditions": [{"type": "Ready", "status": "False"}]}}
    out = epc.compute_subsets(svc, [starting])
    assert [names(s) for s in out] == [["a"]]
    assert all("notReadyAddresses" not in s for s in out)
    assert names(epc.compute_subsets(service(), [starting])[0], "notReadyAddresses") == ["a"]


def test_endpoints_follow_readiness(cluster: Cluster) -> None:
    c = cluster.client
    c.create(node("n1"))
    cluster.manager.add(epc.controller(cluster.manager))
    cluster.manager.start()
    c.create(service())
    assert eventually(lambda: c.get("v1", "Endpoints", "default", "web"))
    assert subsets(c) == []
    a = c.create(pod("a"))
    c.create(pod("other", app="db"))
    mark_running(c, a, ready=False, node_name="n1")
    assert eventually(lambda: subsets(c) and names(subsets(c)[0], "notReadyAddresses") == ["a"])
    mark_running(c, c.get("v1", "Pod", "default", "a"), ready=True)
    assert eventually(lambda: subsets(c) and names(subsets(c)[0]) == ["a"])
    sub = subsets(c)[0]
    assert sub["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"},
                            {"name": "metrics", "port": 9100, "protocol": "TCP"}]
    assert sub["addresses"][0]["nodeName"] == "n1"
    ep = c.get("v1", "Endpoints", "default", "web")
    assert ep["metadata"]["labels"]["tier"] == "front"
    b = c.create(pod("b"))
    mark_running(c, b, node_name="n1")
    assert eventually(lambda: subsets(c) and sorted(names(subsets(c)[0])) == ["a", "b"])
    c.delete("v1", "Pod", "default", "a")
    assert eventually(lambda: subsets(c) and names(subsets(c)[0]) == ["b"])
    svc = c.get("v1", "Service", "default", "web")
    svc["spec"]["selector"] = {"app": "db"}
    c.update(svc)
    assert eventually(lambda: subsets(c) == [])
    c.delete("v1", "Service", "default", "web")
    assert eventually(lambda: not c.list("v1", "Endpoints", "default").items)
