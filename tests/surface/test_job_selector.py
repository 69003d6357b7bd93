"""Jobs get upstream's generated selector and pod labels (unless manualSelector), so
``kubectl logs job/X`` finds that Job's pod only and ``describe job`` shows the selector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube.api.local import LocalClient
from gitkube.store import open_store
from tests.daemon.daemon_env import RunningDaemon
from tests.surface.embedded import Embedded
from tests.surface.kubectl_daemon import kubectl_for, wait_until

Obj = dict[str, Any]

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: webmain, image: "localhost/web:1"}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      restartPolicy: Never
      containers: [{name: jobmain, image: "localhost/job:1"}]
"""


def _job(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "localhost/x:1"}]}}, **spec}}


def test_generated_selector_and_labels() -> None:
    client = LocalClient(open_store("memory://"))
    job = client.create(_job("a"))
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "app": "x", "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
        "batch.kubernetes.io/job-name": "a", "job-name": "a"}
    # an update that leaves them out keeps them (a replace of the file as written)
    again = _job("a", parallelism=1)
    again["metadata"]["resourceVersion"] = job["metadata"]["resourceVersion"]
    updated = client.update(again)
    assert updated["spec"]["selector"] == job["spec"]["selector"]
    assert updated["spec"]["template"]["metadata"]["labels"]["controller-uid"] == uid
    manual = client.create(_job("m", manualSelector=True,
                                selector={"matchLabels": {"app": "x"}}))
    assert manual["spec"]["selector"] == {"matchLabels": {"app": "x"}}
    assert manual["spec"]["template"]["metadata"]["labels"] == {"app": "x"}


def test_embedded_job_selector_plan_is_quiet(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    env = Embedded(tmp_path, monkeypatch)
    env.write(MANIFESTS)
    assert env.run("validate", str(env.root))[0] == 0
    env.apply()
    deploy = env.client.get("apps/v1", "Deployment", "default", "web")

    def job_pods() -> list[Obj]:
        return env.client.list("v1", "Pod", "default", label_selector="job-name=once").items

    env.converge([deploy], until=lambda: len(job_pods()) == 1)
    assert job_pods()[0]["spec"]["containers"][0]["name"] == "jobmain"
    code, out = env.run("plan", str(env.root))
    assert code == 0 and "No changes" in out, out  # the generated fields are not drift
    code, out = env.run("get", "jobs")
    assert code == 0 and "once" in out, out


def test_kubectl_logs_job_and_describe(shared_daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = kubectl_for(shared_daemon, tmp_path)
    kubectl.run("apply", "-f", "-", stdin=MANIFESTS)
    assert wait_until(lambda: kubectl.run(
        "get", "pods", "-l", "job-name=once", "-o", "jsonpath={.items[*].status.phase}",
        check=False).stdout in ("Running", "Succeeded"))
    assert wait_until(lambda: kubectl.run(
        "get", "pods", "-l", "app=web", "-o", "name").stdout.count("pod/") == 2)
    logs = kubectl.run("logs", "job/once").stdout
    assert "jobmain" in logs and "webmain" not in logs
    described = kubectl.run("describe", "job", "once").stdout
    selector = next(line for line in described.splitlines() if line.startswith("Selector:"))
    assert "batch.kubernetes.io/controller-uid=" in selector
