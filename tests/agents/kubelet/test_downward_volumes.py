"""downwardAPI and projected volumes: files and refusals (pure; Podman: test_kubelet_podman)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.kubelet.volumes import ContainerConfigError, prepare_volumes


def pod_with(volume: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                         "annotations": {"b": "2", "a": "1"}},
            "spec": {"containers": [{"name": "main", "resources": {
                "requests": {"cpu": "250m"}}}], "volumes": [{"name": "v", **volume}]}}


def test_files_modes_and_stale_files_removed(tmp_path: Path) -> None:
    items = [{"path": "meta/annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
             {"path": "cpu", "mode": 0o600, "resourceFieldRef": {
                 "containerName": "main", "resource": "requests.cpu", "divisor": "1m"}}]
    pod = pod_with({"downwardAPI": {"items": items, "defaultMode": 0o444}})
    path = prepare_volumes(pod, tmp_path, lambda *a: None)["v"]
    assert (path / "meta" / "annotations").read_text() == 'a="1"\nb="2"'
    assert (path / "meta" / "annotations").stat().st_mode & 0o777 == 0o444
    assert (path / "cpu").read_text() == "250" and (path / "cpu").stat().st_mode & 0o777 == 0o600
    pod["spec"]["volumes"][0]["downwardAPI"]["items"] = items[1:]
    prepare_volumes(pod, tmp_path, lambda *a: None)
    assert not (path / "meta" / "annotations").exists()


@pytest.mark.parametrize(("volume", "error"), [
    ({"downwardAPI": {"items": [{"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}}]}},
     "metadata fields only"),
    ({"downwardAPI": {"items": [{"path": "../x", "fieldRef": {
        "fieldPath": "metadata.name"}}]}}, "must be relative"),
    ({"downwardAPI": {"items": [{"path": "m", "resourceFieldRef": {
        "resource": "limits.memory"}}]}}, "needs containerName"),
    ({"projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
     "not supported"),
    ({"projected": {"sources": [{"configMap": {"name": "missing"}}]}},
     'configmap "missing" not found'),
])
def test_what_cannot_be_projected_is_a_config_error(tmp_path: Path, volume: dict[str, Any],
                                                    error: str) -> None:
    with pytest.raises(ContainerConfigError) as info:
        prepare_volumes(pod_with(volume), tmp_path, lambda *a: None)
    assert error in info.value.message
