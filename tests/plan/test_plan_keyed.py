"""Keyed lists in the three-way diff and merge: items matched by their strategic-merge key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitkube.api.client import Client
from gitkube.plan import planfile
from gitkube.plan.apply import apply_plan
from gitkube.plan.diff import merge, three_way
from gitkube.plan.model import FieldChange, ItemKey, SourceInfo, dotted_path
from gitkube.plan.planner import Desired, LiveLookups, make_plan
from gitkube.plan.render import render_text
from tests.plan.plan_golden import CASES, plan_case, prepare

SRC = SourceInfo("s-1", "git:x//m", "m", "abc")
PATH = ("spec", "template", "spec", "containers")


def pod_spec(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers), **spec}}}}


def c(name: str, *env: tuple[str, str], **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": f"{name}:1", **fields}
    if env:
        out["env"] = [{"name": k, "value": v} for k, v in env]
    return out


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def dotted(changes: list[FieldChange]) -> list[str]:
    return [f"{f.op} {f.dotted}" for f in changes]


def test_env_added_in_the_middle_is_one_added_item_and_lands_after_its_neighbour() -> None:
    last = pod_spec(c("web", ("A", "1"), ("C", "3")))
    desired = pod_spec(c("web", ("A", "1"), ("B", "2"), ("C", "3")))
    (change,) = three_way(desired, last, last)
    assert change == FieldChange((*PATH, ItemKey("name", "web"), "env", ItemKey("name", "B")),
                                 "add", after={"name": "B", "value": "2"})
    assert change.dotted == "spec.template.spec.containers[name=web].env[name=B]"
    assert merge(desired, last, last) == desired


def test_container_added_and_removed() -> None:
    last = pod_spec(c("web"), c("old"))
    desired = pod_spec(c("web"), c("sidecar"))
    assert dotted(three_way(desired, last, last)) == [
        "add spec.template.spec.containers[name=sidecar]",
        "remove spec.template.spec.containers[name=old]",
    ]
    assert [x["name"] for x in containers(merge(desired, last, last))] == ["web", "sidecar"]


def test_pure_reorder_of_a_keyed_list_is_no_change_and_merge_keeps_live_order() -> None:
    last = pod_spec(c("a"), c("b"), volumes=[{"name": "x"}, {"name": "y"}])
    desired = pod_spec(c("b"), c("a"), volumes=[{"name": "y"}, {"name": "x"}])
    assert three_way(desired, last, last) == []
    assert merge(desired, last, last) == last
    # an unkeyed list reordered is a change, item by item
    assert dotted(three_way({"args": ["2", "1"]}, {"args": ["1", "2"]}, None)) == [
        "replace args[0]", "replace args[1]"]


def test_live_only_item_is_left_alone_and_kept_where_it_is() -> None:
    last = pod_spec(c("web", ("A", "1"), ("B", "2")))
    live = pod_spec(c("web", ("A", "1"), ("INJECTED", "x"), ("B", "2")), c("istio-proxy"))
    desired = pod_spec(c("web", ("A", "changed"), ("B", "2")))
    assert dotted(three_way(desired, live, last)) == [
        "replace spec.template.spec.containers[name=web].env[name=A].value"]
    merged = merge(desired, live, last)
    assert [x["name"] for x in containers(merged)] == ["web", "istio-proxy"]
    assert containers(merged)[0]["env"] == [
        {"name": "A", "value": "changed"}, {"name": "INJECTED", "value": "x"},
        {"name": "B", "value": "2"}]
    # never applied by gitkube (no last-applied): nothing is removed either
    assert dotted(three_way(desired, live, None)) == dotted(three_way(desired, live, last))


def test_item_removed_from_git_is_removed_from_live() -> None:
    last = pod_spec(c("web", ("A", "1"), ("B", "2")))
    live = pod_spec(c("web", ("A", "1"), ("B", "2"), ("THEIRS", "3")))
    desired = pod_spec(c("web", ("A", "1")))
    (change,) = three_way(desired, live, last)
    assert (change.op, change.dotted, change.before) == (
        "remove", "spec.template.spec.containers[name=web].env[name=B]",
        {"name": "B", "value": "2"})
    assert containers(merge(desired, live, last))[0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "THEIRS", "value": "3"}]


def test_drift_inside_a_keyed_item_and_an_item_deleted_by_hand() -> None:
    last = pod_spec(c("web", ("A", "1"), ("B", "2")), c("side"))
    live = pod_spec(c("side"), c("web", ("A", "by hand")))
    changes = three_way(last, live, last)
    assert [(f.op, f.dotted, f.drift) for f in changes] == [
        ("replace", "spec.template.spec.containers[name=web].env[name=A].value", True),
        ("add", "spec.template.spec.containers[name=web].env[name=B]", True),
    ]
    merged = merge(last, live, last)
    assert [x["name"] for x in containers(merged)] == ["side", "web"]
    assert three_way(last, merged, last) == []


def test_keyed_lists_fall_back_to_positional_when_keys_are_missing_or_repeated() -> None:
    last = pod_spec(c("web", ("A", "1"), ("A", "2")))
    desired = pod_spec(c("web", ("A", "1"), ("A", "3")))
    assert dotted(three_way(desired, last, last)) == [
        "replace spec.template.spec.containers[name=web].env[1].value"]
    grown = pod_spec(c("web", ("A", "1"), ("A", "2"), ("B", "4")))
    assert dotted(three_way(grown, last, last)) == [
        "replace spec.template.spec.containers[name=web].env"]
    assert merge(grown, last, last) == grown


def test_ports_are_keyed_by_where_they_are() -> None:
    svc_last = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    svc = {"spec": {"ports": [{"port": 443, "targetPort": 8443}, {"port": 80, "targetPort": 80}]}}
    assert dotted(three_way(svc, svc_last, svc_last)) == [
        "add spec.ports[port=443]", "replace spec.ports[port=80].targetPort"]
    last = pod_spec(c("web", ports=[{"containerPort": 80}]))
    desired = pod_spec(c("web", ports=[{"containerPort": 81}, {"containerPort": 80}]))
    assert dotted(three_way(desired, last, last)) == [
        "add spec.template.spec.containers[name=web].ports[containerPort=81]"]
    # a NetworkPolicy's ports are atomic, as in Kubernetes
    np_last = {"spec": {"ingress": [{"ports": [{"port": 80}]}]}}
    np = {"spec": {"ingress": [{"ports": [{"port": 80}, {"port": 81}]}]}}
    assert dotted(three_way(np, np_last, np_last)) == ["replace spec.ingress[0].ports"]


def test_volume_mounts_keyed_by_mount_path_render_readably() -> None:
    path = (*PATH, ItemKey("name", "web"), "volumeMounts", ItemKey("mountPath", "/www"),
            "readOnly")
    assert dotted_path(path) == (
        "spec.template.spec.containers[name=web].volumeMounts[mountPath=/www].readOnly")
    assert dotted_path(("env", ItemKey("name", "a b"))) == 'env[name="a b"]'
    assert dotted_path(("env", ItemKey("name", "80"))) == 'env[name="80"]'
    assert dotted_path(("ports", ItemKey("port", 80))) == "ports[port=80]"


def deployment(*env: tuple[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [c("web", *env)]}}}}


def test_keyed_paths_survive_a_saved_plan(tmp_path: Path) -> None:
    first = make_plan([Desired(deployment(("A", "1")))], {}, source=SRC)
    live = {ch.ref: ch.desired for ch in first.changes if ch.desired is not None}
    plan = make_plan([Desired(deployment(("A", "1"), ("B", "2")), "web.yaml")], live,
                     source=SRC,
                     lookups=LiveLookups(last_applied=lambda ref, d: first.changes[0].last_applied))
    (field,) = plan.actionable[0].fields
    assert field.dotted == "spec.template.spec.containers[name=web].env[name=B]"
    planfile.save(plan, tmp_path / "p.json")
    loaded = planfile.load(tmp_path / "p.json")
    assert loaded.actionable[0].fields == plan.actionable[0].fields
    assert render_text(loaded) == render_text(plan)


def _applied_case(name: str) -> Client:
    case = CASES / name
    client = prepare(case)
    apply_plan(client, plan_case(case, client), author="test")
    return client


def _web_spec(client: Client) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("apps/v1", "Deployment", "default", "web")["spec"][
        "template"]["spec"]
    return spec


def test_golden_live_only_items_survive_apply() -> None:
    spec = _web_spec(_applied_case("keyed-live-only"))
    assert [x["name"] for x in spec["containers"]] == ["web", "proxy"]
    assert spec["containers"][0]["env"] == [
        {"name": "FEATURE_X", "value": "2"},
        {"name": "OTEL_ENDPOINT", "value": "http://collector:4317"}]


def test_golden_reorder_is_not_written_and_new_items_land_after_their_neighbour() -> None:
    spec = _web_spec(_applied_case("keyed-reorder"))
    assert [v["name"] for v in spec["volumes"]] == ["config", "data"]  # live order kept
    assert [e["name"] for e in spec["containers"][0]["env"]] == ["A", "B"]
    spec = _web_spec(_applied_case("keyed-env-added"))
    assert [e["name"] for e in spec["containers"][0]["env"]] == ["LOG_LEVEL", "CACHE_DIR", "PORT"]
