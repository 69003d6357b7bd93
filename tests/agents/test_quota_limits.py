"""ResourceQuota and LimitRange through the api layer (admission) and the quota controller,
with the Kubernetes documentation's examples unchanged and the outcomes it documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitkube.agents.controllers import resourcequota
from gitkube.errors import Forbidden
from tests.agents.agenttest import Cluster, eventually

Obj = dict[str, Any]
DOCS = Path(__file__).parent.parent / "data" / "upstream" / "k8s-website-resource"


def example(name: str, namespace: str = "default") -> Obj:
    doc: Obj = YAML(typ="safe").load((DOCS / name).read_text())
    doc["metadata"]["namespace"] = namespace  # kubectl apply -n NAMESPACE
    return doc


def test_quota_refuses_what_goes_over(cluster: Cluster) -> None:
    c = cluster.client
    cluster.manager.add(resourcequota.controller(cluster.manager, resync=0.2))
    cluster.manager.start()
    c.create(example("quota-mem-cpu.yaml"))
    c.create(example("quota-mem-cpu-pod.yaml"))
    with pytest.raises(Forbidden) as info:
        c.create(example("quota-mem-cpu-pod-2.yaml"))
    assert info.value.message == (
        'pods "quota-mem-cpu-demo-2" is forbidden: exceeded quota: mem-cpu-demo, requested: '
        "requests.memory=700Mi, used: requests.memory=600Mi, limited: requests.memory=1Gi")
    # a pod that leaves out what the quota tracks
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}
    with pytest.raises(Forbidden) as missing:
        c.create(bare)
    assert missing.value.message.endswith(
        "failed quota: mem-cpu-demo: must specify limits.cpu for: c; limits.memory for: c; "
        "requests.cpu for: c; requests.memory for: c")

    def used() -> Obj:
        got: Obj = (c.get("v1", "ResourceQuota", "default", "mem-cpu-demo").get("status")
                    or {}).get("used") or {}
        return got

    assert eventually(lambda: used() == {"requests.cpu": "400m", "requests.memory": "600Mi",
                                         "limits.cpu": "800m", "limits.memory": "800Mi"})


def test_object_counts(cluster: Cluster) -> None:
    c = cluster.client
    c.create({"apiVersion": "v1", "kind": "ResourceQuota",
              "metadata": {"name": "objects", "namespace": "default"},
              "spec": {"hard": {"configmaps": "1", "count/jobs.batch": "0"}}})
    c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
    with pytest.raises(Forbidden, match=r'configmaps "b" is forbidden: exceeded quota: '
                                        r"objects, requested: configmaps=1, used: "
                                        r"configmaps=1, limited: configmaps=1"):
        c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}})
    with pytest.raises(Forbidden, match=r'jobs\.batch "j" is forbidden: exceeded quota'):
        c.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                  "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                      {"name": "c", "image": "busybox:1"}]}}}})


def test_limit_range_max_and_defaults(cluster: Cluster) -> None:
    c = cluster.client
    c.create(example("cpu-constraints.yaml"))
    with pytest.raises(Forbidden) as info:
        c.create(example("cpu-constraints-pod-2.yaml"))
    assert info.value.message == ('pods "constraints-cpu-demo-2" is forbidden: maximum cpu '
                                  "usage per Container is 800m, but limit is 1500m")
    c.create({"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": "default-mem-example"}})
    stored = c.create(example("memory-defaults.yaml", "default-mem-example"))
    item = stored["spec"]["limits"][0]
    assert item["default"] == {"memory": "512Mi"}
    pod = c.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "namespace": "default-mem-example"},
                    "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}})
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"memory": "512Mi"}, "requests": {"memory": "256Mi"}}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: memory request for container c; memory limit for container c"
