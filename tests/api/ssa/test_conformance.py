"""Upstream's documented server-side apply behaviour, as a table run through the api layer
(LocalClient over a real SQLite store, and the same through the HTTP API and gitkube's HTTP
client): each case is a sequence of applies and updates by named managers, then the object's
values and who owns which field. The cases restate, in gitkube's own data, the examples of
the Kubernetes "Server-Side Apply" page: field management, conflicts, forcing,
co-ownership, removal of fields an applier dropped, merge strategy by list/map type, and
handing ``replicas`` over to an autoscaler."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.client import Client
from gitkube.api.local import LocalClient
from gitkube.api.ssa import fieldset
from gitkube.errors import Conflict
from gitkube.model.patch import merge_patch
from gitkube.store import open_store
from tests.api.server.serving import start

Obj = dict[str, Any]


def cm(data: Obj | None = None, **meta: Any) -> Obj:
    out: Obj = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "demo", "namespace": "default", **meta}}
    if data is not None:
        out["data"] = data
    return out


def deploy(spec: Obj, **meta: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", **meta}, "spec": spec}


def containers(*items: Obj, replicas: int | None = None) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": list(items)}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return spec


@dataclass
class Apply:
    manager: str
    config: Obj
    force: bool = False
    conflicts: list[str] | None = None  # the 409's fields, when it must be refused


@dataclass
class Update:
    """A non-apply write (PUT/PATCH) by ``manager``: a merge patch of the live object."""

    manager: str
    patch: Obj


@dataclass
class Case:
    name: str
    steps: list[Apply | Update]
    values: dict[str, Any] = field(default_factory=dict)  # dotted path -> value (None: absent)
    owners: dict[str, list[str]] = field(default_factory=dict)  # manager -> owned paths
    disowned: dict[str, str] = field(default_factory=dict)  # manager -> a path it lost


WEB = {"name": "web", "image": "nginx:1.25"}
SIDE = {"name": "side", "image": "busybox:1"}

CASES = [
    Case("an apply owns exactly the fields it sets",
         [Apply("alice", cm({"a": "1"}, labels={"team": "x"}))],
         {"data.a": "1"}, {"alice": [".data.a", ".metadata.labels.team"]}),
    Case("the same value applied by two managers is shared, no conflict",
         [Apply("alice", cm({"a": "1"})), Apply("bob", cm({"a": "1"}))],
         {"data.a": "1"}, {"alice": [".data.a"], "bob": [".data.a"]}),
    Case("another value for another manager's field is a conflict",
         [Apply("alice", cm({"a": "1"})), Apply("bob", cm({"a": "2"}), conflicts=[".data.a"])],
         {"data.a": "1"}, {"alice": [".data.a"]}),
    Case("a forced apply takes the field over",
         [Apply("alice", cm({"a": "1", "b": "1"})), Apply("bob", cm({"a": "2"}), force=True)],
         {"data.a": "2", "data.b": "1"}, {"alice": [".data.b"], "bob": [".data.a"]}),
    Case("an update never conflicts and takes the fields it changes",
         [Apply("alice", cm({"a": "1"})), Update("editor", {"data": {"a": "9"}})],
         {"data.a": "9"}, {"editor": [".data.a"]}),
    Case("re-applying over an updater's change is a conflict with it",
         [Apply("alice", cm({"a": "1"})), Update("editor", {"data": {"a": "9"}}),
          Apply("alice", cm({"a": "1"}), conflicts=[".data.a"])],
         {"data.a": "9"}),
    Case("a field the applier stops applying is removed",
         [Apply("alice", cm({"a": "1", "b": "2"}, labels={"x": "1", "y": "2"})),
          Apply("alice", cm({"a": "1"}, labels={"x": "1"}))],
         {"data.a": "1", "data.b": None, "metadata.labels.y": None},
         {"alice": [".data.a", ".metadata.labels.x"]}),
    Case("a dropped field that another manager also owns stays, owned by it alone",
         [Apply("alice", cm({"a": "1", "b": "2"})), Apply("bob", cm({"b": "2"})),
          Apply("alice", cm({"a": "1"}))],
         {"data.b": "2"}, {"alice": [".data.a"], "bob": [".data.b"]}),
    Case("fields set by others are kept when an applier applies",
         [Apply("alice", cm({"a": "1"})), Update("ctl", {"data": {"z": "0"}}),
          Apply("alice", cm({"a": "2"}))],
         {"data.a": "2", "data.z": "0"}, {"ctl": [".data.z"]}),
    Case("granular map: managers own their own label keys",
         [Apply("alice", cm(labels={"a": "1"})), Apply("bob", cm(labels={"b": "1"})),
          Apply("alice", cm(labels={"c": "1"}))],
         {"metadata.labels": {"b": "1", "c": "1"}, "metadata.labels.a": None},
         {"alice": [".metadata.labels.c"], "bob": [".metadata.labels.b"]}),
    Case("listType=set: each manager owns its elements, the list is their union",
         [Apply("alice", cm(finalizers=["example.com/a"])),
          Apply("bob", cm(finalizers=["example.com/b"]))],
         {"metadata.finalizers": ["example.com/a", "example.com/b"]},
         {"alice": ['.metadata.finalizers[="example.com/a"]'],
          "bob": ['.metadata.finalizers[="example.com/b"]']}),
    Case("listType=map: items merged by key; each manager owns its items",
         [Apply("alice", deploy(containers(WEB))),
          Apply("bob", deploy({"template": {"spec": {"containers": [SIDE]}}}))],
         {"spec.template.spec.containers": [WEB, SIDE]},
         {"bob": ['.spec.template.spec.containers[name="side"]',
                  '.spec.template.spec.containers[name="side"].image',
                  '.spec.template.spec.containers[name="side"].name']}),
    Case("listType=map: a field of another manager's item conflicts",
         [Apply("alice", deploy(containers(WEB))),
          Apply("bob", deploy({"template": {"spec": {"containers": [
              {"name": "web", "image": "nginx:1.26"}]}}}),
                conflicts=['.spec.template.spec.containers[name="web"].image'])]),
    Case("listType=atomic: the list is one field, replaced whole, conflicting whole",
         [Apply("alice", deploy(containers({**WEB, "args": ["-a", "-b"]}))),
          Apply("bob", deploy({"template": {"spec": {"containers": [
              {"name": "web", "args": ["-c"]}]}}}),
                conflicts=['.spec.template.spec.containers[name="web"].args']),
          Apply("bob", deploy({"template": {"spec": {"containers": [
              {"name": "web", "args": ["-c"]}]}}}), force=True)],
         {"spec.template.spec.containers": [{**WEB, "args": ["-c"]}]}),
    Case("mapType=atomic: a selector is one field",
         [Apply("alice", deploy(containers(WEB))),
          Apply("bob", deploy({"selector": {"matchLabels": {"app": "web", "x": "y"}}}),
                conflicts=[".spec.selector"])]),
    Case("handing replicas to an autoscaler: co-own, drop, then the autoscaler updates",
         [Apply("alice", deploy(containers(WEB, replicas=3))),
          Apply("handover-to-hpa", deploy({"replicas": 3})),
          Apply("alice", deploy(containers(WEB))),
          Update("hpa-controller", {"spec": {"replicas": 5}})],
         {"spec.replicas": 5},
         {"hpa-controller": [".spec.replicas"], "handover-to-hpa": []},
         {"alice": ".spec.replicas"}),
    Case("without the handover, dropping replicas removes it (the default comes back)",
         [Apply("alice", deploy(containers(WEB, replicas=3))),
          Apply("alice", deploy(containers(WEB)))],
         {"spec.replicas": 1}),
]


@pytest.fixture(params=["local", "http"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """The api in-process, and the same through the HTTP API and gitkube's HTTP client."""
    store = open_store(f"sqlite://{tmp_path / 'ssa.db'}")
    try:
        if request.param == "local":
            yield LocalClient(store)
            return
        served = start(store)
        http = served.client()
        try:
            yield http
        finally:
            http.close()
            served.server.shutdown()
    finally:
        store.close()


