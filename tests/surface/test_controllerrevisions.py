"""ControllerRevisions for StatefulSets and DaemonSets: the history decision, the embedded
path, and kubectl rollout history/undo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.controllers.history import plan_history, revision_data
from tests.daemon.daemon_env import RunningDaemon
from tests.surface.embedded import Embedded
from tests.surface.kubectl_daemon import kubectl_for, wait_until

Obj = dict[str, Any]

MANIFESTS = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: main, image: "localhost/db:1"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: main, image: "localhost/agent:1"}]
"""

OWNER: Obj = {"apiVersion": "apps/v1", "kind": "StatefulSet",
              "metadata": {"name": "db", "namespace": "default", "uid": "u-1"},
              "spec": {"revisionHistoryLimit": 2, "template": {
                  "metadata": {"labels": {"app": "db"}},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def _rev(name: str, number: int) -> Obj:
    return {"metadata": {"name": name, "uid": f"u-{name}"}, "revision": number}


def test_history_plan() -> None:
    first = plan_history(OWNER, [], "db-a", "a", keep=())
    assert first.create is not None and first.create["revision"] == 1
    assert first.create["metadata"]["labels"] == {"app": "db",
                                                  "controller.kubernetes.io/hash": "a"}
    assert first.create["data"] == revision_data(OWNER)
    assert first.create["data"]["spec"]["template"]["$patch"] == "replace"
    assert first.create["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    same = plan_history(OWNER, [_rev("db-a", 1)], "db-a", "a", keep=())
    assert same.create is None and same.renumber is None and same.delete == []
    # back to an earlier template: that revision becomes the newest, no new one
    back = plan_history(OWNER, [_rev("db-a", 1), _rev("db-b", 2)], "db-a", "a", keep=())
    assert back.create is None and back.renumber is not None
    assert back.renumber["revision"] == 3
    # over the limit: the oldest go, never the ones in use
    many = [_rev("db-a", 1), _rev("db-b", 2), _rev("db-c", 3), _rev("db-d", 4)]
    trimmed = plan_history(OWNER, many, "db-e", "e", keep={"db-a"})
    assert trimmed.create is not None and trimmed.create["revision"] == 5
    assert [r["metadata"]["name"] for r in trimmed.delete] == ["db-b"]


def test_embedded_revisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = Embedded(tmp_path, monkeypatch)
    env.write(MANIFESTS)
    assert env.run("validate", str(env.root))[0] == 0
    env.apply()
    sts = env.client.get("apps/v1", "StatefulSet", "default", "db")
    ds = env.client.get("apps/v1", "DaemonSet", "default", "agent")
    env.converge([sts, ds])
    sts = env.client.get("apps/v1", "StatefulSet", "default", "db")
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    revisions = {r["metadata"]["name"]: r for r in env.client.list(
        "apps/v1", "ControllerRevision", "default").items}
    assert sts["status"]["updateRevision"] in revisions
    pods = env.client.list("v1", "Pod", "default", label_selector="app=agent").items
    assert f"agent-{pods[0]['metadata']['labels']['controller-revision-hash']}" in revisions
    code, out = env.run("get", "controllerrevisions")
    assert code == 0, out
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert sorted(r[1:3] for r in rows[1:]) == [["daemonset.apps/agent", "1"],
                                                 ["statefulset.apps/db", "1"]]
    code, out = env.run("plan", str(env.root))
    assert code == 0 and "No changes" in out, out


def test_kubectl_rollout_undo_sts_and_ds(shared_daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = kubectl_for(shared_daemon, tmp_path)
    kubectl.run("apply", "-f", "-", stdin=MANIFESTS)
    for ref, container, image in (("sts/db", "main", "localhost/db:"),
                                  ("ds/agent", "main", "localhost/agent:")):
        kubectl.run("rollout", "status", ref, "--timeout=60s")
        kubectl.run("set", "image", ref, f"{container}={image}2")
        kubectl.run("rollout", "status", ref, "--timeout=60s")
        history = kubectl.run("rollout", "history", ref).stdout.split()
        assert history[-4:] == ["1", "<none>", "2", "<none>"], history
        shown = kubectl.run("rollout", "history", ref, "--revision=1").stdout
        assert f"{image}1" in shown
        kubectl.run("rollout", "undo", ref)
        kubectl.run("rollout", "status", ref, "--timeout=60s")
        assert kubectl.run("get", ref, "-o", "jsonpath={.spec.template.spec.containers[0].image}"
                           ).stdout == f"{image}1"
        history = kubectl.run("rollout", "history", ref).stdout.split()
        assert history[-4:] == ["2", "<none>", "3", "<none>"], history  # 1 renumbered
    def revisions() -> list[str]:
        return kubectl.run("get", "sts", "db", "-o", "jsonpath={.status.currentRevision} "
                           "{.status.updateRevision}").stdout.split()

    assert wait_until(lambda: len(set(revisions())) == 1)  # current == update once done
    update = revisions()[1]
    assert wait_until(lambda: kubectl.run(
        "get", "pods", "-l", f"controller-revision-hash={update}", "-o", "name"
    ).stdout.count("pod/") == 2)
