"""gitkube.schema.prune: the unknown fields fieldValidation=Ignore|Warn drops."""

from __future__ import annotations

from typing import Any

from gitkube.schema.prune import prune, prune_json_patch


def _deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"any-key": "ok"}, "bogus": 1},
            "spec": {"replicas": 1, "foo": {"deep": 1},
                     "template": {"spec": {"containers": [
                         {"name": "a", "image": "x", "bar": 2,
                          "resources": {"limits": {"cpu": "1"}}}]}}},
            "status": {"replicas": 0, "nope": 1}}


def test_prune_drops_unknown_fields_at_every_depth_and_keeps_maps() -> None:
    obj = _deployment()
    assert prune(obj, "apps/v1", "Deployment") == [
        "metadata.bogus", "spec.foo", "spec.template.spec.containers[0].bar", "status.nope"]
    assert obj["metadata"]["labels"] == {"any-key": "ok"}
    assert obj["spec"]["template"]["spec"]["containers"][0] == {
        "name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}


def test_prune_keeps_strategic_merge_directives() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"name": "a", "$patch": "delete", "zz": 1}]}}}}
    assert prune(patch, "apps/v1", "Deployment") == ["spec.template.spec.containers[0].zz"]
    assert "$setElementOrder/containers" in patch["spec"]["template"]["spec"]


def test_prune_of_a_kind_without_schema_touches_nothing() -> None:
    obj = {"anything": 1}
    assert prune(obj, "autoscaling/v1", "Scale") == [] and obj == {"anything": 1}


def test_prune_json_patch_drops_writes_of_unknown_fields_and_prunes_values() -> None:
    ops: list[Any] = [
        {"op": "add", "path": "/spec/foo", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/spec/template/spec/containers/-",
         "value": {"name": "b", "image": "y", "q": 1}},
        {"op": "add", "path": "/metadata/labels/new~1key", "value": "v"},
        {"op": "remove", "path": "/spec/whatever"},
    ]
    assert prune_json_patch(ops, "apps/v1", "Deployment") == [
        "spec.foo", "spec.template.spec.containers[-].q"]
    assert [op["path"] for op in ops] == [
        "/spec/replicas", "/spec/template/spec/containers/-", "/metadata/labels/new~1key",
        "/spec/whatever"]
    assert ops[1]["value"] == {"name": "b", "image": "y"}
