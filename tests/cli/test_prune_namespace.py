"""A Namespace pruned by a plain apply (no agents) stays Terminating, with this source's
objects in it gone; when the agents run (here on the simulated runtime) the namespace
controller purges the rest and the Namespace goes; plan meanwhile shows nothing odd."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.agents.compose import AgentSet
from gitkube.agents.converge import Deleted, PlainProgress, converge, report
from gitkube.api.local import LocalClient
from gitkube.model import kinds
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.settings import Settings
from gitkube.store import open_store
from tests.cliapp import app

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {colour: blue}
"""


def test_pruned_namespace_is_terminating_until_the_agents_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GITKUBE_STORE", url)
    monkeypatch.setenv("GITKUBE_NO_DAEMON", "1")
    root = tmp_path / "m"
    root.mkdir()
    (root / "all.yaml").write_text(MANIFEST)
    runner = CliRunner()
    assert runner.invoke(app, ["apply", str(root), "--yes", "--no-wait"]).exit_code == 0
    client = LocalClient(open_store(url))
    # something a controller made inside (it does not keep the Namespace from being pruned)
    client.create({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "made", "namespace": "shop", "ownerReferences": [
                       {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
                        "uid": "u-1", "controller": True}]},
                   "spec": {"containers": [{"name": "c", "image": "localhost/x:1"}]}})
    (root / "all.yaml").write_text("")
    out = runner.invoke(app, ["apply", str(root), "--yes", "--no-wait", "--allow-empty"])
    assert out.exit_code == 0 and "deleted with Namespace shop" in out.output, out.output
    ns = client.get("v1", "Namespace", None, "shop")
    assert ns["status"]["phase"] == "Terminating"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert [p["metadata"]["name"] for p in client.list("v1", "Pod", "shop").items] == ["made"]
    assert client.list("v1", "ConfigMap", "shop").items == []  # deleted by apply itself
    plan = runner.invoke(app, ["plan", str(root)])
    assert "No changes" in plan.output and "git holds no objects" not in plan.output, \
        plan.output
    settings = dataclasses.replace(Settings.from_env(os.environ), node_name=socket.gethostname())
    result = converge(client, [], gone=[Deleted.of(ns)], timeout=30,
                      on_progress=PlainProgress(io.StringIO()),
                      agents=AgentSet(client, settings, SimulatedRuntime()))
    assert result.ok, report(result)
    assert [o for rt in kinds.RESOURCES if rt.namespaced
            for o in client.list(rt.api_version, rt.kind, "shop").items] == []
