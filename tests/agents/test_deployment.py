"""Deployment and ReplicaSet controllers end to end over SQLite, plus their pure decisions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gitkube.agents.controllers import deployment as dep
from gitkube.agents.controllers import replicaset as rsc
from gitkube.agents.controllers.common import template_hash
from gitkube.api.client import Client
from gitkube.model.pods import is_pod_active, is_pod_ready
from gitkube.model.rollout import deployment_complete
from tests.agents.agenttest import Cluster, FakeKubelet, eventually, mark_running, node, set_phase

Obj = dict[str, Any]


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1.25",
               strategy: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy or {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image}]}},
            **spec,
        },
    }


def start(cluster: Cluster, *controllers: Any, nodes: int = 2, **kubelet: Any) -> FakeKubelet:
    for i in range(nodes):
        cluster.client.create(node(f"node-{i}"))
    for make in controllers:
        cluster.manager.add(make(cluster.manager))
    fake = FakeKubelet(cluster.manager, [f"node-{i}" for i in range(nodes)], **kubelet)
    cluster.manager.start()
    return fake


def settle(cluster: Cluster, quiet: float = 0.25, limit: float = 10.0) -> None:
    """Wait (bounded) until the store has not moved for ``quiet`` seconds: the agents have
    acted on what they saw. Used to pace a test's own changes, never as an assertion."""
    deadline = time.monotonic() + limit
    last = cluster.store.revision()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = cluster.store.revision()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def complete(client: Client, name: str = "web") -> bool:
    d = client.get("apps/v1", "Deployment", "default", name)
    return deployment_complete(d, d.get("status") or {})


def active_pods(client: Client, app: str = "web") -> list[Obj]:
    return [p for p in client.list("v1", "Pod", "default", label_selector=f"app={app}").items
            if is_pod_active(p)]


# --- pure decisions ----------------------------------------------------------------------


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    ("25%", "25%", 10, (3, 2)),     # surge rounds up, unavailable rounds down
    ("25%", "25%", 1, (1, 0)),
    (0, 0, 5, (0, 1)),              # both zero: one may be unavailable
    ("0%", "0%", 5, (0, 1)),
    (2, "50%", 5, (2, 2)),
])
def test_surge_and_unavailable_rounding(surge: Any, unavailable: Any, replicas: int,
                                        expected: tuple[int, int]) -> None:
    d = deployment(replicas=replicas, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge,
                                                   "maxUnavailable": unavailable}})
    assert dep.surge_and_unavailable(d) == expected


