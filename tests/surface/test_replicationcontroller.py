"""ReplicationControllers served as a kind: stored, listed, scaled and run like ReplicaSets
with a map selector; kubectl apply --prune -l without an allowlist and cluster-info dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitkube.api.local import LocalClient
from gitkube.store import open_store
from tests.daemon.daemon_env import RunningDaemon
from tests.surface.embedded import Embedded
from tests.surface.kubectl_daemon import kubectl_for, wait_until

RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {name: old, labels: {app: x}}
spec:
  replicas: 2
  selector: {app: old}
  template:
    metadata: {labels: {app: old}}
    spec:
      containers: [{name: c, image: "localhost/old:1"}]
"""
CM = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, labels: {app: x}}
data: {a: b}
"""


def test_defaults_from_the_template() -> None:
    client = LocalClient(open_store("memory://"))
    rc = client.create({"apiVersion": "v1", "kind": "ReplicationController",
                        "metadata": {"name": "r"},
                        "spec": {"template": {"metadata": {"labels": {"app": "r"}},
                                              "spec": {"containers": [
                                                  {"name": "c", "image": "localhost/r:1"}]}}}})
    assert rc["spec"]["selector"] == {"app": "r"} and rc["spec"]["replicas"] == 1
    assert rc["metadata"]["labels"] == {"app": "r"}
    assert rc["status"] == {"replicas": 0}


def test_embedded_replicationcontroller(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    env = Embedded(tmp_path, monkeypatch)
    env.write(RC)
    assert env.run("validate", str(env.root))[0] == 0
    env.apply()
    rc = env.client.get("v1", "ReplicationController", "default", "old")
    env.converge([rc], until=lambda: env.client.get(
        "v1", "ReplicationController", "default", "old")["status"].get("readyReplicas") == 2)
    pods = env.client.list("v1", "Pod", "default", label_selector="app=old").items
    assert len(pods) == 2
    assert {p["metadata"]["ownerReferences"][0]["kind"] for p in pods} == \
        {"ReplicationController"}
    code, out = env.run("get", "rc")
    assert code == 0 and out.splitlines()[1].split()[:4] == ["old", "2", "2", "2"], out
    code, out = env.run("plan", str(env.root))
    assert code == 0 and "No changes" in out, out


def test_kubectl_scale_prune_and_dump(shared_daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = kubectl_for(shared_daemon, tmp_path)
    kubectl.run("apply", "-f", "-", stdin=RC + "---\n" + CM)

    def ready() -> str:
        return kubectl.run("get", "rc", "old", "-o", "jsonpath={.status.readyReplicas}").stdout

    assert wait_until(lambda: ready() == "2")
    kubectl.run("scale", "rc/old", "--replicas=3")
    assert wait_until(lambda: ready() == "3")
    dump = tmp_path / "dump"
    kubectl.run("cluster-info", "dump", "--output-directory", str(dump))
    listed = json.loads((dump / "default" / "replication-controllers.json").read_text())
    assert [i["metadata"]["name"] for i in listed["items"]] == ["old"]
    assert len(list((dump / "default").glob("old-*/logs.txt"))) == 3
    # every namespace: the daemon holds the system Namespaces as objects, as upstream
    everywhere = tmp_path / "dump-all"
    kubectl.run("cluster-info", "dump", "--all-namespaces", "--output-directory",
                str(everywhere))
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= {
        p.name for p in everywhere.iterdir() if p.is_dir()}
    assert len(list((everywhere / "default").glob("old-*/logs.txt"))) == 3
    # no --prune-allowlist: kubectl lists every kind of its default allowlist
    (tmp_path / "cm.yaml").write_text(CM)
    pruned = kubectl.run("apply", "--prune", "-l", "app=x", "-f", str(tmp_path / "cm.yaml"))
    assert "replicationcontroller/old pruned" in pruned.stdout
    assert wait_until(lambda: kubectl.run("get", "pods", "-l", "app=old", "-o", "name"
                                          ).stdout.strip() == "")
    assert kubectl.run("get", "cronjobs,ingresses,pv").stdout.strip() == ""
