"""The framework without threads: the FailedScheduling message, sampling, configuration,
custom plugins registered by name, and verdict reuse giving the same decisions."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.scheduler import (
    CycleState,
    SchedulerConfig,
    SchedulerConfigError,
    ScoreSpec,
    Status,
    UnknownPlugin,
    build_framework,
    default_registry,
    fit_error_message,
    num_feasible_nodes_to_find,
)
from gitkube.agents.scheduler.cache import SchedulerCache
from gitkube.agents.scheduler.types import NodeInfo, PodInfo
from tests.agents.scheduler.schedtest import node_info, node_obj, pod_obj


def _five_nodes() -> list[NodeInfo]:
    small = [node_info(f"small-{i}", cpu="1") for i in range(3)]
    labelled = [node_info(f"gpu-{i}", cpu="8", labels={"disk": "hdd"}) for i in range(2)]
    return small + labelled


def test_unschedulable_message_is_upstreams_sorted_histogram() -> None:
    fw = build_framework(SchedulerConfig(seed=1))
    pod = PodInfo(pod_obj("p", cpu="2", node_selector={"disk": "ssd"}))
    result = fw.schedule(pod, _five_nodes())
    assert result.node is None
    # The first failing filter per node counts: the affinity filter runs before resources,
    # so the small nodes (which also lack the label) count as affinity misses.
    assert result.message == (
        "0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector.")
    pod = PodInfo(pod_obj("p", cpu="2", node_selector={"kubernetes.io/hostname": "gpu-9"}))
    nodes = [node_info(f"n{i}", cpu="1", labels={"kubernetes.io/hostname": "gpu-9"})
             for i in range(3)] + [node_info(f"m{i}", cpu="8") for i in range(2)]
    assert fw.schedule(pod, nodes).message == (
        "0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
        "3 Insufficient cpu.")


def test_message_counts_every_reason_and_sorts_as_strings() -> None:
    statuses = ([Status.unschedulable("Insufficient cpu", "Insufficient memory")] * 2
                + [Status.unschedulable("node(s) were unschedulable")] * 10)
    assert fit_error_message(12, statuses) == (
        "0/12 nodes are available: 10 node(s) were unschedulable, 2 Insufficient cpu, "
        "2 Insufficient memory.")
    assert fit_error_message(0, []) == "no nodes available to schedule pods"


def test_feasible_nodes_to_find_is_adaptive_like_upstream() -> None:
    assert num_feasible_nodes_to_find(50) == 50
    assert num_feasible_nodes_to_find(100) == 100
    assert num_feasible_nodes_to_find(1000) == 420  # 50 - 1000/125 = 42 %
    assert num_feasible_nodes_to_find(5000) == 500  # 10 %
    assert num_feasible_nodes_to_find(20000) == 1000  # the 5 % floor
    assert num_feasible_nodes_to_find(300, percentage=10) == 100  # at least 100
    assert num_feasible_nodes_to_find(300, percentage=100) == 300


def test_search_stops_after_enough_feasible_nodes_and_rotates() -> None:
    fw = build_framework(SchedulerConfig(seed=1))
    nodes = [node_info(f"n{i:04d}") for i in range(1000)]
    first = fw.schedule(PodInfo(pod_obj("a")), nodes)
    assert (first.evaluated, first.feasible) == (420, 420)
    assert fw.next_start == 420
    fw.schedule(PodInfo(pod_obj("b")), nodes)
    assert fw.next_start == 840


def test_spread_and_bin_packing_choose_differently() -> None:
    nodes = [node_info("empty", cpu="4"),
             node_info("half", cpu="4", running=[pod_obj("x", cpu="2")])]
    pod = PodInfo(pod_obj("p", cpu="1"))
    assert build_framework(SchedulerConfig(seed=1)).schedule(pod, nodes).node == "empty"
    assert build_framework(SchedulerConfig.bin_packing(seed=1)).schedule(
        pod, nodes).node == "half"


class PreferNamed:
    """A user's plugin: score 100 for the node named in its args, 0 elsewhere."""

    name = "PreferNamed"

    def __init__(self, args: Mapping[str, Any]):
        self.target = str(args.get("node", ""))

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        return 100 if node_info.name == self.target else 0


class OnlyEven:
    """A user's filter: only nodes whose name ends in an even digit."""

    name = "OnlyEven"

    def __init__(self, args: Mapping[str, Any]):
        pass

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        if int(node_info.name[-1]) % 2 == 0:
            return Status()
        return Status.unschedulable("node(s) are odd")


def test_custom_plugins_registered_by_name_change_decisions() -> None:
    registry = default_registry()
    registry.register("PreferNamed", PreferNamed)
    registry.register("OnlyEven", OnlyEven)
    nodes = [node_info(f"n{i}") for i in range(5)]
    pod = PodInfo(pod_obj("p"))
    config = SchedulerConfig.from_dict({
        "filters": ["NodeResourcesFit", "OnlyEven"],
        "scores": [{"name": "NodeResourcesLeastAllocated", "weight": 1},
                   {"name": "PreferNamed", "weight": 10}],
        "pluginConfig": [{"name": "PreferNamed", "args": {"node": "n4"}}],
        "seed": 3,
    })
    fw = build_framework(config, registry)
    assert not fw.memoize  # the custom plugins declare no signature
    assert fw.schedule(pod, nodes).node == "n4"
    odd_only = config.with_(scores=(ScoreSpec("PreferNamed", 10),),
                            plugin_args={"PreferNamed": {"node": "n3"}})
    result = build_framework(odd_only, registry).schedule(pod, nodes)
    assert result.node in ("n0", "n2", "n4")  # n3 is preferred but filtered out
    impossible = build_framework(config, registry).schedule(pod, nodes[1:2])
    assert impossible.message == "0/1 nodes are available: 1 node(s) are odd."


