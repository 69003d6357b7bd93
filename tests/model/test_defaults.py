"""Kubernetes defaulting: per kind, idempotent, never mutating its input."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from gitkube.model.defaults import apply_defaults, image_pull_policy

Obj = dict[str, Any]


def pod_template(**container: Any) -> Obj:
    return {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", **container}]}}


def test_never_mutates_and_is_idempotent() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {}, "template": pod_template()}}
    before = copy.deepcopy(obj)
    once = apply_defaults(obj)
    assert obj == before
    assert apply_defaults(once) == once
    once["spec"]["template"]["spec"]["containers"][0]["name"] = "changed"
    assert obj == before  # no shared structure


def test_user_values_win() -> None:
    out = apply_defaults({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "d", "namespace": "team"},
                          "spec": {"replicas": 0, "strategy": {"type": "Recreate"},
                                   "template": pod_template(imagePullPolicy="Never")}})
    assert out["metadata"]["namespace"] == "team"
    assert out["spec"]["replicas"] == 0
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_deployment() -> None:
    out = apply_defaults({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "d"}, "spec": {"template": pod_template()}})
    spec = out["spec"]
    assert out["metadata"]["namespace"] == "default"
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    assert pod["securityContext"] == {}
    container = pod["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"


def test_container_details() -> None:
    out = apply_defaults({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                          "spec": {
                              "initContainers": [{"name": "i", "image": "busybox:1.36"}],
                              "containers": [{
                                  "name": "c", "image": "busybox:1.36",
                                  "ports": [{"containerPort": 53, "protocol": "UDP"},
                                            {"containerPort": 80}],
                                  "livenessProbe": {"httpGet": {"port": 80}},
                                  "readinessProbe": {"exec": {"command": ["true"]},
                                                     "periodSeconds": 3},
                                  "env": [{"name": "N", "valueFrom": {
                                      "fieldRef": {"fieldPath": "metadata.name"}}}],
                              }],
                              "volumes": [{"name": "v", "configMap": {"name": "cm"}},
                                          {"name": "e", "emptyDir": {}}],
                          }})
    spec = out["spec"]
    assert spec["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    c = spec["containers"][0]
    assert [p["protocol"] for p in c["ports"]] == ["UDP", "TCP"]
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                  "timeoutSeconds": 1, "periodSeconds": 10,
                                  "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["periodSeconds"] == 3
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert spec["volumes"][0]["configMap"]["defaultMode"] == 420
    assert spec["volumes"][1] == {"name": "e", "emptyDir": {}}


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.25", "IfNotPresent"),
    ("registry:5000/team/app", "Always"),
    ("registry:5000/team/app:v2", "IfNotPresent"),
    ("localhost/app:latest", "Always"),
    ("app@sha256:abcd", "IfNotPresent"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_service() -> None:
    out = apply_defaults({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                          "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP",
                                                            "targetPort": "dns"}]}})
    spec = out["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                             {"port": 53, "protocol": "UDP", "targetPort": "dns"}]
    assert "externalTrafficPolicy" not in spec
    sticky = apply_defaults({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                             "spec": {"type": "NodePort", "sessionAffinity": "ClientIP"}})
    assert sticky["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert sticky["spec"]["externalTrafficPolicy"] == "Cluster"


def test_job() -> None:
    out = apply_defaults({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                          "spec": {"template": pod_template()}})
    spec = out["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    work_queue = apply_defaults({"apiVersion": "batch/v1", "kind": "Job",
                                 "metadata": {"name": "j"}, "spec": {"parallelism": 3}})
    assert "completions" not in work_queue["spec"]


def test_daemonset_and_statefulset() -> None:
    ds = apply_defaults({"apiVersion": "apps/v1", "kind": "DaemonSet",
                         "metadata": {"name": "d"}, "spec": {"template": pod_template()}})
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 1, "maxSurge": 0}}
    sts = apply_defaults({"apiVersion": "apps/v1", "kind": "StatefulSet",
                          "metadata": {"name": "s"},
                          "spec": {"template": pod_template(), "volumeClaimTemplates": [
                              {"metadata": {"name": "data"}, "spec": {}}]}})
    spec = sts["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"partition": 0}}
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    assert spec["replicas"] == 1
    on_delete = apply_defaults({"apiVersion": "apps/v1", "kind": "StatefulSet",
                                "metadata": {"name": "s"},
                                "spec": {"updateStrategy": {"type": "OnDelete"}}})
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_secret_string_data_folds_into_data() -> None:
    out = apply_defaults({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                          "data": {"a": base64.b64encode(b"x").decode()},
                          "stringData": {"b": "hello", "a": "wins"}})
    assert out["type"] == "Opaque"
    assert "stringData" not in out
    assert base64.b64decode(out["data"]["b"]) == b"hello"
    assert base64.b64decode(out["data"]["a"]) == b"wins"


def test_cluster_scoped_and_unknown_kinds() -> None:
    ns = apply_defaults({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    assert "namespace" not in ns["metadata"]
    odd = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert apply_defaults(odd) == odd