def _rs(name: str, replicas: int, available: int, revision: int) -> Obj:
    return {"metadata": {"name": name, "creationTimestamp": f"2024-01-0{revision}T00:00:00Z",
                         "annotations": {dep.REVISION: str(revision)}},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": available}}


def test_rolling_step_decisions() -> None:
    d = deployment(replicas=4)
    d["metadata"]["generation"] = 1
    old = _rs("old", 4, 4, 1)
    new = _rs("new", 0, 0, 2)
    # surge 1: the new ReplicaSet may go to 1 (total 5)
    assert dep.new_rs_replicas(d, [old, new], new) == 1
    new = _rs("new", 1, 0, 2)
    # 5 in total, min available 3, one new unavailable: one old may go
    assert dep.old_rs_scale_down(d, [old], new) == {"old": 3}
    # unhealthy old pods are removed first, without touching availability
    sick = _rs("old", 4, 2, 1)
    assert dep.old_rs_scale_down(d, [sick], _rs("new", 1, 1, 2)) == {"old": 2}


def test_new_replicaset_inherits_change_cause_only() -> None:
    d = deployment()
    d["metadata"].update(uid="u", annotations={
        "kubernetes.io/change-cause": "bump nginx", dep.REVISION: "7",
        "gitkube.io/source": "repo//manifests",
        "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    rs = dep.new_replicaset(d, "abc", 8, 3)
    assert rs["metadata"]["annotations"]["kubernetes.io/change-cause"] == "bump nginx"
    assert rs["metadata"]["annotations"][dep.REVISION] == "8"
    assert not any(k.startswith("gitkube.io/") or k.startswith("kubectl.")
                   for k in rs["metadata"]["annotations"])


def test_history_limit_keeps_newest_empty_replicasets() -> None:
    d = deployment(revisionHistoryLimit=1)
    olds = [_rs(f"r{i}", 0, 0, i) for i in range(1, 4)]
    assert [r["metadata"]["name"] for r in dep.history_to_delete(d, olds)] == ["r1", "r2"]


def test_replicaset_plan_replaces_finished_and_trims_surplus() -> None:
    def pod(name: str, phase: str, ready: bool = False, node_name: str = "n") -> Obj:
        return {"metadata": {"name": name, "creationTimestamp": "2024-01-01T00:00:00Z"},
                "spec": {"nodeName": node_name},
                "status": {"phase": phase, "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False"}]}}

    plan = rsc.plan_pods(3, [pod("a", "Running", True), pod("b", "Failed")])
    assert plan.create == 2 and [p["metadata"]["name"] for p in plan.delete] == ["b"]
    plan = rsc.plan_pods(1, [pod("a", "Running", True), pod("b", "Pending", node_name=""),
                             pod("c", "Running", False)])
    assert plan.create == 0
    assert [p["metadata"]["name"] for p in plan.delete] == ["b", "c"]


# --- end to end --------------------------------------------------------------------------


def test_deployment_creates_replicaset_and_pods(cluster: Cluster) -> None:
    start(cluster, rsc.controller, dep.controller)
    c = cluster.client
    d = c.create(deployment(replicas=3))
    assert eventually(lambda: complete(c))
    rss = c.list("apps/v1", "ReplicaSet", "default").items
    assert len(rss) == 1
    rs = rss[0]
    pod_hash = rs["metadata"]["labels"][dep.HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", dep.HASH_LABEL: pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"][dep.HASH_LABEL] == pod_hash
    assert rs["metadata"]["annotations"][dep.REVISION] == "1"
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("Deployment", d["metadata"]["uid"],
                                                             True)
    pods = active_pods(c)
    assert len(pods) == 3 and all(is_pod_ready(p) for p in pods)
    assert all(p["metadata"]["name"].startswith(f"web-{pod_hash}-") for p in pods)
    status = c.get("apps/v1", "Deployment", "default", "web")["status"]
    assert {k: status[k] for k in ("replicas", "updatedReplicas", "readyReplicas",
                                   "availableReplicas", "unavailableReplicas")} == {
        "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "unavailableReplicas": 0}
    conds = {x["type"]: x for x in status["conditions"]}
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    cluster.manager.flush_events()
    reasons = {e["reason"] for e in c.list("v1", "Event", "default").items}
    assert {"ScalingReplicaSet", "SuccessfulCreate"} <= reasons


def test_deleted_and_failed_pods_are_replaced(cluster: Cluster) -> None:
    start(cluster, rsc.controller, dep.controller)
    c = cluster.client
    c.create(deployment(replicas=2))
    assert eventually(lambda: complete(c))
    victim, other = active_pods(c)
    c.delete("v1", "Pod", "default", victim["metadata"]["name"])
    set_phase(c, other, "Failed")

    def replaced() -> bool:
        pods = active_pods(c)
        uids = {p["metadata"]["uid"] for p in pods}
        return (len(pods) == 2 and all(is_pod_ready(p) for p in pods)
                and not uids & {victim["metadata"]["uid"], other["metadata"]["uid"]})

    assert eventually(replaced)
    names = {p["metadata"]["name"] for p in active_pods(c)}
    assert not names & {victim["metadata"]["name"], other["metadata"]["name"]}
    assert eventually(lambda: complete(c))


def _history(client: Client, since: str) -> list[tuple[int, str, Obj]]:
    """Every Pod and ReplicaSet change after ``since``, in store order."""
    events: list[tuple[int, str, Obj]] = []
    for api_version, kind in (("v1", "Pod"), ("apps/v1", "ReplicaSet")):
        with client.watch(api_version, kind, "default", resource_version=since) as w:
            while (ev := w.next_event(0.3)) is not None:
                events.append((int(ev.object["metadata"]["resourceVersion"]), ev.type,
                               ev.object))
    events.sort(key=lambda e: e[0])
    return events


def _replay(events: list[tuple[int, str, Obj]], start_pods: list[Obj],
            start_rss: list[Obj]) -> list[tuple[list[Obj], list[Obj]]]:
    """The sequence of (pods, replicasets) states, one per store revision."""
    pods = {p["metadata"]["name"]: p for p in start_pods}
    rss = {r["metadata"]["name"]: r for r in start_rss}
    states = []
    i = 0
    while i < len(events):
        rev = events[i][0]
        while i < len(events) and events[i][0] == rev:
            _, typ, obj = events[i]
            table = pods if obj["kind"] == "Pod" else rss
            if typ == "DELETED":
                table.pop(obj["metadata"]["name"], None)
            else:
                table[obj["metadata"]["name"]] = obj
            i += 1
        states.append((list(pods.values()), list(rss.values())))
    return states


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), [(4, 1, 1), (5, 0, 1),
                                                                (4, "50%", 0)])
