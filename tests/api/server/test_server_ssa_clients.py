"""Server-side apply from two more real clients: the official Python client's dynamic
``server_side_apply`` and lightkube's ``apply`` (whose apply is server-side only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.server.kubectl_cli import Kubectl
from tests.api.server.serving import Served

kubernetes = pytest.importorskip("kubernetes")
lightkube = pytest.importorskip("lightkube")
from kubernetes import client as k8s  # noqa: E402
from kubernetes.dynamic import DynamicClient  # noqa: E402
from lightkube.config.kubeconfig import KubeConfig  # noqa: E402
from lightkube.core.exceptions import ApiError  # noqa: E402
from lightkube.resources.core_v1 import ConfigMap  # noqa: E402


def configmap(data: dict[str, str], **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "default", "labels": labels},
            "data": data}


@pytest.fixture
def dynamic(served: Served, tmp_path: Path) -> Iterator[Any]:
    config = k8s.Configuration()
    config.host = served.url
    with k8s.ApiClient(config) as api_client:
        # the discovery cache in tmp_path: by default the client leaves it in /tmp
        yield DynamicClient(  # type: ignore[no-untyped-call]
            api_client, cache_file=str(tmp_path / "discovery.json"))


@pytest.fixture
def light(served: Served, tmp_path: Path) -> Any:
    config = KubeConfig.from_file(Kubectl(served, tmp_path).config)
    return lightkube.Client(config=config, field_manager="lightkube-test")


def test_python_dynamic_client_server_side_apply(dynamic: Any) -> None:
    cms = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    first = dynamic.server_side_apply(cms, body=configmap({"a": "1", "b": "2"}),
                                      field_manager="py")
    assert first.data.a == "1"
    again = dynamic.server_side_apply(cms, body=configmap({"a": "1"}), field_manager="py")
    assert dict(again.data) == {"a": "1"}  # b dropped by its only applier: removed
    entry = again.metadata.managedFields[0]
    assert (entry.manager, entry.operation, entry.fieldsType) == ("py", "Apply", "FieldsV1")
    with pytest.raises(kubernetes.client.exceptions.ApiException) as refused:
        dynamic.server_side_apply(cms, body=configmap({"a": "2"}), field_manager="other")
    assert refused.value.status == 409
    status = json.loads(refused.value.body)
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "py": .data.a'
    assert status["reason"] == "Conflict"
    forced = dynamic.server_side_apply(cms, body=configmap({"a": "2"}),
                                       field_manager="other", force_conflicts=True)
    assert forced.data.a == "2"


def test_lightkube_apply(light: Any) -> None:
    created = light.apply(ConfigMap.from_dict(configmap({"a": "1"}, team="x")))
    assert created.data == {"a": "1"} and created.metadata.labels == {"team": "x"}
    changed = light.apply(ConfigMap.from_dict(configmap({"a": "1", "c": "3"})))
    assert changed.data == {"a": "1", "c": "3"}
    assert not changed.metadata.labels  # the label it no longer applies is gone
    managers = {e.manager for e in changed.metadata.managedFields}
    assert managers == {"lightkube-test"}
    with pytest.raises(ApiError) as refused:
        light.apply(ConfigMap.from_dict(configmap({"a": "9"})), field_manager="intruder")
    assert refused.value.status.code == 409
    assert refused.value.status.reason == "Conflict"
    details: Any = refused.value.status.details
    assert details.causes[0].field == ".data.a"
    taken = light.apply(ConfigMap.from_dict(configmap({"a": "9"})), field_manager="intruder",
                        force=True)
    assert taken.data["a"] == "9"
