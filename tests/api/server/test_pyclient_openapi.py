"""The official Python client over the published OpenAPI, fieldValidation and discovery.

The client reads no OpenAPI document itself (its models are generated ahead of time and
check bodies client-side, so a typed call cannot send an unknown field), so it fetches them
as any program would, through its ``ApiClient``; its dynamic client (dict bodies, no
``fieldValidation`` parameter: gitkube's default, Strict) names an unknown field in the 422;
its discovery reads the per-group documents, unchanged by aggregated discovery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.server.httphelp import deployment
from tests.api.server.serving import Served

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import dynamic  # noqa: E402


@pytest.fixture
def api(served: Served) -> Iterator[k8s.ApiClient]:
    config = k8s.Configuration()
    config.host = served.url
    with k8s.ApiClient(config) as api_client:
        yield api_client


def _get(api: Any, path: str) -> Any:
    method, url, headers, body, post = api.param_serialize("GET", path)
    answer = api.call_api(method, url, headers, body, post)
    answer.read()
    return json.loads(answer.data)


def test_the_client_reads_both_openapi_documents(api: Any) -> None:
    index = _get(api, "/openapi/v3")
    doc = _get(api, index["paths"]["apis/batch/v1"]["serverRelativeURL"])
    assert doc["components"]["schemas"]["io.k8s.api.batch.v1.Job"][
        "x-kubernetes-group-version-kind"] == [{"group": "batch", "kind": "Job",
                                                "version": "v1"}]
    v2 = _get(api, "/openapi/v2")
    assert "io.k8s.api.core.v1.PodSpec" in v2["definitions"]


def test_an_unknown_field_is_named_and_a_typed_call_passes_field_validation(
        api: Any, tmp_path: Path) -> None:
    # (the discovery cache in tmp_path: by default the client leaves it in /tmp)
    client: Any = dynamic.DynamicClient(  # type: ignore[no-untyped-call]
        api, cache_file=str(tmp_path / "discovery.json"))
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    body = deployment("dyn")
    body["spec"]["foo"] = 1
    with pytest.raises(k8s.ApiException) as refused:
        deployments.create(body=body, namespace="default")
    assert refused.value.status == 422
    causes = json.loads(str(refused.value.body))["details"]["causes"]
    assert [c["field"] for c in causes] == ["spec.foo"]
    apps: Any = k8s.AppsV1Api(api)
    made = apps.create_namespaced_deployment("default", deployment("typed"),
                                             field_validation="Warn")
    assert made.spec.replicas == 1


def test_the_dynamic_client_discovers_and_reads(api: Any, tmp_path: Path) -> None:
    client: Any = dynamic.DynamicClient(  # type: ignore[no-untyped-call]
        api, cache_file=str(tmp_path / "discovery.json"))
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and "scale" in deployments.subresources
    assert client.resources.get(api_version="v1", kind="Pod").short_names == ["po"]
    assert deployments.get(namespace="default").items == []
