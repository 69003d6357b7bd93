"""Ephemeral containers through the api (the pods/ephemeralcontainers rules of
gitkube/api/ephemeral.py) and through the HTTP handlers (GET, PATCH, PUT of the subresource)."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api import LocalClient
from gitkube.errors import Conflict, Invalid, NotFound
from gitkube.store import open_store

Obj = dict[str, Any]
POD: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": "img:1"}],
                     "initContainers": [{"name": "setup", "image": "img:1"}],
                     "volumes": [{"name": "data", "emptyDir": {}}]}}
DEBUG: Obj = {"name": "debugger", "image": "tools:1", "targetContainerName": "main",
              "stdin": True, "tty": True}


@pytest.fixture
def client() -> LocalClient:
    c = LocalClient(open_store("memory://"))
    c.create(POD)
    return c


def _add(client: LocalClient, *containers: Obj, patch_type: Any = "strategic") -> Obj:
    return client.patch("v1", "Pod", "default", "app",
                        {"spec": {"ephemeralContainers": list(containers)}}, patch_type,
                        subresource="ephemeralcontainers")


def _causes(err: pytest.ExceptionInfo[Invalid]) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in err.value.causes or []]


def test_added_defaulted_and_generation_bumped(client: LocalClient) -> None:
    before = client.get("v1", "Pod", "default", "app")
    pod = _add(client, DEBUG)
    (added,) = pod["spec"]["ephemeralContainers"]
    assert added["name"] == "debugger" and added["targetContainerName"] == "main"
    assert added["imagePullPolicy"] == "IfNotPresent"
    assert added["terminationMessagePath"] == "/dev/termination-log"
    assert pod["metadata"]["generation"] == before["metadata"]["generation"] + 1
    # nothing but the ephemeral containers changed
    assert pod["spec"]["containers"] == before["spec"]["containers"]
    # a strategic patch merges by name: a second one is appended
    pod = _add(client, {"name": "second", "image": "tools:1"})
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == ["debugger", "second"]


def test_subresource_changes_nothing_else(client: LocalClient) -> None:
    pod = client.patch("v1", "Pod", "default", "app",
                       {"metadata": {"labels": {"x": "y"}},
                        "spec": {"ephemeralContainers": [DEBUG],
                                 "containers": [{"name": "main", "image": "other:2"}]}},
                       "strategic", subresource="ephemeralcontainers")
    assert "labels" not in pod["metadata"]
    assert pod["spec"]["containers"][0]["image"] == "img:1"


def test_existing_may_not_change_or_go(client: LocalClient) -> None:
    _add(client, DEBUG)
    with pytest.raises(Invalid) as err:
        _add(client, {**DEBUG, "image": "tools:2"})
    assert _causes(err) == [("spec.ephemeralContainers[0]",
                             'Forbidden: existing ephemeral containers "debugger" may not be '
                             "changed")]
    with pytest.raises(Invalid) as err:
        _add(client, {"name": "other", "image": "tools:1"}, patch_type="merge")
    assert ("spec.ephemeralContainers",
            'Forbidden: existing ephemeral containers "debugger" may not be removed') \
        in _causes(err)


def test_rules_of_a_new_one(client: LocalClient) -> None:
    with pytest.raises(Invalid) as err:
        _add(client, {"name": "main", "image": "tools:1", "targetContainerName": "setup",
                      "ports": [{"containerPort": 80}], "readinessProbe": {"exec": {
                          "command": ["true"]}},
                      "resources": {"limits": {"cpu": "1"}},
                      "volumeMounts": [{"name": "data", "mountPath": "/d", "subPath": "x"}]})
    causes = dict(_causes(err))
    assert causes["spec.ephemeralContainers[0].name"] == 'Duplicate value: "main"'
    for field in ("ports", "readinessProbe", "resources", "volumeMounts[0].subPath"):
        assert causes[f"spec.ephemeralContainers[0].{field}"] == \
            "Forbidden: cannot be set for an Ephemeral Container"
    # the target must be one of the pod's containers (not an init container)
    assert causes["spec.ephemeralContainers[0].targetContainerName"] == 'Not found: "setup"'
    # the container schema's rules apply at the ephemeral container's path
    with pytest.raises(Invalid) as err:
        _add(client, {"name": "x", "image": "tools:1", "tty": "yes"})
    assert [f for f, _ in _causes(err)] == ["spec.ephemeralContainers[0].tty"]
    with pytest.raises(Invalid) as err:
        _add(client, {"name": "y"})
    assert [f for f, _ in _causes(err)] == ["spec.ephemeralContainers[0].image"]
    assert "ephemeralContainers" not in client.get("v1", "Pod", "default", "app")["spec"]


def test_not_on_create_and_kept_by_updates(client: LocalClient) -> None:
    with pytest.raises(Invalid) as err:
        client.create({**POD, "metadata": {"name": "b", "namespace": "default"},
                       "spec": {**POD["spec"], "ephemeralContainers": [DEBUG]}})
    assert _causes(err) == [("spec.ephemeralContainers", "Forbidden: cannot be set on create")]
    added = _add(client, DEBUG)
    # an update of the pod that leaves them out (a manifest from git) keeps them
    updated = client.update({**POD, "metadata": {**POD["metadata"], "labels": {"a": "b"}}})
    assert updated["spec"]["ephemeralContainers"] == added["spec"]["ephemeralContainers"]
    # one that changes them is refused
    with pytest.raises(Invalid) as err:
        client.update({**POD, "spec": {**POD["spec"], "ephemeralContainers": [
            {"name": "z", "image": "tools:1"}]}})
    assert "pods/ephemeralcontainers subresource" in _causes(err)[0][1]


def test_stale_resource_version_and_other_kinds(client: LocalClient) -> None:
    stale = client.get("v1", "Pod", "default", "app")["metadata"]["resourceVersion"]
    _add(client, {"name": "first", "image": "tools:1"})
    with pytest.raises(Conflict):
        client.patch("v1", "Pod", "default", "app",
                     {"metadata": {"resourceVersion": stale},
                      "spec": {"ephemeralContainers": [DEBUG]}}, "merge",
                     subresource="ephemeralcontainers")
    client.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "default"}})
    with pytest.raises(NotFound):
        client.patch("v1", "ConfigMap", "default", "c", {}, "merge",
                     subresource="ephemeralcontainers")
