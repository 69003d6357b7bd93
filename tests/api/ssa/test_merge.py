"""Merging a configuration into a live object and removing dropped fields
(gitkube/api/ssa/merge.py), and the Apply/Update bookkeeping (managed.py), pure."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api.ssa import managed
from gitkube.api.ssa.fieldset import Trie
from gitkube.api.ssa.merge import merge, remove
from gitkube.api.ssa.shape import shape_of

POD = shape_of("v1", "Pod")
CM = shape_of("v1", "ConfigMap")


def pod(*containers: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", **meta}, "spec": {"containers": list(containers)}}


def names(obj: dict[str, Any]) -> list[str]:
    return [c["name"] for c in obj["spec"]["containers"]]


def test_keyed_items_follow_the_configuration_and_others_keep_their_place() -> None:
    live = pod({"name": "a"}, {"name": "x"}, {"name": "b"}, {"name": "y"})
    got = merge(live, pod({"name": "b"}, {"name": "a", "image": "i"}), POD)
    assert names(got) == ["b", "y", "a", "x"]
    assert got["spec"]["containers"][2] == {"name": "a", "image": "i"}
    assert names(live) == ["a", "x", "b", "y"]  # the input is untouched


def test_sets_union_and_atomic_lists_replace() -> None:
    live = pod({"name": "a", "args": ["1", "2"]}, finalizers=["f1"])
    got = merge(live, pod({"name": "a", "args": ["3"]}, finalizers=["f2", "f1"]), POD)
    assert got["metadata"]["finalizers"] == ["f1", "f2"]
    assert got["spec"]["containers"][0]["args"] == ["3"]


def test_null_in_a_configuration_removes_the_key() -> None:
    got = merge({"data": {"a": "1", "b": "2"}}, {"data": {"a": None}}, CM)
    assert got == {"data": {"b": "2"}}


def test_remove_keeps_what_others_own_below_a_dropped_item() -> None:
    live = pod({"name": "a", "image": "i", "env": [{"name": "E", "value": "1"}]},
               {"name": "b", "image": "j"})
    drop: Trie = {"f:spec": {"f:containers": {'k:{"name":"a"}': {".": {}, "f:image": {}},
                                        'k:{"name":"b"}': {".": {}, "f:image": {},
                                                           "f:name": {}}}}}
    keep: Trie = {"f:spec": {"f:containers": {'k:{"name":"a"}': {"f:env": {}}}}}
    got = remove(live, drop, keep, POD)
    assert got["spec"]["containers"] == [{"name": "a", "env": [{"name": "E", "value": "1"}]}]


def test_remove_drops_maps_it_empties() -> None:
    got = remove({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v"}},
                 {"f:metadata": {"f:labels": {"f:a": {}}}}, {}, CM)
    assert got == {"metadata": {}, "data": {"k": "v"}}


def test_conflict_messages_are_upstreams() -> None:
    up = managed.Entry("kubectl-client-side-apply", "Update", "apps/v1", "t", {})
    ap = managed.Entry("flux", "Apply", "apps/v1", "t", {})
    one = managed.ApplyConflicts([managed.Conflict(up, ("f:spec", "f:replicas"))])
    assert one.message == ('Apply failed with 1 conflict: conflict with '
                             '"kubectl-client-side-apply" using apps/v1: .spec.replicas')
    two = managed.ApplyConflicts([managed.Conflict(up, ("f:spec", "f:replicas")),
                                  managed.Conflict(ap, ("f:metadata", "f:labels", "f:a"))])
    assert two.message == (
        'Apply failed with 2 conflicts: conflicts with "flux":\n- .metadata.labels.a\n'
        'conflicts with "kubectl-client-side-apply" using apps/v1:\n- .spec.replicas')
    assert two.causes()[1] == {"reason": "FieldManagerConflict",
                               "message": 'conflict with "flux"',
                               "field": ".metadata.labels.a"}


def test_update_moves_ownership_and_forgets_removed_fields() -> None:
    obj, fields = managed.apply(None, {"data": {"a": "1", "b": "2"}}, CM, manager="m",
                                api_version="v1", now="t1")
    obj["metadata"] = {"managedFields": fields}
    new = {"metadata": obj["metadata"], "data": {"a": "9"}}
    after = managed.update(obj, new, CM, manager="ed", api_version="v1", now="t2")
    by = {e["manager"]: e["fieldsV1"] for e in after}
    assert by == {"ed": {"f:data": {"f:a": {}}}}  # m lost a (changed) and b (removed)
    assert [e["operation"] for e in after] == ["Update"]


def test_managed_fields_are_ordered_as_upstream_writes_them() -> None:
    entries = [managed.Entry("z", "Update", "v1", "t1", {"f:a": {}}),
               managed.Entry("b", "Apply", "v1", "t2", {"f:b": {}}),
               managed.Entry("a", "Apply", "v1", "t2", {"f:c": {}}),
               managed.Entry("gone", "Update", "v1", "t0", {})]
    assert [e["manager"] for e in managed.write(entries)] == ["a", "b", "z"]


@pytest.mark.parametrize("force", [False, True])
def test_conflicts_list_every_field_of_every_owner(force: bool) -> None:
    live, fields = managed.apply(None, {"data": {"a": "1", "b": "1"}}, CM, manager="m1",
                                 api_version="v1", now="t")
    live["metadata"] = {"managedFields": fields}
    config = {"data": {"a": "2", "b": "2", "c": "2"}}
    if not force:
        with pytest.raises(managed.ApplyConflicts) as refused:
            managed.apply(live, config, CM, manager="m2", api_version="v1", now="t")
        assert [c.field for c in refused.value.conflicts] == [".data.a", ".data.b"]
        return
    got, fields = managed.apply(live, config, CM, manager="m2", api_version="v1", now="t",
                                force=True)
    assert got["data"] == {"a": "2", "b": "2", "c": "2"}
    assert [e["manager"] for e in fields] == ["m2"]
