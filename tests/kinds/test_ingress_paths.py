"""Ingress and IngressClass (stored, validated, served and listed; gitkube routes nothing)
on both paths, with published manifests unchanged: the documentation's minimal Ingress,
and ingress-nginx's install manifest (its IngressClass, and its admission Jobs with
``ttlSecondsAfterFinished``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from gitkube.schema import check_object
from tests.daemon.daemon_env import RunningDaemon
from tests.kinds.kube import Kubectl, run

UPSTREAM = Path(__file__).parent.parent / "data" / "upstream"
INGRESS = UPSTREAM / "k8s-website-ingress" / "minimal-ingress.yaml"
NGINX = UPSTREAM / "ingress-nginx" / "deploy.yaml"

CLASS = """\
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx-example
spec:
  controller: k8s.io/ingress-nginx
"""


def nginx_documents(kind: str) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(NGINX.read_text())
            if isinstance(d, dict) and d.get("kind") == kind]


def test_ingress_nginx_class_and_ttl_jobs_are_accepted() -> None:
    (ingress_class,) = nginx_documents("IngressClass")
    assert check_object(ingress_class) == []
    jobs = nginx_documents("Job")
    assert len(jobs) == 2 and all(j["spec"]["ttlSecondsAfterFinished"] == 0 for j in jobs)
    for job in jobs:
        # the one thing gitkube still refuses there is the service account token mount
        assert [i.dotted for i in check_object(job)] == [
            "spec.template.spec.automountServiceAccountToken"]


def test_embedded_validate_plan_apply_get(tmp_path: Path, _isolated_state_dir: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    shutil.copy(INGRESS, root / INGRESS.name)
    (root / "class.yaml").write_text(CLASS)
    assert run("validate", str(root))[0] == 0
    code, out = run("plan", str(root))
    assert code == 0 and "minimal-ingress" in out and "nginx-example" in out, out
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "60")
    assert code == 0, out
    code, out = run("get", "ingress")
    assert out.splitlines()[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert out.splitlines()[1].split()[:4] == ["minimal-ingress", "nginx-example", "*", "80"]
    code, out = run("get", "ingressclasses")
    assert out.splitlines()[1].split()[:3] == ["nginx-example", "k8s.io/ingress-nginx",
                                               "<none>"]


def test_bad_ingress_is_one_line_at_its_place(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "ing.yaml").write_text(INGRESS.read_text().replace("path: /testpath",
                                                               "path: testpath"))
    code, out = run("validate", str(root))
    assert code == 1
    assert 'ing.yaml:10:9: Ingress/minimal-ingress: invalid path "testpath": must be an ' \
        "absolute path" in out, out
    assert 'hint: write "/testpath"' in out


def test_kubectl_ingress(daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = Kubectl(daemon, tmp_path)
    kubectl.ok("apply", "-f", str(INGRESS))
    kubectl.ok("apply", "-f", "-", stdin=CLASS)
    out = kubectl.ok("get", "ingress")
    assert out.splitlines()[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert out.splitlines()[1].split()[:4] == ["minimal-ingress", "nginx-example", "*", "80"]
    ing = json.loads(kubectl.ok("get", "ing", "minimal-ingress", "-o", "json"))
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "test"
    assert "nginx-example" in kubectl.ok("get", "ingressclass")
    bad = kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "bad"},
        "spec": {}}))
    assert bad.returncode != 0 and "either `defaultBackend` or `rules` must be specified" \
        in bad.stderr
    kubectl.ok("delete", "ingress", "minimal-ingress")
    # kubectl's generator sends protobuf
    out = kubectl.ok("create", "ingress", "simple", "--class=nginx-example",
                     "--rule=foo.com/bar*=svc1:8080,tls=my-cert")
    assert "ingress.networking.k8s.io/simple created" in out
    ing = json.loads(kubectl.ok("get", "ing", "simple", "-o", "json"))
    assert ing["spec"]["rules"][0]["host"] == "foo.com"
    path = ing["spec"]["rules"][0]["http"]["paths"][0]
    assert (path["path"], path["pathType"]) == ("/bar", "Prefix")
    assert path["backend"]["service"] == {"name": "svc1", "port": {"number": 8080}}
    assert ing["spec"]["tls"] == [{"hosts": ["foo.com"], "secretName": "my-cert"}]
    assert "80, 443" in kubectl.ok("get", "ing", "simple").splitlines()[1]
