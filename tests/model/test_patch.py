"""The three patch kinds as pure functions (RFC 7386 and RFC 6902 examples included)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.model.patch import PatchError, json_patch, merge_patch, strategic_merge_patch


@pytest.mark.parametrize(("target", "patch", "expected"), [
    # RFC 7386 appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_rfc_examples(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == expected
    assert target == before


def test_json_patch_operations() -> None:
    doc = {"foo": "bar", "list": [1, 2, 3], "nested": {"a~b": 1, "c/d": 2}}
    out = json_patch(doc, [
        {"op": "add", "path": "/baz", "value": "qux"},
        {"op": "add", "path": "/list/1", "value": 9},
        {"op": "add", "path": "/list/-", "value": 4},
        {"op": "remove", "path": "/list/0"},
        {"op": "replace", "path": "/foo", "value": "new"},
        {"op": "copy", "from": "/foo", "path": "/copied"},
        {"op": "move", "from": "/nested/a~0b", "path": "/moved"},
        {"op": "test", "path": "/nested/c~1d", "value": 2},
    ])
    assert out == {"foo": "new", "list": [9, 2, 3, 4], "nested": {"c/d": 2}, "baz": "qux",
                   "copied": "new", "moved": 1}
    assert doc["list"] == [1, 2, 3]


@pytest.mark.parametrize(("ops", "invalid"), [
    ([{"op": "test", "path": "/a", "value": 2}], True),
    ([{"op": "remove", "path": "/missing"}], True),
    ([{"op": "replace", "path": "/missing", "value": 1}], True),
    ([{"op": "add", "path": "/l/5", "value": 1}], True),
    ([{"op": "add", "path": "missing-slash", "value": 1}], False),
    ([{"op": "unknown", "path": "/a"}], False),
    ([{"op": "add", "path": "/a"}], False),
    ({"op": "add"}, False),
])
def test_json_patch_errors(ops: Any, invalid: bool) -> None:
    with pytest.raises(PatchError) as info:
        json_patch({"a": 1, "l": []}, ops)
    assert info.value.invalid is invalid


POD_SPEC = {
    "containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}],
         "ports": [{"containerPort": 80}], "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
        {"name": "b", "image": "b:1"},
    ],
    "volumes": [{"name": "v", "emptyDir": {}}],
    "tolerations": [{"key": "k"}],
}


def test_strategic_merges_lists_by_key() -> None:
    out = strategic_merge_patch({"spec": POD_SPEC}, {"spec": {
        "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}],
                        "ports": [{"containerPort": 81}],
                        "volumeMounts": [{"mountPath": "/v", "readOnly": True}]},
                       {"name": "c", "image": "c:1"}],
        "tolerations": [{"key": "other"}],
    }})
    containers = out["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a", "b", "c"]
    assert containers[0]["image"] == "a:1"
    assert containers[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert containers[0]["ports"] == [{"containerPort": 80}, {"containerPort": 81}]
    assert containers[0]["volumeMounts"] == [{"name": "v", "mountPath": "/v", "readOnly": True}]
    assert out["spec"]["tolerations"] == [{"key": "other"}]  # no merge key: replaced


def test_strategic_service_ports_merge_by_port() -> None:
    out = strategic_merge_patch({"spec": {"ports": [{"port": 80, "name": "http"}]}},
                                {"spec": {"ports": [{"port": 80, "targetPort": 8080},
                                                    {"port": 443}]}})
    assert out["spec"]["ports"] == [{"port": 80, "name": "http", "targetPort": 8080},
                                    {"port": 443}]


def test_strategic_directives() -> None:
    spec = {"spec": POD_SPEC}
    deleted = strategic_merge_patch(spec, {"spec": {"containers": [
        {"name": "b", "$patch": "delete"}]}})
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["a"]
    replaced = strategic_merge_patch(spec, {"spec": {"containers": [
        {"name": "z", "image": "z"}, {"$patch": "replace"}]}})
    assert replaced["spec"]["containers"] == [{"name": "z", "image": "z"}]
    whole_map = strategic_merge_patch(spec, {"spec": {"$patch": "replace", "volumes": []}})
    assert whole_map == {"spec": {"volumes": []}}
    ordered = strategic_merge_patch(spec, {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "image": "a:2"}]}})
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["b", "a"]
    retained = strategic_merge_patch({"strategy": {"type": "RollingUpdate",
                                                   "rollingUpdate": {"maxSurge": 1}}},
                                     {"strategy": {"$retainKeys": ["type"],
                                                   "type": "Recreate"}})
    assert retained == {"strategy": {"type": "Recreate"}}
    nulled = strategic_merge_patch(spec, {"spec": {"tolerations": None}})
    assert "tolerations" not in nulled["spec"]


def test_strategic_finalizers_merge_as_a_set() -> None:
    out = strategic_merge_patch({"metadata": {"finalizers": ["a", "b"]}},
                                {"metadata": {"finalizers": ["b", "c"],
                                              "$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == ["b", "c"]


def test_strategic_errors() -> None:
    with pytest.raises(PatchError):
        strategic_merge_patch({}, ["not", "a", "map"])
    with pytest.raises(PatchError, match="merge key"):
        strategic_merge_patch({"containers": []}, {"containers": [{"image": "x"}]})
