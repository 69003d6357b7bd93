"""Pod priority through the api layer (admission) and the scheduler's queue order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.controllers import priorityclass
from gitkube.agents.scheduler import SchedulerConfig, build_scheduler
from gitkube.api.local import LocalClient
from gitkube.errors import Forbidden, Invalid
from gitkube.store import open_store
from tests.agents.scheduler.schedtest import SchedCluster, eventually, node_obj, pod_obj

Obj = dict[str, Any]


def pc(name: str, value: int, **more: Any) -> Obj:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, **more}


def with_class(pod: Obj, name: str) -> Obj:
    pod["spec"]["priorityClassName"] = name
    return pod


@pytest.fixture
def client(tmp_path: Path) -> LocalClient:
    return LocalClient(open_store(f"sqlite:///{tmp_path / 's.db'}"))


def test_admission_resolves_the_class(client: LocalClient) -> None:
    client.create(pc("high", 1000, preemptionPolicy="Never"))
    pod = client.create(with_class(pod_obj("a"), "high"))
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (1000, "Never")
    plain = client.create(pod_obj("b"))
    assert (plain["spec"]["priority"], plain["spec"]["preemptionPolicy"]) == \
        (0, "PreemptLowerPriority")
    critical = client.create(with_class(pod_obj("c"), "system-cluster-critical"))
    assert critical["spec"]["priority"] == 2_000_000_000
    with pytest.raises(Forbidden, match='pods "d" is forbidden: no PriorityClass with name '
                                        "nope was found"):
        client.create(with_class(pod_obj("d"), "nope"))


def test_global_default_and_its_uniqueness(client: LocalClient) -> None:
    client.create(pc("std", 100, globalDefault=True))
    pod = client.create(pod_obj("a"))
    assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == ("std", 100)
    with pytest.raises(Forbidden, match="PriorityClass std is already marked as default"):
        client.create(pc("other", 5, globalDefault=True))


def test_class_value_is_immutable_and_rules_are_checked(client: LocalClient) -> None:
    stored = client.create(pc("high", 1000))
    assert stored["preemptionPolicy"] == "PreemptLowerPriority"
    with pytest.raises(Invalid, match="field is immutable"):
        client.update({**stored, "value": 5})
    client.update({**stored, "description": "fine"})
    with pytest.raises(Invalid, match="reserved for system use"):
        client.create(pc("system-mine", 10))
    with pytest.raises(Invalid, match="maximum allowed value of a user defined priority"):
        client.create(pc("huge", 1_000_000_001))


def test_builtin_classes_are_created(client: LocalClient) -> None:
    agent = priorityclass.BuiltinPriorityClasses(client)
    assert agent.ensure() and agent.ensure()  # idempotent
    names = {o["metadata"]["name"] for o in
             client.list("scheduling.k8s.io/v1", "PriorityClass").items}
    assert names == {"system-cluster-critical", "system-node-critical"}


def test_the_scheduler_places_higher_priority_first(tmp_path: Path) -> None:
    cluster = SchedCluster(tmp_path / "s.db")
    try:
        c = cluster.client
        c.create(pc("low", 10))
        c.create(pc("high", 1000))
        # created low first, high second: FIFO would place the low one
        c.create(with_class(pod_obj("low", cpu="3"), "low"))
        c.create(with_class(pod_obj("high", cpu="3"), "high"))
        c.create(node_obj("n1", cpu="4"))  # room for one of them
        cluster.manager.add(build_scheduler(c, SchedulerConfig(initial_backoff=0.02,
                                                               max_backoff=0.2, seed=1),
                                            manager=cluster.manager))
        cluster.manager.start()
        assert eventually(lambda: c.get("v1", "Pod", "default", "high")["spec"]
                          .get("nodeName") == "n1")
        assert not c.get("v1", "Pod", "default", "low")["spec"].get("nodeName")
    finally:
        cluster.close()
