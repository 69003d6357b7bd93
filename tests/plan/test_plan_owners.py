"""Plan's field ownership rule (gitkube/plan/owners.py), pure: git yields the fields other
managers own and git does not set; a field git sets and another manager owns names it."""

from __future__ import annotations

from typing import Any

from gitkube.plan import owners
from gitkube.plan.model import FieldChange, ItemKey


def managed(*entries: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"managedFields": [
        {"manager": m, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": f}
        for m, f in entries]}}


REPLICAS: dict[str, Any] = {"f:spec": {"f:replicas": {}}}
IMAGE: dict[str, Any] = {"f:spec": {"f:template": {"f:spec": {"f:containers": {
    'k:{"name":"web"}': {"f:image": {}}}}}}}


def test_foreign_leaves_out_gitkube_and_what_it_shares() -> None:
    obj = managed(("gitkube", {"f:spec": {"f:replicas": {}, "f:paused": {}}}),
                  ("hpa", {"f:spec": {"f:replicas": {}, "f:minReadySeconds": {}}}))
    assert owners.foreign(obj) == [("hpa", {"f:spec": {"f:minReadySeconds": {}}})]
    assert owners.foreign({"metadata": {}}) == []


def test_a_default_git_does_not_set_takes_the_live_value() -> None:
    others = owners.foreign(managed(("hpa", REPLICAS)))
    desired = {"spec": {"replicas": 1, "paused": False}}
    got, last = owners.yield_to_others(others, {"spec": {}}, desired, {"spec": {"replicas": 4}},
                                       {"spec": {"replicas": 1}})
    assert got == {"spec": {"replicas": 4, "paused": False}}
    assert desired["spec"]["replicas"] == 1  # inputs untouched
    assert last == {"spec": {"replicas": 1}}


def test_a_field_git_sets_stays_gits() -> None:
    others = owners.foreign(managed(("hpa", REPLICAS)))
    desired = {"spec": {"replicas": 2}}
    got, _ = owners.yield_to_others(others, desired, desired, {"spec": {"replicas": 4}}, None)
    assert got is desired


def test_a_field_git_stopped_setting_is_left_to_its_owner() -> None:
    others = owners.foreign(managed(("labeller", {"f:metadata": {"f:labels": {"f:x": {}}}})))
    last = {"metadata": {"labels": {"x": "1", "y": "2"}}}
    _, got = owners.yield_to_others(others, {"metadata": {}}, {"metadata": {}},
                                    {"metadata": {"labels": {"x": "1", "y": "2"}}}, last)
    assert got == {"metadata": {"labels": {"y": "2"}}}
    assert last["metadata"]["labels"] == {"x": "1", "y": "2"}


def test_keyed_items_are_found_by_their_key() -> None:
    others = owners.foreign(managed(("patcher", IMAGE)))
    live = {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "a"}, {"name": "web", "image": "b"}]}}}}
    desired = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "c"}]}}}}
    raw = {"spec": {"template": {"spec": {"containers": [{"name": "web"}]}}}}
    got, _ = owners.yield_to_others(others, raw, desired, live, None)
    assert got["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "b"}]
    path = ("spec", "template", "spec", "containers", ItemKey("name", "web"), "image")
    (named,) = owners.with_owners(others, [FieldChange(path, "replace", "b", "c")])
    assert named.owner == "patcher"
    assert owners.owner_of(others, ("spec", "replicas")) is None


def test_an_atomic_value_owned_whole_owns_its_parts() -> None:
    others = owners.foreign(managed(("ctl", {"f:spec": {"f:tolerations": {}}})))
    assert owners.owner_of(others, ("spec", "tolerations", 0, "key")) == "ctl"
    assert owners.owner_of(others, ("spec", "tolerations")) == "ctl"
