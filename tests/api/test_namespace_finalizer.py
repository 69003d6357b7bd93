"""A Namespace is created with spec.finalizers [kubernetes] (upstream's namespace strategy)
and updates that do not mention them keep them; deleting it leaves it Terminating."""

from __future__ import annotations

import pytest

from gitkube.api.local import LocalClient
from gitkube.errors import Forbidden, NotFound
from gitkube.store import open_store


def test_namespace_finalizer_is_set_on_create_and_kept_by_updates() -> None:
    client = LocalClient(open_store("memory://"))
    made = client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    assert made["spec"] == {"finalizers": ["kubernetes"]}
    other = client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"},
                           "spec": {"finalizers": ["example.com/x"]}})
    assert other["spec"]["finalizers"] == ["example.com/x", "kubernetes"]
    relabelled = client.update({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": "a", "labels": {"team": "x"}}})
    assert relabelled["spec"] == {"finalizers": ["kubernetes"]}
    assert relabelled["metadata"]["generation"] == 1
    held = client.delete("v1", "Namespace", None, "a")
    assert held["status"]["phase"] == "Terminating"
    with pytest.raises(Forbidden):
        client.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "c", "namespace": "a"}})
    client.update({**held, "spec": {"finalizers": []}})  # the namespace controller's release
    with pytest.raises(NotFound):
        client.get("v1", "Namespace", None, "a")
