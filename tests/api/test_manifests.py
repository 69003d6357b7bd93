"""Every example manifest goes through the api, and applying it again changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitkube.api import LocalClient
from gitkube.store import open_store

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def _documents() -> list[dict[str, Any]]:
    yaml = YAML(typ="safe")
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs.extend(d for d in yaml.load_all(path.read_text()) if d)
    return docs


@pytest.mark.parametrize("doc", _documents(),
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_creates_and_reapplies_without_a_write(doc: dict[str, Any]) -> None:
    client = LocalClient(open_store("memory://"))
    namespace = doc["metadata"].get("namespace")
    if namespace:
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    created = client.create(doc)
    again = client.update(doc)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert again == created