def test_unknown_plugins_and_bad_profiles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownPlugin, match="NoSuch"):
        build_framework(SchedulerConfig(filters=("NoSuch",)))
    with pytest.raises(SchedulerConfigError, match="no filter"):
        build_framework(SchedulerConfig(filters=("NodeResourcesBalancedAllocation",)))
    with pytest.raises(SchedulerConfigError, match="unknown scheduler profile field"):
        SchedulerConfig.from_dict({"filter": []})
    profile = tmp_path / "binpack.yaml"
    profile.write_text("schedulerName: packer\npercentageOfNodesToScore: 50\n"
                       "scores:\n  - {name: NodeResourcesMostAllocated, weight: 2}\n",
                       encoding="utf-8")
    config = SchedulerConfig.load(profile)
    assert config.scheduler_name == "packer"
    assert config.scores == (ScoreSpec("NodeResourcesMostAllocated", 2),)
    assert config.percentage_of_nodes_to_score == 50
    as_json = tmp_path / "profile.json"
    as_json.write_text('{"filters": ["NodeResourcesFit"], "scores": ["NodeResourcesMostAllocated"]'
                       ', "pluginConfig": [{"name": "NodeResourcesFit", "args": '
                       '{"scoringStrategy": {"type": "MostAllocated"}}}]}', encoding="utf-8")
    config = SchedulerConfig.load(as_json)
    assert config.filters == ("NodeResourcesFit",)
    assert config.plugin_args["NodeResourcesFit"]["scoringStrategy"]["type"] == "MostAllocated"
    build_framework(config)


def test_memoized_verdicts_decide_like_fresh_ones() -> None:
    def run(memoize: bool) -> list[str | None]:
        fw = build_framework(SchedulerConfig(seed=7, memoize=memoize))
        nodes = [node_info(f"n{i}", cpu="2", memory="4Gi") for i in range(20)]
        by_name = {n.name: n for n in nodes}
        out = []
        for i in range(50):
            pod = PodInfo(pod_obj(f"p{i}", cpu="300m", memory="256Mi"))
            node = fw.schedule(pod, nodes).node
            out.append(node)
            if node is not None:
                by_name[node].add_pod(pod)
        return out

    fresh, memo = run(False), run(True)
    assert fresh == memo
    assert None not in fresh


def test_incremental_tables_decide_like_fresh_verdicts_while_the_cluster_changes() -> None:
    """Same seed, same operations: the memoized and table-refreshed path (a cache's NodeList)
    and a framework computing every verdict afresh must choose the same nodes."""
    def run(memoize: bool) -> list[str | None]:
        rnd = random.Random(5)
        cache = SchedulerCache()
        fw = build_framework(SchedulerConfig(seed=11, memoize=memoize))
        for i in range(150):
            cache.set_node(node_obj(f"n{i:03d}", cpu="2", memory="4Gi",
                                    labels={"zone": f"z{i % 3}"}))
        out: list[str | None] = []
        placed: list[str] = []
        for i in range(400):
            shape = rnd.randrange(4)
            pod = pod_obj(f"p{i}", cpu=rnd.choice(["100m", "300m", "700m"]), memory="128Mi",
                          node_selector={"zone": "z1"} if shape == 1 else None,
                          host_port=8080 if shape == 2 else None)
            info = PodInfo(pod)
            with cache.lock:
                node = fw.schedule(info, cache.node_list()).node
                if node is not None:
                    cache.assume(info, node)
                    placed.append(info.key)
            out.append(node)
            op = rnd.randrange(10)
            if op == 0 and placed:
                cache.remove_pod(placed.pop(rnd.randrange(len(placed))))
            elif op == 1:
                j = rnd.randrange(150)
                cache.set_node(node_obj(f"n{j:03d}", cpu="2", memory="4Gi",
                                        labels={"zone": f"z{rnd.randrange(3)}"}))
            elif op == 2:
                cache.set_node(node_obj(f"extra{i}", cpu="4", labels={"zone": "z1"}))
            elif op == 3:
                cache.remove_node(f"n{rnd.randrange(150):03d}")
        return out

    fresh, memo = run(False), run(True)
    assert fresh == memo
    assert fresh.count(None) < len(fresh)


def test_soft_preferences_decide_between_otherwise_equal_nodes() -> None:
    fw = build_framework(SchedulerConfig(seed=2))
    avoid = node_info("avoid", taints=[{"key": "spot", "effect": "PreferNoSchedule"}])
    plain = node_info("plain")
    for _ in range(5):
        assert fw.schedule(PodInfo(pod_obj("p")), [avoid, plain]).node == "plain"
    prefer_ssd = {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [
            {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}
    ssd = node_info("ssd", labels={"disk": "ssd"})
    for _ in range(5):
        assert fw.schedule(PodInfo(pod_obj("q", affinity=prefer_ssd)),
                           [plain, ssd]).node == "ssd"
