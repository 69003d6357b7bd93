"""Immutable ConfigMaps and Secrets keep their data, through the api and through apply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitkube.api.local import LocalClient
from gitkube.errors import Invalid
from gitkube.store import open_store


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_data_of_an_immutable_object_cannot_change(kind: str) -> None:
    client = LocalClient(open_store("memory://"))
    obj = client.create({"apiVersion": "v1", "kind": kind, "immutable": True,
                         "metadata": {"name": "conf", "namespace": "default"},
                         "data": {"a": "YQ=="}})
    changed = {**obj, "data": {"a": "Yg=="}}
    with pytest.raises(Invalid) as info:
        client.update(changed)
    assert info.value.message == (f'{kind} "conf" is invalid: data: Forbidden: field is '
                                  "immutable when `immutable` is set")
    with pytest.raises(Invalid, match="immutable: Forbidden"):
        client.update({**obj, "immutable": False})
    labelled = client.update({**obj, "metadata": {**obj["metadata"], "labels": {"x": "y"}}})
    assert labelled["metadata"]["labels"] == {"x": "y"}  # metadata may still change
    client.delete("v1", kind, "default", "conf")  # and it may be deleted (then recreated)
    mutable = client.create({"apiVersion": "v1", "kind": kind,
                             "metadata": {"name": "conf", "namespace": "default"},
                             "data": {"a": "YQ=="}})
    assert client.update({**mutable, "data": {"a": "Yg=="}})["data"] == {"a": "Yg=="}


def test_apply_of_a_changed_immutable_configmap_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    src = tmp_path / "m"
    src.mkdir()
    manifest = src / "cm.yaml"

    def apply(data: str) -> subprocess.CompletedProcess[str]:
        manifest.write_text("apiVersion: v1\nkind: ConfigMap\nimmutable: true\nmetadata:\n"
                            "  name: conf\n  namespace: default\n"
                            f"data:\n  key: {data}\n---\napiVersion: v1\nkind: ConfigMap\n"
                            f"metadata:\n  name: other\n  namespace: default\n"
                            f"data:\n  key: {data}\n")
        return subprocess.run([sys.executable, "-m", "gitkube.cli.main", "apply", "--yes",
                               "--no-wait", str(src), "--store", url],
                              capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin",
                                   "GITKUBE_STATE_DIR": str(tmp_path / "state")})

    assert apply("one").returncode == 0
    second = apply("two")
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert 'ConfigMap "conf" is invalid: data: Forbidden: field is immutable' in second.stderr
    assert "give the changed one a new name in git" in second.stderr
    client = LocalClient(open_store(url))
    # one transaction: the other ConfigMap was not changed either
    assert client.get("v1", "ConfigMap", "default", "other")["data"] == {"key": "one"}
    assert client.get("v1", "ConfigMap", "default", "conf")["data"] == {"key": "one"}
