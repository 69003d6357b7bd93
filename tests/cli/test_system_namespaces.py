"""Trees that put objects in kube-system, kube-public and kube-node-lease without declaring
those Namespaces validate, plan and apply, as they do against a real cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cliapp import app

# As metrics-server, kube-state-metrics and most add-ons ship: straight into kube-system.
ADDON = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: metrics-server
  namespace: kube-system
---
apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
spec:
  selector: {k8s-app: metrics-server}
  ports: [{name: https, port: 443, targetPort: 10250}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: metrics-server
  namespace: kube-system
spec:
  selector: {matchLabels: {k8s-app: metrics-server}}
  template:
    metadata: {labels: {k8s-app: metrics-server}}
    spec:
      serviceAccountName: metrics-server
      containers:
      - name: metrics-server
        image: localhost/metrics-server:1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-info
  namespace: kube-public
data: {greeting: hello}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: lease-writer
  namespace: kube-node-lease
"""


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GITKUBE_STORE", f"sqlite:///{tmp_path / 'state.db'}")
    root = tmp_path / "addon"
    root.mkdir()
    (root / "addon.yaml").write_text(ADDON)
    return root


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_system_namespaces_need_no_namespace_object(tree: Path) -> None:
    assert run("validate", str(tree)) == (0, "valid: 1 file, 5 documents\n")
    code, out = run("apply", str(tree), "--yes", "--no-wait")
    assert code == 0, out
    assert "Apply complete! Objects: 5 added, 0 changed, 0 destroyed." in out
    code, out = run("get", "deploy,svc,sa", "-n", "kube-system")
    assert code == 0, out
    assert "deployment.apps/metrics-server" in out and "service/metrics-server" in out
    assert run("get", "cm", "cluster-info", "-n", "kube-public")[0] == 0
    assert run("get", "sa", "lease-writer", "-n", "kube-node-lease")[0] == 0
    code, out = run("plan", str(tree), "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes. Live state matches git (5 objects).")


def test_a_misspelt_system_namespace_is_caught_with_its_fix(tree: Path) -> None:
    (tree / "addon.yaml").write_text(ADDON.replace("kube-public", "kube-pubic"))
    code, out = run("validate", str(tree))
    assert code == 1
    assert 'namespace "kube-pubic" is not defined\n  hint: did you mean kube-public?' in out
