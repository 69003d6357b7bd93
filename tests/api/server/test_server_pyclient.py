"""The official Kubernetes Python client (PyPI ``kubernetes``) against gitkube's API.

The client's API objects are used as ``Any``: its hints say the methods take model objects
and every model field may be None, while it sends dict bodies as they are and these tests
read fields the server must have set."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.api.server.httphelp import deployment, pod
from tests.api.server.serving import Served

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import watch as k8s_watch  # noqa: E402


@pytest.fixture
def api(served: Served) -> Iterator[k8s.ApiClient]:
    config = k8s.Configuration()
    config.host = served.url
    with k8s.ApiClient(config) as api_client:
        yield api_client


def test_list_create_get_delete(api: k8s.ApiClient) -> None:
    core: Any = k8s.CoreV1Api(api)
    created = core.create_namespaced_pod("default", pod("a", labels={"app": "web"}))
    assert created.metadata.name == "a" and created.metadata.uid
    assert created.status.phase == "Pending"
    core.create_namespaced_pod("default", k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="b"),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox:1")])))
    listed = core.list_namespaced_pod("default")
    assert [p.metadata.name for p in listed.items] == ["a", "b"]
    assert listed.metadata.resource_version
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(
        label_selector="app=web").items] == ["a"]
    assert [p.metadata.name for p in core.list_namespaced_pod(
        "default", field_selector="metadata.name=b").items] == ["b"]
    assert core.read_namespaced_pod("a", "default").spec.containers[0].image == "busybox:1"
    core.delete_namespaced_pod("a", "default")
    with pytest.raises(k8s.ApiException) as info:
        core.read_namespaced_pod("a", "default")
    assert info.value.status == 404 and '"reason":"NotFound"' in (info.value.body or "")


def test_patch_and_scale(api: k8s.ApiClient) -> None:
    apps: Any = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", 1))
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3  # a dict body is a strategic merge patch
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    assert apps.patch_namespaced_deployment("web", "default", ops).spec.replicas == 2
    scale = apps.patch_namespaced_deployment_scale("web", "default",
                                                   {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"
    assert apps.read_namespaced_deployment_scale("web", "default").spec.replicas == 4
    status = apps.patch_namespaced_deployment_status(
        "web", "default", {"status": {"observedGeneration": 1, "replicas": 0}})
    assert status.status.observed_generation == 1


def test_conflict_and_invalid(api: k8s.ApiClient) -> None:
    core: Any = k8s.CoreV1Api(api)
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "c"},
                                                       "data": {"k": "1"}})
    cm.data = {"k": "2"}
    core.replace_namespaced_config_map("c", "default", cm)
    cm.data = {"k": "3"}
    with pytest.raises(k8s.ApiException) as info:
        core.replace_namespaced_config_map("c", "default", cm)  # stale resourceVersion
    assert info.value.status == 409
    with pytest.raises(k8s.ApiException) as info:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    assert info.value.status == 422 and "causes" in (info.value.body or "")


def test_watch_stream(api: k8s.ApiClient, served: Served) -> None:
    core: Any = k8s.CoreV1Api(api)
    core.create_namespaced_pod("default", pod("a"))
    events: list[tuple[str, str]] = []
    w = k8s_watch.Watch()
    seen_first = threading.Event()

    def consume() -> None:
        for event in w.stream(core.list_namespaced_pod, "default", timeout_seconds=30):
            events.append((event["type"], event["object"].metadata.name))
            seen_first.set()
            if len(events) == 3:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    assert seen_first.wait(30)
    served.local.create(pod("b"))
    served.local.delete("v1", "Pod", "default", "a")
    thread.join(timeout=30)
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_discovery_and_version(api: k8s.ApiClient) -> None:
    version: Any = k8s.VersionApi(api).get_code()
    assert version.major == "1"
    groups: Any = k8s.ApisApi(api).get_api_versions()
    assert "apps" in [g.name for g in groups.groups]
    resources: Any = k8s.CoreV1Api(api).get_api_resources()
    assert "po" in next(r for r in resources.resources if r.name == "pods").short_names


def test_graceful_pod_deletion(api: k8s.ApiClient) -> None:
    core: Any = k8s.CoreV1Api(api)
    core.create_namespaced_pod("default", k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="g"),
        spec=k8s.V1PodSpec(node_name="n1", termination_grace_period_seconds=12,
                           containers=[k8s.V1Container(name="c", image="busybox:1")])))
    held = core.delete_namespaced_pod("g", "default")  # no grace: the pod's own
    assert held.metadata.deletion_grace_period_seconds == 12
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.deletion_timestamp - held.metadata.creation_timestamp >= \
        timedelta(seconds=11)  # now + the grace period
    shorter = core.delete_namespaced_pod("g", "default", grace_period_seconds=5)
    assert shorter.metadata.deletion_grace_period_seconds == 5
    with pytest.raises(k8s.ApiException) as info:
        core.delete_namespaced_pod("g", "default", grace_period_seconds=-1)
    assert info.value.status == 400 and "gracePeriodSeconds -1 is invalid" in str(info.value.body)
    core.delete_namespaced_pod("g", "default", grace_period_seconds=0)  # the kubelet's
    with pytest.raises(k8s.ApiException) as gone:
        core.read_namespaced_pod("g", "default")
    assert gone.value.status == 404
