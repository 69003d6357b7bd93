"""Bounds as upstream: integers within their Go type (int32/int64), resource quantities not
negative, a ConfigMap's or Secret's data at most 1 MiB, one stored object at most 1.5 MiB —
refused by `gitkube validate` (file:line:col) and by the api (422, nothing written). An
out-of-range `replicas: 2147483648` used to be accepted and flood the machine with pods."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest

from gitkube.api import LocalClient
from gitkube.errors import Invalid
from gitkube.validate import validate

Obj = dict[str, Any]


def deployment(replicas: Any = 2, cpu: str = "100m") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "c", "image": "x",
                                         "resources": {"requests": {"cpu": cpu}}}]}}}}


@pytest.mark.parametrize(("obj", "message"), [
    (deployment(2**31), "spec.replicas: must be at most 2147483647 (an int32), not 2147483648"),
    (deployment(2**63), "must be at most 2147483647 (an int32)"),
    (deployment(-(2**31) - 1), "must be at least -2147483648 (an int32)"),
    (deployment(cpu="-1"), 'invalid value "-1" for cpu: must be greater than or equal to 0'),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
      "data": {"a": "x" * (1024 * 1024)}}, "too long, must have at most 1048576 bytes"),
    ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
      "data": {"a": base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()}},
     "too long, must have at most 1048576 bytes"),
])
def test_the_api_refuses_out_of_bounds_values(client: LocalClient, obj: Obj,
                                              message: str) -> None:
    with pytest.raises(Invalid, match="is invalid") as info:
        client.create(copy.deepcopy(obj))
    assert message in info.value.message
    kind = str(obj["kind"])
    api_version = str(obj["apiVersion"])
    assert client.list(api_version, kind).items == []


def test_scale_is_bounded_too(client: LocalClient) -> None:
    client.create(deployment())
    with pytest.raises(Invalid, match=r"must be at most 2147483647 \(an int32\), not "
                                      "1099511627776"):
        client.update_scale("apps/v1", "Deployment", "default", "web", 2**40)
    assert client.get("apps/v1", "Deployment", "default", "web")["spec"]["replicas"] == 2


def test_one_object_is_at_most_a_store_entry(client: LocalClient) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "x", "env": [
               {"name": f"V{i}", "value": "x" * 100_000} for i in range(17)]}]}}
    with pytest.raises(Invalid, match="more than the 1,572,864 bytes one object may take"):
        client.create(pod)
    assert client.list("v1", "Pod").items == []


def test_validate_says_where(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n"
        "spec:\n  replicas: 2147483648\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers: [{name: c, image: x}]\n")
    report = validate(tmp_path)
    assert not report.valid
    [diag] = report.diagnostics
    assert (diag.file, diag.line) == ("web.yaml", 5)
    assert diag.message == "must be at most 2147483647 (an int32), not 2147483648"
