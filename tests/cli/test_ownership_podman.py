"""gitkube apply --wait, embedded on real Podman, as the field manager ``gitkube``: an
autoscaler's replicas is not drift while git does not set it, and is a conflict named by its
owner once git does (docs/PLAN.md, "Field ownership")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitkube.cli.connect import client_for
from tests.cli.test_delete_podman import _deployment, embedded, run  # noqa: F401 (fixture)

pytestmark = pytest.mark.podman


def test_apply_wait_records_gitkube_and_yields_replicas(embedded: str,  # noqa: F811
                                                        tmp_path: Path) -> None:
    ns = embedded
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "ns.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")
    web = root / "web.yaml"
    web.write_text(_deployment("web", ns).replace("  replicas: 1\n", ""))
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0 and "Converged: 2/2 objects ready" in out, out
    client = client_for(None)
    obj = client.get("apps/v1", "Deployment", ns, "web")
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["gitkube"]

    client.update_scale("apps/v1", "Deployment", ns, "web", 2, field_manager="hpa-controller")
    code, out = run("plan", str(root), "--detailed-exitcode")
    assert code == 0 and "No changes" in out, out

    # git now says replicas: 1 — the value gitkube last applied (the default), so drift
    web.write_text(_deployment("web", ns))
    code, out = run("plan", str(root), "-o", "json")
    (change,) = json.loads(out)["changes"]
    assert change["fields"] == [{"path": "spec.replicas", "op": "replace", "before": 2,
                                 "after": 1, "drift": True, "owner": "hpa-controller"}]
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0 and "Converged" in out, out
    obj = client.get("apps/v1", "Deployment", ns, "web")
    assert obj["spec"]["replicas"] == 1
    owners = {e["manager"] for e in obj["metadata"]["managedFields"]
              if "f:replicas" in (e["fieldsV1"].get("f:spec") or {})}
    assert owners == {"gitkube"}
    code, out = run("delete", f"namespace/{ns}")
    assert code == 0, out
