"""Field sets (gitkube/api/ssa/fieldset.py) and shapes: the FieldsV1 encoding upstream
writes, set algebra, and the paths conflicts print."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api.ssa import fieldset
from gitkube.api.ssa.fieldset import Trie
from gitkube.api.ssa.shape import DEDUCED, shape_of

DEPLOY = shape_of("apps/v1", "Deployment")
CM = shape_of("v1", "ConfigMap")
POD = shape_of("v1", "Pod")


def deployment(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": spec}


def test_shapes_come_from_the_schemas() -> None:
    pod_spec = POD.child("spec")
    assert pod_spec.node == "struct"
    containers = pod_spec.child("containers")
    assert (containers.node, containers.keys) == ("list-map", ("name",))
    ports = containers.item().child("ports")
    assert (ports.node, ports.keys) == ("list-map", ("containerPort", "protocol"))
    assert containers.item().child("args").node == "list-atomic"
    assert pod_spec.child("tolerations").node == "list-atomic"
    assert POD.child("metadata").child("finalizers").node == "list-set"
    assert POD.child("metadata").child("labels").node == "map"
    assert DEPLOY.child("spec").child("selector").node == "atomic"  # LabelSelector
    assert DEPLOY.child("spec").child("replicas").node == "scalar"
    assert shape_of("example.com/v1", "Widget") is DEDUCED


@pytest.mark.parametrize(("obj", "expected"), [
    ({"data": {"a": "1"}}, {"f:data": {"f:a": {}}}),
    ({"metadata": {"labels": {"x": "y"}}}, {"f:metadata": {"f:labels": {"f:x": {}}}}),
    ({"data": {}}, {"f:data": {}}),  # an empty map is itself a member
    ({"data": None}, {"f:data": {}}),
    ({"immutable": True}, {"f:immutable": {}}),
])
def test_fields_of_a_configmap(obj: dict[str, Any], expected: Trie) -> None:
    assert fieldset.fields_of(obj, CM) == expected


def test_fields_of_keyed_lists_sets_and_atomics() -> None:
    pod = {"metadata": {"finalizers": ["a", "b"]},
           "spec": {"containers": [{"name": "web", "image": "nginx", "args": ["-x"],
                                    "ports": [{"containerPort": 80}]}],
                    "tolerations": [{"key": "k", "operator": "Exists"}]}}
    got = fieldset.fields_of(pod, POD)
    assert got["f:metadata"] == {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}}
    web = got["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert web == {".": {}, "f:name": {}, "f:image": {}, "f:args": {},
                   "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                       ".": {}, "f:containerPort": {}}}}
    assert got["f:spec"]["f:tolerations"] == {}  # atomic: the list is one member


def test_a_deduced_object_has_granular_maps_and_atomic_lists() -> None:
    got = fieldset.fields_of({"spec": {"a": {"b": 1}, "l": [1, 2]}}, DEDUCED)
    assert got == {"f:spec": {".": {}, "f:a": {".": {}, "f:b": {}}, "f:l": {}}}


def test_changed_lists_only_added_and_modified_fields() -> None:
    old = deployment(replicas=1, template={"spec": {"containers": [
        {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}})
    new = deployment(replicas=2, template={"spec": {"containers": [
        {"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "q"}]}})
    got = fieldset.changed(old, new, DEPLOY)
    containers = got["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert got["f:spec"]["f:replicas"] == {}
    assert containers == {'k:{"name":"b"}': {"f:image": {}},
                          'k:{"name":"c"}': {".": {}, "f:name": {}, "f:image": {}}}
    assert fieldset.changed(old, old, DEPLOY) == {}


def test_an_update_marks_the_maps_it_creates() -> None:
    got = fieldset.changed({"metadata": {}}, {"metadata": {"labels": {"a": "1"}}}, CM,
                           mark_added=True)
    assert got == {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}}


def test_set_algebra() -> None:
    a: Trie = {"f:spec": {"f:replicas": {}, "f:x": {".": {}, "f:y": {}}}}
    b: Trie = {"f:spec": {"f:x": {}}}
    assert fieldset.intersection(a, b) == {"f:spec": {"f:x": {}}}
    assert fieldset.difference(a, b) == {"f:spec": {"f:replicas": {}, "f:x": {"f:y": {}}}}
    assert fieldset.union(b, {"f:spec": {"f:x": {"f:z": {}}}}) == {
        "f:spec": {"f:x": {".": {}, "f:z": {}}}}
    assert fieldset.difference(a, a) == {}
    assert list(fieldset.members(a)) == [("f:spec", "f:replicas"), ("f:spec", "f:x"),
                                         ("f:spec", "f:x", "f:y")]


def test_strip_leaves_server_metadata_unowned() -> None:
    trie = fieldset.fields_of({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "c", "namespace": "d", "uid": "u",
                                            "labels": {"a": "b"}},
                               "data": {"k": "v"}, "status": {"x": 1}}, CM)
    assert fieldset.strip(trie) == {"f:metadata": {"f:labels": {"f:a": {}}},
                                    "f:data": {"f:k": {}},
                                    # undeclared in a ConfigMap: deduced, the key a member
                                    "f:status": {".": {}, "f:x": {}}}
    assert "f:status" not in fieldset.strip(trie, keep_status=False)
    assert fieldset.strip(trie, status_only=True) == {"f:status": {".": {}, "f:x": {}}}


@pytest.mark.parametrize(("path", "text"), [
    (("f:spec", "f:replicas"), ".spec.replicas"),
    (("f:spec", "f:containers", 'k:{"name":"web"}', "f:image"),
     '.spec.containers[name="web"].image'),
    (("f:spec", "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'),
     '.spec.ports[containerPort=80,protocol="TCP"]'),
    (("f:metadata", "f:finalizers", 'v:"x"'), '.metadata.finalizers[="x"]'),
    (("f:metadata", "f:labels", "f:app.kubernetes.io/name"),
     ".metadata.labels.app.kubernetes.io/name"),
])
def test_path_text_is_upstreams(path: tuple[str, ...], text: str) -> None:
    assert fieldset.path_text(path) == text
