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


# --- bounded work -----------------------------------------------------------------------------


def test_json_patch_copy_amplification_stops_at_the_copy_budget() -> None:
    doc = {"data": {"a": "x" * 1000}}
    ops = [{"op": "copy", "from": "/data", "path": f"/data/k{i}"} for i in range(25)]
    with pytest.raises(PatchError, match="copy") as info:
        json_patch(doc, ops)
    assert info.value.invalid  # 422, as upstream's AccumulatedCopySizeLimit


def test_json_patch_copies_within_the_budget_apply() -> None:
    ops = [{"op": "copy", "from": "/data", "path": f"/data/k{i}"} for i in range(8)]
    out = json_patch({"data": {"a": "x" * 1000}}, ops)
    assert len(out["data"]) == 9 and out["data"]["k0"] == {"a": "x" * 1000}


def test_json_patch_operation_count_is_bounded() -> None:
    from gitkube.model.patch import MAX_OPERATIONS

    ops = [{"op": "test", "path": "/a", "value": 1}] * (MAX_OPERATIONS + 1)
    with pytest.raises(PatchError, match="maximum operations"):
        json_patch({"a": 1}, ops)
    assert json_patch({"a": 1}, ops[:MAX_OPERATIONS]) == {"a": 1}


def test_json_patch_result_depth_is_bounded() -> None:
    chain: dict[str, Any] = {}
    for _ in range(9):
        chain = {"n": chain}
    ops: list[Any] = [{"op": "add", "path": "/x", "value": chain}]
    deepest = "/n" * 9
    for _ in range(6):  # each copy puts the whole chain into its own deepest map
        ops.append({"op": "copy", "from": "/x", "path": f"/x{deepest}/c"})
        deepest = f"{deepest}/c{deepest}"
    with pytest.raises(PatchError, match="nests deeper") as info:
        json_patch({}, ops)
    assert info.value.invalid
    assert json_patch({}, ops[:3])["x"]["n"]  # shallower is fine


def test_copies_of_any_depth_do_not_recurse() -> None:
    from gitkube.model.patch import copy_json, depth_exceeds

    deep: Any = []
    for _ in range(50_000):
        deep = [deep, {"k": "v"}]
    copied = copy_json(deep)
    assert copied is not deep and depth_exceeds(copied, 50_000)  # 50,001 lists deep
    assert not depth_exceeds(copied, 50_001)


@pytest.mark.parametrize("patch", [
    {"$foo": 1},
    {"spec": {"$foo": {"x": 1}}},
    {"spec": {"containers": [{"name": "a", "$bar": 1}]}},
    {"spec": {"tolerations": [{"key": "k", "$x": 1}]}},
    {"spec": {"$retainKeys": "type"}},
    {"spec": {"$retainKeys": [1]}},
    {"spec": {"$setElementOrder/containers": {"name": "a"}}},
    {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
    {"spec": {"$patch": "merge"}},
    {"spec": {"$patch": "replace", "x": {"$y": 1}}},
])
def test_unknown_or_malformed_directives_are_refused(patch: Any) -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch({"spec": POD_SPEC, "metadata": {"finalizers": ["a"]}}, patch)
    assert not info.value.invalid  # 400, as upstream's strict decoding


def test_strategic_list_merges_are_linear() -> None:
    """100,000 keyed items merged into 100,000: a quadratic merge would take hours."""
    n = 100_000
    current = {"spec": {"containers": [{"name": f"c{i}", "image": "a"} for i in range(n)]}}
    patch = {"spec": {"containers": [{"name": f"c{i}", "image": "b"} for i in range(0, n, 2)]
                      + [{"name": f"n{i}"} for i in range(n)]
                      + [{"name": "c1", "$patch": "delete"}]}}
    out = strategic_merge_patch(current, patch)["spec"]["containers"]
    assert len(out) == 2 * n - 1
    assert out[0] == {"name": "c0", "image": "b"} and out[1] == {"name": "c2", "image": "b"}
    assert current["spec"]["containers"][0]["image"] == "a"  # the target is not changed
    finalizers = strategic_merge_patch(
        {"metadata": {"finalizers": [f"f{i}" for i in range(n)]}},
        {"metadata": {"finalizers": [f"g{i}" for i in range(n)],
                      "$deleteFromPrimitiveList/finalizers": [f"f{i}" for i in range(n)]}})
    assert finalizers["metadata"]["finalizers"] == [f"g{i}" for i in range(n)]


def test_strategic_delete_of_one_of_two_items_with_the_same_key() -> None:
    out = strategic_merge_patch({"env": [{"name": "A", "value": "1"},
                                         {"name": "A", "value": "2"}]},
                                {"env": [{"name": "A", "$patch": "delete"}]})
    assert out == {"env": [{"name": "A", "value": "2"}]}


def test_merges_do_not_share_values_with_their_inputs() -> None:
    target = {"a": {"b": [1]}, "c": {"d": 1}}
    patch = {"c": {"e": {"f": [2]}}}
    for out in (merge_patch(target, patch), strategic_merge_patch(target, patch)):
        out["a"]["b"].append(9)
        out["c"]["e"]["f"].append(9)
    assert target == {"a": {"b": [1]}, "c": {"d": 1}} and patch == {"c": {"e": {"f": [2]}}}
