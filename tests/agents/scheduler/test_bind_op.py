"""BindOp: bindings batched in one api transaction, all or nothing (the scheduler's write)."""

from __future__ import annotations

import pytest

from gitkube.api import BindOp, LocalClient
from gitkube.errors import Conflict
from gitkube.store import open_store


def _pod(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "pause:3"}]}}


def test_bind_ops_in_one_transaction_set_node_and_condition() -> None:
    client = LocalClient(open_store("memory://"))
    a, b = client.create(_pod("a")), client.create(_pod("b"))
    result = client.transaction([BindOp("default", "a", "n1", a["metadata"]["uid"]),
                                 BindOp("default", "b", "n2", b["metadata"]["uid"])])
    assert [r["spec"]["nodeName"] for r in result.results if r] == ["n1", "n2"]
    got = client.get("v1", "Pod", "default", "b")
    assert got["spec"]["nodeName"] == "n2"
    assert got["metadata"]["resourceVersion"] == str(result.revision)
    assert [c["type"] for c in got["status"]["conditions"]] == ["PodScheduled"]


def test_a_failing_bind_op_writes_nothing() -> None:
    client = LocalClient(open_store("memory://"))
    client.create(_pod("a"))
    client.create(_pod("b"))
    client.bind("default", "b", "n9")
    with pytest.raises(Conflict, match="op 1 \\(bind Pod default/b to n2\\)"):
        client.transaction([BindOp("default", "a", "n1"), BindOp("default", "b", "n2")])
    assert "nodeName" not in client.get("v1", "Pod", "default", "a")["spec"]
