"""A Deployment rolled back to a template that differs from an earlier revision's only by
empty fields reuses that revision's ReplicaSet, through kubectl as on Kubernetes."""

from __future__ import annotations

from pathlib import Path

from tests.daemon.daemon_env import RunningDaemon
from tests.surface.kubectl_daemon import kubectl_for

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: main
        image: "localhost/api:IMAGE"
"""


def test_rollback_with_empty_resources_reuses_the_replicaset(shared_daemon: RunningDaemon,
                                                             tmp_path: Path) -> None:
    kubectl = kubectl_for(shared_daemon, tmp_path)
    kubectl.run("apply", "-f", "-", stdin=DEPLOYMENT.replace("IMAGE", "1"))
    kubectl.run("rollout", "status", "deploy/api", "--timeout=60s")
    kubectl.run("apply", "-f", "-", stdin=DEPLOYMENT.replace("IMAGE", "2"))
    kubectl.run("rollout", "status", "deploy/api", "--timeout=60s")
    first = DEPLOYMENT.replace("IMAGE", "1") + "        resources: {}\n        env: []\n"
    kubectl.run("apply", "-f", "-", stdin=first)
    kubectl.run("rollout", "status", "deploy/api", "--timeout=60s")
    names = kubectl.run("get", "rs", "-l", "app=api", "-o", "name").stdout.split()
    assert len(names) == 2, names  # revision 1's ReplicaSet came back, no third one
    revisions = kubectl.run("get", "rs", "-l", "app=api", "-o", "jsonpath={.items[*].metadata"
                            ".annotations.deployment\\.kubernetes\\.io/revision}").stdout
    assert sorted(revisions.split()) == ["2", "3"]
