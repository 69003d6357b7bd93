"""The scheduler cache's accounting: assume, confirm, forget, observed bindings, nodes that
come and go."""

from __future__ import annotations

from gitkube.agents.scheduler import build_scheduler
from gitkube.agents.scheduler.cache import SchedulerCache
from gitkube.agents.scheduler.scheduler import _Bind
from gitkube.agents.scheduler.types import PodInfo
from gitkube.api import LocalClient
from gitkube.store import open_store
from tests.agents.scheduler.schedtest import node_obj, pod_obj


def _cpu(cache: SchedulerCache, node: str) -> int:
    info = cache.node_info(node)
    return info.requested.milli_cpu if info is not None else 0


def test_assumed_pods_count_until_confirmed_or_forgotten() -> None:
    cache = SchedulerCache()
    cache.set_node(node_obj("a"))
    pod = PodInfo(pod_obj("p", cpu="500m"))
    cache.assume(pod, "a")
    assert _cpu(cache, "a") == 500
    assert cache.confirm("default/p", "a")
    assert not cache.is_assumed("default/p")
    assert _cpu(cache, "a") == 500  # confirmed: still counted, once
    other = PodInfo(pod_obj("q", cpu="200m"))
    cache.assume(other, "a")
    cache.forget("default/q")
    assert _cpu(cache, "a") == 500


def test_a_binding_observed_elsewhere_wins_over_the_assumption() -> None:
    cache = SchedulerCache()
    cache.set_node(node_obj("a"))
    cache.set_node(node_obj("b"))
    pod = PodInfo(pod_obj("p", cpu="300m"))
    cache.assume(pod, "a")
    cache.add_pod(pod, "b")  # someone else bound it to b first
    cache.forget("default/p")  # our binding then fails
    assert (_cpu(cache, "a"), _cpu(cache, "b")) == (0, 300)


def test_heartbeats_are_not_changes_and_pods_outlive_their_node() -> None:
    cache = SchedulerCache()
    node = node_obj("a")
    assert cache.set_node(node)
    info = cache.node_info("a")
    assert info is not None
    generation = info.generation
    beat = node_obj("a")
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2030-01-01T00:00:00Z"
    assert not cache.set_node(beat)
    assert info.generation == generation
    assert cache.set_node(node_obj("a", labels={"x": "y"}))
    cache.add_pod(PodInfo(pod_obj("p", cpu="1")), "a")
    cache.remove_node("a")
    assert cache.node_list() == []
    assert _cpu(cache, "a") == 1000
    assert cache.remove_pod("default/p")
    assert cache.node_info("a") is None


def test_a_refused_batch_is_retried_one_by_one_and_the_loser_forgotten() -> None:
    client = LocalClient(open_store("memory://"))
    sched = build_scheduler(client)  # not started: the writer is driven by hand
    client.create(node_obj("n1"))
    sched.cache.set_node(node_obj("n1"))
    a = PodInfo(client.create(pod_obj("a", cpu="100m")))
    b = PodInfo(client.create(pod_obj("b", cpu="100m")))
    client.bind("default", "b", "elsewhere")  # another scheduler won b
    for p in (a, b):
        sched.cache.assume(p, "n1")
    sched._bind_all([_Bind(a, "n1"), _Bind(b, "n1")])
    assert client.get("v1", "Pod", "default", "a")["spec"]["nodeName"] == "n1"
    assert (sched.stats.bound, sched.stats.bind_errors) == (1, 1)
    assert _cpu(sched.cache, "n1") == 100  # b gave its capacity back
    assert sched.recorder is not None
    sched.recorder.close()
