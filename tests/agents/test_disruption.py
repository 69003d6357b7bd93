"""PodDisruptionBudget end to end on a real store: the controller keeps the status and the
eviction subresource spends it (429 once it is used up)."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.controllers import disruption
from gitkube.api.eviction import evict
from gitkube.errors import NotFound, TooManyRequests
from tests.agents.agenttest import Cluster, eventually, mark_running

Obj = dict[str, Any]


def pod(name: str, app: str = "web") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox:1"}]}}


def budget(**spec: Any) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def status(cluster: Cluster) -> Obj:
    got: Obj = cluster.client.get("policy/v1", "PodDisruptionBudget", "default",
                                  "web").get("status") or {}
    return got


def test_status_follows_pods_and_evictions_spend_it(cluster: Cluster) -> None:
    c = cluster.client
    cluster.manager.add(disruption.controller(cluster.manager))
    cluster.manager.start()
    for name in ("a", "b", "c"):
        mark_running(c, c.create(pod(name)))
    c.create(pod("other", app="db"))
    c.create(budget(minAvailable=2))
    assert eventually(lambda: status(cluster).get("disruptionsAllowed") == 1)
    st = status(cluster)
    assert (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"]) == (3, 2, 3)
    evict(c, "default", "a")
    # graceful deletion: the pod is terminating, no longer healthy
    assert eventually(lambda: status(cluster).get("currentHealthy") == 2)
    assert status(cluster)["disruptionsAllowed"] == 0
    with pytest.raises(TooManyRequests) as info:
        evict(c, "default", "b")
    assert info.value.code == 429
    assert "Cannot evict pod as it would violate the pod's disruption budget." in \
        info.value.message
    assert info.value.causes[0]["message"] == \
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    evict(c, "default", "other")  # no budget selects it
    assert gone_or_terminating(cluster, "other")


def gone_or_terminating(cluster: Cluster, name: str) -> bool:
    try:
        obj = cluster.client.get("v1", "Pod", "default", name)
    except NotFound:
        return True
    return bool(obj["metadata"].get("deletionTimestamp"))
