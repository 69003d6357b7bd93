"""`gitkube rollout status|history|undo` and `gitkube events` on a real SQLite store, with
the controllers, the scheduler and simulated nodes running in-process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitkube.agents.compose import CONTROLLERS, compose
from gitkube.agents.kubelet.simulate import SimulatedCluster
from gitkube.agents.manager import Manager
from gitkube.api.local import LocalClient
from gitkube.cli import events as events_cli
from gitkube.cli import rollout
from gitkube.errors import Conflict, GitkubeError
from gitkube.model.printers import human_duration
from gitkube.settings import Settings
from gitkube.store import open_store
from tests.cliapp import app

Obj = dict[str, Any]


class Run:
    def __init__(self, code: int, out: str):
        self.code, self.out = code, out


def run(*args: str) -> Run:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if isinstance(result.exception, GitkubeError):
        return Run(result.exception.exit_code, result.output + "error: " +
                   result.exception.render())
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.output)


def eventually(predicate: Callable[[], Any], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(0.02)
    return False


@pytest.fixture()
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalClient]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("GITKUBE_STORE", url)
    store = open_store(url)
    client = LocalClient(store)
    manager = Manager(client)
    compose(manager, Settings.from_env(os.environ), names=(*CONTROLLERS, "scheduler"))
    manager.add(SimulatedCluster(client, nodes=2, heartbeat_interval=1.0, manager=manager))
    manager.start()
    try:
        yield client
    finally:
        manager.stop()
        store.close()


def deployment(image: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def image(client: LocalClient) -> str:
    d = client.get("apps/v1", "Deployment", "default", "web")
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])


def test_status_messages_are_kubectls() -> None:
    d = deployment("x")
    d["metadata"].update(generation=2)
    d["status"] = {"observedGeneration": 1}
    assert rollout.deployment_status(d) == (
        "Waiting for deployment spec update to be observed...", False)
    d["status"] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1}
    assert rollout.deployment_status(d)[0] == (
        'Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been '
        "updated...")
    d["status"].update(updatedReplicas=2)
    assert "1 old replicas are pending termination" in rollout.deployment_status(d)[0]
    d["status"].update(replicas=2, availableReplicas=1)
    assert "1 of 2 updated replicas are available" in rollout.deployment_status(d)[0]
    d["status"].update(availableReplicas=2)
    assert rollout.deployment_status(d) == ('deployment "web" successfully rolled out', True)
    d["status"]["conditions"] = [{"type": "Progressing", "status": "False",
                                  "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(GitkubeError, match="exceeded its progress deadline"):
        rollout.deployment_status(d)


def test_statefulset_and_daemonset_messages() -> None:
    sts: Obj = {"metadata": {"name": "db", "generation": 1},
                "spec": {"replicas": 3},
                "status": {"observedGeneration": 1, "readyReplicas": 1}}
    assert rollout.statefulset_status(sts) == ("Waiting for 2 pods to be ready...", False)
    sts["status"].update(readyReplicas=3, currentReplicas=3, currentRevision="db-a",
                         updateRevision="db-a")
    assert rollout.statefulset_status(sts)[1] is True
    ds: Obj = {"metadata": {"name": "agent", "generation": 2},
               "status": {"observedGeneration": 2, "desiredNumberScheduled": 3,
                          "updatedNumberScheduled": 2, "numberAvailable": 2}}
    assert rollout.daemonset_status(ds)[0] == (
        'Waiting for daemon set "agent" rollout to finish: 2 out of 3 new pods have been '
        "updated...")
    ds["status"].update(updatedNumberScheduled=3, numberAvailable=3)
    assert rollout.daemonset_status(ds) == ('daemon set "agent" successfully rolled out', True)


def test_target_parsing() -> None:
    assert rollout.parse_target("deploy/web")[1] == "web"
    assert rollout.parse_target("deployment.apps", "web")[0].kind == "Deployment"
    with pytest.raises(GitkubeError):
        rollout.parse_target("configmap/x")


def test_status_history_undo(cluster: LocalClient) -> None:
    c = cluster
    c.create(deployment("nginx:1.25"))
    status = run("rollout", "status", "deploy/web", "--timeout", "20")
    assert status.code == 0, status.out
    assert status.out.strip().endswith('deployment "web" successfully rolled out')
    d = c.get("apps/v1", "Deployment", "default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    c.update(d)
    status = run("rollout", "status", "deployment", "web", "--timeout", "20")
    assert status.code == 0, status.out
    history = run("rollout", "history", "deploy/web")
    assert history.code == 0, history.out
    assert history.out.split() == ["deployments.apps/web", "REVISION", "CHANGE-CAUSE",
                                   "1", "<none>", "2", "<none>"]
    shown = run("rollout", "history", "deploy/web", "--revision", "1")
    assert "nginx:1.25" in shown.out

    undone = run("rollout", "undo", "deploy/web")
    assert undone.code == 0 and "deployments.apps/web rolled back" in undone.out
    assert image(c) == "nginx:1.25"
    assert run("rollout", "status", "deploy/web", "--timeout", "20").code == 0
    assert eventually(lambda: run("rollout", "history", "deploy/web").out.split()[3::2]
                      == ["2", "3"])
    rss = rollout.owned_replicasets(c, c.get("apps/v1", "Deployment", "default", "web"))
    assert [(rollout.revision_of(r), r["spec"]["template"]["spec"]["containers"][0]["image"])
            for r in rss] == [(2, "nginx:1.26"), (3, "nginx:1.25")]

    again = run("rollout", "undo", "deploy/web", "--to-revision", "2")
    assert again.code == 0 and image(c) == "nginx:1.26"
    same = run("rollout", "undo", "deploy/web", "--to-revision", "99")
    assert same.code == 1 and "unable to find specified revision 99" in same.out
    assert run("rollout", "status", "deploy/web", "--timeout", "20").code == 0

    # events: what the controllers did, as a table
    assert eventually(lambda: "ScalingReplicaSet" in run("events").out)
    table = run("events")
    assert table.out.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT",
                                                 "MESSAGE"]
    assert "deployment/web" in table.out and "Scaled up replica set web-" in table.out
    only = run("events", "--for", "deploy/web")
    assert "replicaset/" not in only.out and "deployment/web" in only.out
    everywhere = run("events", "-A")
    assert everywhere.out.splitlines()[0].startswith("NAMESPACE")
    assert run("events", "-n", "nowhere").out.strip() == "No events found in nowhere namespace."


def test_pause_and_resume(cluster: LocalClient) -> None:
    c = cluster
    c.create(deployment("nginx:1.25"))
    assert run("rollout", "status", "deploy/web", "--timeout", "20").code == 0
    paused = run("rollout", "pause", "deploy/web")
    assert paused.code == 0 and "deployments.apps/web paused" in paused.out
    assert c.get("apps/v1", "Deployment", "default", "web")["spec"]["paused"] is True
    again = run("rollout", "pause", "deploy/web")
    assert again.code == 1 and 'deployments.apps "web" is already paused' in again.out
    for _ in range(50):  # the controller may write the status meanwhile: read it again
        d = c.get("apps/v1", "Deployment", "default", "web")
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
        try:
            c.update(d)
            break
        except Conflict:
            continue
    assert eventually(lambda: any(
        x.get("reason") == "DeploymentPaused" for x in (c.get(
            "apps/v1", "Deployment", "default", "web").get("status") or {}).get(
            "conditions") or []))
    assert len(rollout.owned_replicasets(c, c.get("apps/v1", "Deployment", "default",
                                                  "web"))) == 1
    resumed = run("rollout", "resume", "deploy/web")
    assert resumed.code == 0 and "deployments.apps/web resumed" in resumed.out
    assert "paused" not in c.get("apps/v1", "Deployment", "default", "web")["spec"]
    assert run("rollout", "status", "deploy/web", "--timeout", "20").code == 0
    assert image(c) == "nginx:1.26"
    not_paused = run("rollout", "resume", "deploy/web")
    assert not_paused.code == 1 and "is not paused" in not_paused.out
    assert run("rollout", "pause", "sts/db").code != 0


def test_status_times_out_without_progress(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'idle.db'}"
    monkeypatch.setenv("GITKUBE_STORE", url)
    LocalClient(open_store(url)).create(deployment("nginx:1"))
    once = run("rollout", "status", "deploy/web", "--no-watch")
    assert once.code == 0
    assert "Waiting for deployment spec update to be observed..." in once.out
    waited = run("rollout", "status", "deploy/web", "--timeout", "0.3")
    assert waited.code == 1 and "timed out waiting for the condition" in waited.out
    missing = run("rollout", "status", "deploy/nope", "--no-watch")
    assert missing.code == 1 and "not found" in missing.out


def test_event_rows_and_ages() -> None:
    assert [human_duration(s) for s in (5, 192, 7500, 3600 * 5 + 300, 86400 * 3)] == [
        "5s", "3m12s", "125m", "5h5m", "3d"]
    ev = {"metadata": {"name": "e", "namespace": "default"}, "type": "Warning",
          "reason": "BackOff", "message": "Back-off\n restarting", "count": 3,
          "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:01:00Z",
          "involvedObject": {"kind": "Pod", "name": "web-1"}}
    rows = events_cli.event_rows([ev], 1704067260.0 + 10, all_namespaces=False)
    assert rows[1] == ["10s (x3 over 60s)", "Warning", "BackOff", "pod/web-1",
                       "Back-off restarting"]
