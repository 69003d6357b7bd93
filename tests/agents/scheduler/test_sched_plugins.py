"""Each built-in filter and score on its own: pure calls, no store, no threads."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.scheduler.framework import (
    CycleState,
    FilterPlugin,
    ScorePlugin,
    Status,
    default_normalize,
)
from gitkube.agents.scheduler.plugins import (
    BalancedAllocation,
    LeastAllocated,
    MostAllocated,
    NodeAffinity,
    NodePorts,
    NodeReady,
    NodeResourcesFit,
    NodeUnschedulable,
    TaintToleration,
)
from gitkube.agents.scheduler.types import NodeInfo, PodInfo, pod_requests
from tests.agents.scheduler.schedtest import node_info, pod_obj, required


def _filter(plugin: FilterPlugin, pod: dict[str, Any], info: NodeInfo) -> Status:
    return plugin.filter(CycleState(), PodInfo(pod), info)


# --- requests ------------------------------------------------------------------------------


def test_pod_requests_take_the_largest_init_container_against_the_sum() -> None:
    spec = pod_obj("p", cpu="100m", memory="64Mi")["spec"]
    spec["initContainers"] = [{"name": "i1", "image": "x",
                               "resources": {"requests": {"cpu": "1"}}},
                              {"name": "i2", "image": "x",
                               "resources": {"requests": {"memory": "32Mi"}}}]
    spec["containers"].append({"name": "c2", "image": "x",
                               "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}})
    r = pod_requests(spec)
    assert (r.milli_cpu, r.memory) == (1000, 128 * 2**20)


def test_sidecar_init_containers_add_up_and_limits_stand_for_requests() -> None:
    spec = {"containers": [{"name": "c", "image": "x",
                            "resources": {"limits": {"cpu": "500m"}}}],
            "initContainers": [{"name": "side", "image": "x", "restartPolicy": "Always",
                                "resources": {"requests": {"cpu": "100m"}}}],
            "overhead": {"cpu": "50m"}}
    assert pod_requests(spec).milli_cpu == 650
    nz = pod_requests({"containers": [{"name": "c", "image": "x"}]}, non_zero=True)
    assert (nz.milli_cpu, nz.memory) == (100, 200 * 2**20)


# --- filters -------------------------------------------------------------------------------


def test_fit_reports_each_short_resource_and_counts_pods() -> None:
    busy = node_info(cpu="1", memory="1Gi", pods="2",
                     running=[pod_obj("a", cpu="800m", memory="512Mi")])
    fit = NodeResourcesFit()
    assert _filter(fit, pod_obj("p", cpu="200m", memory="512Mi"), busy).ok
    st = _filter(fit, pod_obj("p", cpu="300m", memory="600Mi"), busy)
    assert st.reasons == ("Insufficient cpu", "Insufficient memory")
    full = node_info(pods="1", running=[pod_obj("a")])
    assert _filter(fit, pod_obj("p"), full).reasons == ("Too many pods",)


def test_fit_counts_extended_resources() -> None:
    p = pod_obj("p")
    p["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    assert _filter(NodeResourcesFit(), p, node_info()).reasons == (
        "Insufficient nvidia.com/gpu",)


def test_unschedulable_node_refuses_unless_tolerated() -> None:
    cordoned = node_info(unschedulable=True)
    st = _filter(NodeUnschedulable(), pod_obj("p"), cordoned)
    assert st.reasons == ("node(s) were unschedulable",)
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
            "effect": "NoSchedule"}]
    assert _filter(NodeUnschedulable(), pod_obj("p", tolerations=tol), cordoned).ok
    assert _filter(NodeUnschedulable(), pod_obj("p"), node_info()).ok


@pytest.mark.parametrize(("ready", "taint"), [
    ("False", "node.kubernetes.io/not-ready"),
    ("Unknown", "node.kubernetes.io/unreachable"),
    (None, "node.kubernetes.io/unreachable"),
])
def test_not_ready_node_refuses_like_its_taint(ready: str | None, taint: str) -> None:
    st = _filter(NodeReady(), pod_obj("p"), node_info(ready=ready))
    assert st.reasons == (f"node(s) had untolerated taint {{{taint}: }}",)
    tol = [{"key": taint, "operator": "Exists"}]
    assert _filter(NodeReady(), pod_obj("p", tolerations=tol), node_info(ready=ready)).ok
    assert _filter(NodeReady(), pod_obj("p"), node_info()).ok


def test_taints_need_tolerations_for_noschedule_and_noexecute_only() -> None:
    tainted = node_info(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    st = _filter(TaintToleration(), pod_obj("p"), tainted)
    assert st.reasons == ("node(s) had untolerated taint {dedicated: gpu}",)
    ok = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    wrong = [{"key": "dedicated", "operator": "Equal", "value": "cpu"}]
    everything = [{"operator": "Exists"}]
    assert _filter(TaintToleration(), pod_obj("p", tolerations=ok), tainted).ok
    assert not _filter(TaintToleration(), pod_obj("p", tolerations=wrong), tainted).ok
    assert _filter(TaintToleration(), pod_obj("p", tolerations=everything), tainted).ok
    soft = node_info(taints=[{"key": "k", "effect": "PreferNoSchedule"}])
    assert _filter(TaintToleration(), pod_obj("p"), soft).ok


def test_node_selector_and_required_affinity() -> None:
    ssd = node_info(labels={"disk": "ssd", "gen": "5"})
    aff = NodeAffinity()
    assert _filter(aff, pod_obj("p", node_selector={"disk": "ssd"}), ssd).ok
    st = _filter(aff, pod_obj("p", node_selector={"disk": "hdd"}), ssd)
    assert st.reasons == ("node(s) didn't match Pod's node affinity/selector",)

    def fits(*exprs: dict[str, object], fields: list[dict[str, object]] | None = None) -> bool:
        term: dict[str, object] = {"matchExpressions": list(exprs)}
        if fields:
            term["matchFields"] = fields
        return _filter(aff, pod_obj("p", affinity=required(term)), ssd).ok

    assert fits({"key": "disk", "operator": "In", "values": ["ssd", "nvme"]})
    assert not fits({"key": "disk", "operator": "NotIn", "values": ["ssd"]})
    assert fits({"key": "zone", "operator": "NotIn", "values": ["a"]})
    assert fits({"key": "disk", "operator": "Exists"})
    assert not fits({"key": "disk", "operator": "DoesNotExist"})
    assert fits({"key": "gen", "operator": "Gt", "values": ["4"]})
    assert not fits({"key": "gen", "operator": "Lt", "values": ["5"]})
    assert not fits({"key": "disk", "operator": "Gt", "values": ["1"]})  # not an integer
    assert fits(fields=[{"key": "metadata.name", "operator": "In", "values": ["n1"]}])
    assert not fits(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}])
    # Terms are ORed; an empty term matches nothing.
    either = required({"matchExpressions": [{"key": "disk", "operator": "In",
                                             "values": ["hdd"]}]},
                      {"matchExpressions": [{"key": "gen", "operator": "Exists"}]})
    assert _filter(aff, pod_obj("p", affinity=either), ssd).ok
    assert not _filter(aff, pod_obj("p", affinity=required({})), ssd).ok


def test_host_ports_conflict_on_same_protocol_and_port() -> None:
    taken = node_info(running=[pod_obj("a", host_port=8080)])
    st = _filter(NodePorts(), pod_obj("p", host_port=8080), taken)
    assert st.reasons == ("node(s) didn't have free ports for the requested pod ports",)
    assert _filter(NodePorts(), pod_obj("p", host_port=8081), taken).ok
    udp = pod_obj("p", host_port=8080)
    udp["spec"]["containers"][0]["ports"][0]["protocol"] = "UDP"
    assert _filter(NodePorts(), udp, taken).ok


# --- scores --------------------------------------------------------------------------------


def _score(plugin: ScorePlugin, pod: dict[str, Any], info: NodeInfo) -> int:
    return plugin.score(CycleState(), PodInfo(pod), info)


def test_least_and_most_allocated_use_upstream_formulas() -> None:
    # 4 cpu / 8Gi node with 1 cpu / 2Gi used; the pod asks 1 cpu / 2Gi.
    info = node_info(cpu="4", memory="8Gi", running=[pod_obj("a", cpu="1", memory="2Gi")])
    p = pod_obj("p", cpu="1", memory="2Gi")
    assert _score(LeastAllocated(), p, info) == 50  # (4-2)*100/4 for both resources
    assert _score(MostAllocated(), p, info) == 50
    emptier = node_info(cpu="4", memory="8Gi")
    assert _score(LeastAllocated(), p, emptier) > _score(LeastAllocated(), p, info)
    assert _score(MostAllocated(), p, emptier) < _score(MostAllocated(), p, info)
    weighted = LeastAllocated({"resources": [{"name": "cpu", "weight": 3},
                                             {"name": "memory", "weight": 1}]})
    # An explicit zero stays zero; an absent request counts as 200Mi (97 of 8Gi).
    assert _score(weighted, pod_obj("q", cpu="2", memory="0"), emptier) == (50 * 3 + 100) // 4
    assert _score(weighted, pod_obj("q", cpu="2"), emptier) == (50 * 3 + 97) // 4


def test_balanced_allocation_prefers_equal_fractions() -> None:
    info = node_info(cpu="4", memory="8Gi")
    assert _score(BalancedAllocation(), pod_obj("p", cpu="2", memory="4Gi"), info) == 100
    assert _score(BalancedAllocation(), pod_obj("p", cpu="2", memory="0"), info) == 75
    plugin = BalancedAllocation()
    assert plugin.pre_score(CycleState(), PodInfo(pod_obj("best-effort")), []).skip
    assert plugin.pre_score(CycleState(), PodInfo(pod_obj("p", cpu="1")), []).ok


def test_fit_score_follows_its_strategy() -> None:
    info = node_info(cpu="4", memory="8Gi")
    p = pod_obj("p", cpu="1", memory="2Gi")
    assert _score(NodeResourcesFit(), p, info) == 75
    most = NodeResourcesFit({"scoringStrategy": {"type": "MostAllocated"}})
    assert _score(most, p, info) == 25
    with pytest.raises(ValueError, match="scoringStrategy"):
        NodeResourcesFit({"scoringStrategy": {"type": "Random"}})


def test_taint_toleration_score_counts_prefer_no_schedule_reversed() -> None:
    plugin = TaintToleration()
    soft = node_info(taints=[{"key": "a", "effect": "PreferNoSchedule"},
                             {"key": "b", "effect": "PreferNoSchedule"}])
    state = CycleState()
    pod = PodInfo(pod_obj("p", tolerations=[{"key": "a", "operator": "Exists"}]))
    plugin.pre_score(state, pod, [])
    assert plugin.score(state, pod, soft) == 1
    assert plugin.normalize(state, pod, [0, 1, 2]) == [100, 50, 0]


def test_preferred_node_affinity_scores_matching_weights() -> None:
    plugin = NodeAffinity()
    pref = {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 5, "preference": {"matchExpressions": [
            {"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 1, "preference": {"matchExpressions": [
            {"key": "zone", "operator": "Exists"}]}}]}
    pod = PodInfo(pod_obj("p", affinity=pref))
    state = CycleState()
    assert plugin.pre_score(state, pod, []).ok
    assert plugin.score(state, pod, node_info(labels={"disk": "ssd", "zone": "a"})) == 6
    assert plugin.score(state, pod, node_info(labels={"zone": "a"})) == 1
    assert plugin.pre_score(CycleState(), PodInfo(pod_obj("q")), []).skip


def test_default_normalize() -> None:
    assert default_normalize([0, 5, 10]) == [0, 50, 100]
    assert default_normalize([0, 0]) == [0, 0]
    assert default_normalize([0, 0], reverse=True) == [100, 100]
