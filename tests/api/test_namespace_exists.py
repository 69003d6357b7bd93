"""A namespaced object needs its Namespace, as upstream's NamespaceLifecycle admission says:
creating inside a namespace that does not exist is NotFound (`namespaces "x" not found`) and
writes nothing; the system namespaces always exist; a transaction may create a Namespace
and what it holds."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api import LocalClient
from gitkube.api.client import CreateOp
from gitkube.errors import NotFound

Obj = dict[str, Any]


def cm(name: str, namespace: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}}


def ns(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_creating_in_a_missing_namespace_is_not_found(client: LocalClient) -> None:
    with pytest.raises(NotFound) as info:
        client.create(cm("c", "nope"))
    assert info.value.message == 'namespaces "nope" not found'
    status = info.value.status()
    assert (status["code"], status["reason"]) == (404, "NotFound")
    assert (status["details"]["name"], status["details"]["kind"]) == ("nope", "namespaces")
    assert client.list("v1", "ConfigMap").items == []


@pytest.mark.parametrize("system", ["default", "kube-system", "kube-public", "kube-node-lease"])
def test_the_system_namespaces_always_exist(client: LocalClient, system: str) -> None:
    assert client.create(cm("c", system))["metadata"]["namespace"] == system


def test_a_transaction_creates_a_namespace_and_its_content(client: LocalClient) -> None:
    client.transaction([CreateOp(ns("shop")), CreateOp(cm("c", "shop"))])
    assert client.get("v1", "ConfigMap", "shop", "c")["metadata"]["namespace"] == "shop"
    with pytest.raises(NotFound, match='namespaces "later" not found'):
        client.transaction([CreateOp(cm("c", "later")), CreateOp(ns("later"))])
    assert client.list("v1", "Namespace").items[0]["metadata"]["name"] == "shop"  # nothing
