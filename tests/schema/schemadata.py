"""Shared objects for the schema tests: the example manifests and small valid objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]


def example_objects() -> list[dict[str, Any]]:
    """Every document of manifests/, in file order."""
    out: list[dict[str, Any]] = []
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        out.extend(d for d in YAML(typ="safe", pure=False).load_all(path.read_text()) if d)
    return out


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "httpd",
                    "image": "localhost/web:1",
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"requests": {"cpu": "50m", "memory": "16Mi"},
                                  "limits": {"memory": "64Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                    "volumeMounts": [{"name": "site", "mountPath": "/www"}],
                }],
                "volumes": [{"name": "site", "configMap": {"name": "web"}}],
            },
        },
    },
}

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "demo"},
    "spec": {"selector": {"app": "web"},
             "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
}

JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "migrate", "namespace": "demo"},
    "spec": {"template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "migrate", "image": "localhost/web:1"}],
    }}},
}

CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "web", "namespace": "demo"},
    "data": {"GREETING": "hello"},
}
