"""gitkube's apply as the field manager ``gitkube``, embedded and through a daemon: what
another manager owns and git does not set is not drift; once git sets it, the plan names
the owner and apply takes it back (docs/PLAN.md, "Field ownership")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.cli.connect import client_for, daemon_for
from tests.daemon.daemon_env import RunningDaemon, start_daemon
from tests.daemon.test_cli_both_ways import run

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
REPLICAS  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: localhost/web:1
        imagePullPolicy: Never
"""


@pytest.fixture(params=["embedded", "daemon"])
def mode(request: pytest.FixtureRequest, _isolated_state_dir: Path) -> Iterator[str]:
    if request.param == "embedded":
        yield "embedded"
        return
    running: RunningDaemon = start_daemon(_isolated_state_dir)
    try:
        yield "daemon"
    finally:
        running.stop()


def write(root: Path, replicas: int | None) -> None:
    root.mkdir(exist_ok=True)
    (root / "web.yaml").write_text(WEB.replace(
        "REPLICAS", f"  replicas: {replicas}\n" if replicas is not None else ""))


def live() -> dict[str, Any]:
    return client_for(None).get("apps/v1", "Deployment", "default", "web")


def owners_of_replicas(obj: dict[str, Any]) -> set[str]:
    return {e["manager"] for e in obj["metadata"].get("managedFields") or []
            if "f:replicas" in (e["fieldsV1"].get("f:spec") or {})}


def test_other_managers_fields_are_not_drift_until_git_sets_them(mode: str,
                                                                 tmp_path: Path) -> None:
    assert (daemon_for(None) is not None) == (mode == "daemon")
    root = tmp_path / "manifests"
    write(root, None)
    code, out = run("apply", str(root), "--yes", "--no-wait")
    assert code == 0, out
    assert {e["manager"] for e in live()["metadata"]["managedFields"]} == {"gitkube"}

    # an autoscaler scales it, a controller labels it: neither is git's business
    client = client_for(None)
    client.update_scale("apps/v1", "Deployment", "default", "web", 4,
                        field_manager="hpa-controller")
    client.patch("apps/v1", "Deployment", "default", "web",
                 {"metadata": {"labels": {"team": "ops"}}}, "merge", field_manager="labeller")
    assert owners_of_replicas(live()) == {"hpa-controller"}
    code, out = run("plan", str(root), "--detailed-exitcode")
    assert code == 0 and "No changes" in out, out

    # git starts setting replicas: a conflict, and the plan says with whom
    write(root, 2)
    code, out = run("plan", str(root), "-o", "json")
    assert code == 0, out
    (change,) = json.loads(out)["changes"]
    (field,) = change["fields"]
    assert field == {"path": "spec.replicas", "op": "replace", "before": 4, "after": 2,
                     "drift": False, "owner": "hpa-controller"}
    code, out = run("plan", str(root))
    assert 'spec.replicas: 4 -> 2  # conflict: owned by "hpa-controller"' in out, out
    code, out = run("apply", str(root), "--yes", "--no-wait")
    assert code == 0, out
    after = live()
    assert after["spec"]["replicas"] == 2 and after["metadata"]["labels"]["team"] == "ops"
    assert owners_of_replicas(after) == {"gitkube"}

    # scaled by hand while git sets it: drift, with its owner
    code, out = run("scale", "deploy/web", "--replicas", "5")
    assert code == 0, out
    code, out = run("plan", str(root))
    assert ('spec.replicas: 5 -> 2  # drift: changed outside git by "gitkube-scale"'
            in out), out