def value_at(obj: Obj, dotted: str) -> Any:
    node: Any = obj
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def matches(got: Any, expected: Any) -> bool:
    """``got`` has every value ``expected`` names (server defaults beside them are fine)."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(matches(got.get(k), v)
                                             for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(
            matches(g, e) for g, e in zip(got, expected, strict=True))
    return bool(got == expected)


def owned(obj: Obj) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in obj["metadata"].get("managedFields") or []:
        paths = [fieldset.path_text(p) for p in fieldset.members(entry["fieldsV1"])]
        out.setdefault(entry["manager"], []).extend(paths)
    return out


def run(client: Client, case: Case) -> Obj:
    obj: Obj = {}
    for step in case.steps:
        if isinstance(step, Update):
            meta = obj["metadata"]
            current = client.get(obj["apiVersion"], obj["kind"], meta["namespace"],
                                 meta["name"])
            client.update(merge_patch(current, step.patch), field_manager=step.manager)
            continue
        if step.conflicts is None:
            obj = client.apply(step.config, field_manager=step.manager, force=step.force)
            continue
        with pytest.raises(Conflict) as refused:
            client.apply(step.config, field_manager=step.manager, force=step.force)
        got = [c["field"] for c in refused.value.causes]
        assert got == step.conflicts, case.name
        assert refused.value.message.startswith(
            f"Apply failed with {len(got)} conflict")
    meta = obj["metadata"]
    return client.get(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upstream_documented_behaviour(client: Client, case: Case) -> None:
    final = run(client, case)
    for dotted, expected in case.values.items():
        assert matches(value_at(final, dotted), expected), (case.name, dotted, final)
    owners = owned(final)
    for manager, paths in case.owners.items():
        assert sorted(owners.get(manager, [])) == sorted(paths), (case.name, manager, owners)
    for manager, path in case.disowned.items():
        assert path not in owners.get(manager, []), (case.name, manager, owners)


def test_reapplying_the_same_configuration_writes_nothing(client: Client) -> None:
    first = client.apply(cm({"a": "1"}), field_manager="alice")
    again = client.apply(cm({"a": "1"}), field_manager="alice")
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_first_apply_to_an_unmanaged_object_hands_it_to_before_first_apply(
        client: Client) -> None:
    client.create(cm({"a": "1"}))  # in-process: no manager, no managedFields
    with pytest.raises(Conflict) as refused:
        client.apply(cm({"a": "2"}), field_manager="alice")
    # over HTTP the create names its User-Agent's product as its manager, as upstream
    owner = "before-first-apply" if isinstance(client, LocalClient) else "gitkube-http-client"
    assert f'conflict with "{owner}" using v1: .data.a' in refused.value.message


def test_a_client_may_rewrite_and_reset_managed_fields(client: Client) -> None:
    obj = client.apply(cm({"a": "1"}), field_manager="alice")
    obj["metadata"]["managedFields"][0]["manager"] = "carol"
    renamed = client.update(obj, field_manager="editor")
    assert [e["manager"] for e in renamed["metadata"]["managedFields"]] == ["carol"]
    renamed["metadata"]["managedFields"] = [{}]
    cleared = client.update(renamed, field_manager="editor")
    assert "managedFields" not in cleared["metadata"]
    obj = client.apply(cm({"a": "1"}), field_manager="alice")
    before = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert before == ["alice", "before-first-apply"]  # what it had, until cleared
    obj["metadata"]["managedFields"] = []  # empty: no change (clients unaware of it)
    kept = client.update(obj, field_manager="editor")["metadata"]["managedFields"]
    assert [e["manager"] for e in kept] == before
    if isinstance(client, LocalClient):  # an in-process write naming no manager: ignored
        kept[0]["manager"] = "stale"
        again = client.update({**obj, "metadata": {**obj["metadata"], "managedFields": kept,
                                                   "resourceVersion": None}})
        assert [e["manager"] for e in again["metadata"]["managedFields"]] == before


def test_status_and_scale_subresources(client: Client) -> None:
    client.apply(deploy(containers(WEB, replicas=2)), field_manager="alice")
    status = client.apply(deploy({}) | {"status": {"observedGeneration": 7}},
                          field_manager="ctl", subresource="status")
    assert status["status"]["observedGeneration"] == 7
    assert status["spec"]["replicas"] == 2
    ignored = client.apply(deploy(containers(WEB, replicas=2)) | {"status": {"replicas": 9}},
                           field_manager="alice")
    assert ignored["status"].get("replicas") != 9  # the main resource ignores status
    with pytest.raises(Conflict) as refused:
        client.apply(deploy({"replicas": 4}), field_manager="hpa", subresource="scale")
    assert 'conflict with "alice": .spec.replicas' in refused.value.message
    scale = client.apply(deploy({"replicas": 4}), field_manager="hpa", subresource="scale",
                         force=True)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 4
    entries = client.get("apps/v1", "Deployment", "default", "web")["metadata"]["managedFields"]
    assert {(e["manager"], e.get("subresource", "")) for e in entries} == {
        ("alice", ""), ("ctl", "status"), ("hpa", "scale")}
