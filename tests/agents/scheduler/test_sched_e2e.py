"""The scheduler agent end to end through a real SQLite store and the Manager's informers.

Waits are bounded polls (``eventually``), never sleeps used as assertions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gitkube.agents.scheduler import (
    Scheduler,
    SchedulerConfig,
    Status,
    build_scheduler,
    default_registry,
)
from gitkube.agents.scheduler.framework import CycleState
from gitkube.agents.scheduler.types import NodeInfo, PodInfo
from tests.agents.scheduler.schedtest import SchedCluster, eventually, node_obj, pod_obj

FAST: dict[str, Any] = {"initial_backoff": 0.02, "max_backoff": 0.2, "seed": 1}


def _start(cluster: SchedCluster, config: SchedulerConfig | None = None) -> Scheduler:
    sched = build_scheduler(cluster.client, config or SchedulerConfig(**FAST),
                            manager=cluster.manager)
    cluster.manager.add(sched)
    cluster.manager.start()
    return sched


def _node_of(cluster: SchedCluster, name: str) -> str | None:
    pod = cluster.client.get("v1", "Pod", "default", name)
    node: str | None = pod["spec"].get("nodeName")
    return node


def _bound(cluster: SchedCluster, *names: str) -> bool:
    return all(_node_of(cluster, n) for n in names)


def test_pending_pods_get_bound_and_others_are_left_alone(sched_cluster: SchedCluster) -> None:
    cluster = sched_cluster
    client = cluster.client
    for i in range(3):
        client.create(node_obj(f"n{i}"))
    _start(cluster)
    for i in range(5):
        client.create(pod_obj(f"p{i}", cpu="100m"))
    other = pod_obj("other", scheduler="my-scheduler")
    client.create(other)
    pinned = pod_obj("pinned")
    pinned["spec"]["nodeName"] = "elsewhere"
    client.create(pinned)
    assert eventually(lambda: _bound(cluster, *(f"p{i}" for i in range(5))))
    pod = client.get("v1", "Pod", "default", "p0")
    assert {"type": "PodScheduled", "status": "True"}.items() <= next(
        c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled").items()
    assert _node_of(cluster, "other") is None
    assert _node_of(cluster, "pinned") == "elsewhere"


def test_unschedulable_pod_gets_condition_and_event_then_binds_when_a_node_appears(
        sched_cluster: SchedCluster) -> None:
    cluster = sched_cluster
    client = cluster.client
    for i in range(3):
        client.create(node_obj(f"small-{i}", cpu="1"))
    for i in range(2):
        client.create(node_obj(f"other-{i}", cpu="8", labels={"pool": "other"}))
    _start(cluster)
    client.create(pod_obj("big", cpu="2", node_selector={"pool": "big"}))
    expected = ("0/5 nodes are available: 5 node(s) didn't match Pod's node "
                "affinity/selector.")

    def condition() -> dict[str, Any] | None:
        pod = client.get("v1", "Pod", "default", "big")
        return next((c for c in pod["status"].get("conditions") or []
                     if c["type"] == "PodScheduled"), None)

    assert eventually(lambda: (condition() or {}).get("message") == expected)
    cond = condition()
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")

    def event_messages() -> list[str]:
        cluster.manager.flush_events()
        events = client.list("v1", "Event", "default",
                             field_selector="involvedObject.name=big").items
        return [e["message"] for e in events if e["reason"] == "FailedScheduling"
                and e["type"] == "Warning"]

    assert eventually(lambda: expected in event_messages())
    assert _node_of(cluster, "big") is None
    # A node that fits arrives: the pod is retried and bound there.
    client.create(node_obj("big-0", cpu="4", labels={"pool": "big"}))
    assert eventually(lambda: _node_of(cluster, "big") == "big-0")
    assert eventually(lambda: (condition() or {}).get("status") == "True")


def test_insufficient_resources_message_and_retry_when_capacity_is_freed(
        sched_cluster: SchedCluster) -> None:
    cluster = sched_cluster
    client = cluster.client
    client.create(node_obj("only", cpu="1"))
    _start(cluster)
    client.create(pod_obj("first", cpu="800m"))
    assert eventually(lambda: _bound(cluster, "first"))
    client.create(pod_obj("second", cpu="500m"))

    def message() -> str:
        pod = client.get("v1", "Pod", "default", "second")
        return next((c.get("message", "") for c in pod["status"].get("conditions") or []
                     if c["type"] == "PodScheduled"), "")

    assert eventually(lambda: message() == "0/1 nodes are available: 1 Insufficient cpu.")
    # no kubelet here to finish a graceful deletion (a terminating pod still holds its
    # node's resources, as upstream): remove it at once
    client.delete("v1", "Pod", "default", "first", grace_period_seconds=0)
    assert eventually(lambda: _node_of(cluster, "second") == "only")


def test_spread_versus_bin_packing(make_sched_cluster: Callable[[str], SchedCluster]) -> None:
    def placements(config: SchedulerConfig, db: str) -> list[str | None]:
        cluster = make_sched_cluster(db)
        for i in range(3):
            cluster.client.create(node_obj(f"n{i}", cpu="4", memory="8Gi"))
        _start(cluster, config)
        names = [f"p{i}" for i in range(3)]
        for name in names:
            cluster.client.create(pod_obj(name, cpu="1", memory="1Gi"))
        assert eventually(lambda: _bound(cluster, *names))
        return [_node_of(cluster, n) for n in names]

    spread = placements(SchedulerConfig(**FAST), "spread.db")
    assert len(set(spread)) == 3
    packed = placements(SchedulerConfig.bin_packing(**FAST), "packed.db")
    assert len(set(packed)) == 1


def test_cordoned_and_not_ready_nodes_get_no_pods(sched_cluster: SchedCluster) -> None:
    cluster = sched_cluster
    client = cluster.client
    client.create(node_obj("cordoned", unschedulable=True))
    client.create(node_obj("sick", ready="False"))
    client.create(node_obj("fine"))
    _start(cluster)
    for i in range(4):
        client.create(pod_obj(f"p{i}"))
    assert eventually(lambda: _bound(cluster, *(f"p{i}" for i in range(4))))
    assert {_node_of(cluster, f"p{i}") for i in range(4)} == {"fine"}


class OnlyNamedLast:
    """A user's filter, registered by name: only the node whose name sorts last."""

    name = "OnlyNamedLast"

    def __init__(self, args: Mapping[str, Any]) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        return Status() if node_info.name == "n2" else Status.unschedulable("not last")


def test_custom_plugin_by_name_drives_the_agent_and_bindings_are_recorded(
        sched_cluster: SchedCluster) -> None:
    cluster = sched_cluster
    client = cluster.client
    for i in range(3):
        client.create(node_obj(f"n{i}"))
    registry = default_registry()
    registry.register("OnlyNamedLast", OnlyNamedLast)
    config = SchedulerConfig(**FAST).with_(filters=("NodeResourcesFit", "OnlyNamedLast"))
    sched = build_scheduler(client, config, manager=cluster.manager, registry=registry)
    cluster.manager.add(sched)
    cluster.manager.start()
    for i in range(4):
        client.create(pod_obj(f"p{i}"))
    assert eventually(lambda: _bound(cluster, *(f"p{i}" for i in range(4))))
    assert {_node_of(cluster, f"p{i}") for i in range(4)} == {"n2"}

    def scheduled() -> list[str]:
        cluster.manager.flush_events()
        return [e["message"] for e in client.list("v1", "Event", "default").items
                if e["reason"] == "Scheduled"]

    assert eventually(lambda: "Successfully assigned default/p0 to n2" in scheduled())
