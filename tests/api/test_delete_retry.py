"""delete() without a resourceVersion precondition survives a concurrent write."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from gitkube.api import LocalClient
from gitkube.errors import Conflict, NotFound
from gitkube.store import open_store


def _racing_client(tmp_path: Path, races: int) -> tuple[LocalClient, list[int]]:
    """A client whose store sees another writer touch the object before each of the first
    ``races`` transactions commit."""
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    client = LocalClient(store)
    client.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "namespace": "default"}, "data": {"n": "0"}})
    real_txn = store.txn
    count = [0]

    def txn(ops: Any) -> int:
        if count[0] < races:
            count[0] += 1
            other = LocalClient(store)
            cm = other.get("v1", "ConfigMap", "default", "cm")
            cm["data"] = {"n": str(count[0])}
            other.update(cm)
        return real_txn(ops)

    mock.patch.object(store, "txn", txn).start()  # this store only, for its life
    return client, count


def test_delete_retries_after_a_concurrent_write(tmp_path: Path) -> None:
    client, count = _racing_client(tmp_path, races=2)
    client.delete("v1", "ConfigMap", "default", "cm")
    assert count[0] == 2
    with pytest.raises(NotFound):
        client.get("v1", "ConfigMap", "default", "cm")


def test_delete_with_resource_version_precondition_still_conflicts(tmp_path: Path) -> None:
    client, _ = _racing_client(tmp_path, races=1)
    rv = client.get("v1", "ConfigMap", "default", "cm")["metadata"]["resourceVersion"]
    with pytest.raises(Conflict):
        client.delete("v1", "ConfigMap", "default", "cm", resource_version=rv)