def test_rolling_update_respects_surge_and_unavailable(cluster: Cluster, replicas: int,
                                                       surge: Any, unavailable: Any) -> None:
    fake = start(cluster, rsc.controller, dep.controller, nodes=3)
    c = cluster.client
    strategy = {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    c.create(deployment(replicas=replicas, strategy=strategy))
    assert eventually(lambda: complete(c))
    fake.auto_ready = False  # from now on the test makes pods ready, one at a time
    before_pods = c.list("v1", "Pod", "default")
    before_rss = c.list("apps/v1", "ReplicaSet", "default").items
    d = c.get("apps/v1", "Deployment", "default", "web")
    max_surge, max_unavailable = dep.surge_and_unavailable(d)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    c.update(d)
    for _ in range(4 * replicas):
        settle(cluster)  # let the controllers act on the current state before changing it
        if complete(c):
            break
        waiting = [p for p in active_pods(c) if p["spec"].get("nodeName")
                   and p["status"].get("phase") == "Pending"]
        if waiting:
            mark_running(c, waiting[0])
    assert eventually(lambda: complete(c) and len(active_pods(c)) == replicas)
    states = _replay(_history(c, before_pods.resource_version), before_pods.items, before_rss)
    assert len(states) > 4
    lowest, highest = replicas, 0
    for pods, rss in states:
        total = sum(r["spec"]["replicas"] for r in rss)
        assert total <= replicas + max_surge
        ready = [p for p in pods if is_pod_active(p) and is_pod_ready(p)]
        assert len(ready) >= replicas - max_unavailable
        lowest, highest = min(lowest, len(ready)), max(highest, total)
    # the budgets were used, not merely respected
    assert lowest == replicas - max_unavailable
    assert highest == replicas + max_surge
    pods = active_pods(c)
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.26"}
    rss = sorted(c.list("apps/v1", "ReplicaSet", "default").items,
                 key=dep.revision_of)
    assert [(dep.revision_of(r), r["spec"]["replicas"]) for r in rss] == [(1, 0),
                                                                          (2, replicas)]
    d = c.get("apps/v1", "Deployment", "default", "web")
    assert d["metadata"]["annotations"][dep.REVISION] == "2"


def test_recreate_never_mixes_versions(cluster: Cluster) -> None:
    start(cluster, rsc.controller, dep.controller)
    c = cluster.client
    c.create(deployment(replicas=3, strategy={"type": "Recreate"}))
    assert eventually(lambda: complete(c))
    before = c.list("v1", "Pod", "default")
    before_rss = c.list("apps/v1", "ReplicaSet", "default").items
    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    c.update(d)
    assert eventually(lambda: complete(c) and len(active_pods(c)) == 3)
    saw_gap = False
    for pods, _ in _replay(_history(c, before.resource_version), before.items, before_rss):
        images = {p["spec"]["containers"][0]["image"] for p in pods if is_pod_active(p)}
        assert len(images) <= 1
        saw_gap = saw_gap or not images
    assert saw_gap


def test_scale_and_history_limit(cluster: Cluster) -> None:
    start(cluster, rsc.controller, dep.controller)
    c = cluster.client
    c.create(deployment(replicas=2, revisionHistoryLimit=1))
    assert eventually(lambda: complete(c))
    for tag in ("1.26", "1.27", "1.28"):
        d = c.get("apps/v1", "Deployment", "default", "web")
        d["spec"]["template"]["spec"]["containers"][0]["image"] = f"nginx:{tag}"
        c.update(d)
        assert eventually(lambda: complete(c))
    assert eventually(lambda: len(c.list("apps/v1", "ReplicaSet", "default").items) == 2)
    revisions = sorted(dep.revision_of(r) for r in
                       c.list("apps/v1", "ReplicaSet", "default").items)
    assert revisions == [3, 4]
    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["replicas"] = 5
    c.update(d)
    assert eventually(lambda: complete(c) and len(active_pods(c)) == 5)
    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["replicas"] = 1
    c.update(d)
    assert eventually(lambda: complete(c) and len(active_pods(c)) == 1)


def test_progress_deadline_exceeded(cluster: Cluster) -> None:
    start(cluster, rsc.controller, dep.controller, auto_ready=False)
    c = cluster.client
    c.create(deployment(replicas=1, progressDeadlineSeconds=60))
    assert eventually(lambda: len(active_pods(c)) == 1)

    def progressing_reason() -> str:
        d = c.get("apps/v1", "Deployment", "default", "web")
        conds = {x["type"]: x for x in (d.get("status") or {}).get("conditions") or []}
        return str(conds.get("Progressing", {}).get("reason"))

    assert eventually(lambda: progressing_reason() == "ReplicaSetUpdated")
    cluster.clock.advance(120)
    # a merge patch (no resourceVersion): the controller may write the status meanwhile,
    # which made a get-then-update fail with a Conflict now and then
    c.patch("apps/v1", "Deployment", "default", "web", {"metadata": {"labels": {"poke": "1"}}})
    assert eventually(lambda: progressing_reason() == "ProgressDeadlineExceeded")


def test_replicaset_adopts_matching_orphan_pods(cluster: Cluster) -> None:
    start(cluster, rsc.controller)
    c = cluster.client
    orphan = c.create({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "stray", "namespace": "default",
                                    "labels": {"app": "api"}},
                       "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}})
    # the orphan is known to the controller before the ReplicaSet appears (otherwise the
    # ReplicaSet may fill up first and then trim one of three pods, maybe the orphan)
    pods_cache = cluster.manager.informer("v1", "Pod")
    assert eventually(lambda: pods_cache.get("default/stray") is not None)
    rs = c.create({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": "api", "namespace": "default"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                            "template": {"metadata": {"labels": {"app": "api"}},
                                         "spec": {"containers": [{"name": "c",
                                                                  "image": "nginx:1"}]}}}})
    assert eventually(lambda: c.get("apps/v1", "ReplicaSet", "default", "api")["status"]
                      .get("readyReplicas") == 2)
    pods = active_pods(c, "api")
    assert len(pods) == 2
    assert orphan["metadata"]["uid"] in {p["metadata"]["uid"] for p in pods}
    stray = c.get("v1", "Pod", "default", "stray")
    assert stray["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]



def test_paused_deployment_scales_but_does_not_roll_out_until_resumed(
        cluster: Cluster) -> None:
    start(cluster, rsc.controller, dep.controller)
    c = cluster.client
    c.create(deployment(replicas=2))
    assert eventually(lambda: complete(c))

    def progressing() -> tuple[str, str]:
        d = c.get("apps/v1", "Deployment", "default", "web")
        conds = {x["type"]: x for x in (d.get("status") or {}).get("conditions") or []}
        p = conds.get("Progressing", {})
        return str(p.get("status")), str(p.get("reason"))

    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["paused"] = True
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    c.update(d)
    assert eventually(lambda: progressing() == ("Unknown", "DeploymentPaused"))
    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["replicas"] = 3
    c.update(d)
    assert eventually(lambda: len(active_pods(c)) == 3)
    # still one ReplicaSet, and every pod runs the old image
    assert len(c.list("apps/v1", "ReplicaSet", "default").items) == 1
    assert {p["spec"]["containers"][0]["image"] for p in active_pods(c)} == {"nginx:1.25"}
    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["replicas"] = 1
    c.update(d)
    assert eventually(lambda: len(active_pods(c)) == 1)
    # resumed: the new template rolls out
    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["paused"] = False
    c.update(d)
    assert eventually(lambda: complete(c) and {p["spec"]["containers"][0]["image"]
                                              for p in active_pods(c)} == {"nginx:1.26"})
    assert progressing()[0] == "True"


def test_template_with_empty_fields_names_the_same_replicaset() -> None:
    """A template that differs only by ``resources: {}``, ``env: []`` or a null field is the
    same template, as upstream decodes them: a rollback to it reuses the old ReplicaSet and
    the pod-template-hash does not move."""
    plain = deployment()
    rs: Obj = {"metadata": {"name": "web-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
          "spec": {"template": dep.template_without_hash(plain["spec"]["template"])}}
    rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "abc"
    padded = deployment()
    container = padded["spec"]["template"]["spec"]["containers"][0]
    container.update({"resources": {}, "env": [], "command": None})
    padded["spec"]["template"]["metadata"]["annotations"] = {}
    assert dep.find_new_rs(padded, [rs]) is rs
    assert template_hash(padded["spec"]["template"]) == \
        template_hash(plain["spec"]["template"])
    other = deployment(image="nginx:1.26")
    other["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    assert dep.find_new_rs(other, [rs]) is None
    assert template_hash(other["spec"]["template"]) != \
        template_hash(plain["spec"]["template"])
