"""`gitkube plan|apply|history|rollback` end to end: real SQLite stores, real git repositories."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from gitkube.api.local import LocalClient
from gitkube.errors import GitkubeError
from gitkube.model import kinds
from gitkube.store import open_store
from tests.cliapp import app

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"


# what agents report, per kind
STATUS = {
    "Namespace": {"phase": "Active"},
    "Deployment": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 1},
    "StatefulSet": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1},
    "DaemonSet": {"currentNumberScheduled": 1, "numberMisscheduled": 0,
                  "desiredNumberScheduled": 1, "numberReady": 1},
    "Job": {"active": 1},
    "Service": {"loadBalancer": {}},
}


class Result:
    def __init__(self, code: int, out: str):
        self.code = code
        self.out = out


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(tmp_path / "state"))
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("GITKUBE_STORE", url)
    monkeypatch.setenv("GITKUBE_AUTHOR", "tester")
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield url


def run(*args: str) -> Result:
    """The CLI in-process, with main()'s error mapping."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    out = result.output
    if isinstance(result.exception, GitkubeError):
        return Result(result.exception.exit_code, out + "error: " + result.exception.render())
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, out)


def client(url: str) -> LocalClient:
    return LocalClient(open_store(url))


def make_repo(path: Path) -> git.Repo:
    shutil.copytree(MANIFESTS, path / "manifests")
    repo = git.Repo.init(path)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Test")
        cfg.set_value("user", "email", "test@example.com")
    repo.index.add(["manifests"])
    repo.index.commit("v1")
    return repo


def test_apply_then_plan_shows_no_changes_for_every_kind_even_after_status(env: str) -> None:
    first = run("plan", str(MANIFESTS), "--detailed-exitcode")
    assert first.code == 2, first.out
    assert "Plan: 9 to add, 0 to change, 0 to destroy, 0 drifted." in first.out
    applied = run("apply", str(MANIFESTS), "--yes")
    assert applied.code == 0, applied.out
    assert "Apply complete! Objects: 9 added" in applied.out
    again = run("plan", str(MANIFESTS), "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes. Live state matches git (9 objects)." in again.out

    # agents report status on everything that has a status subresource
    c = client(env)
    written = 0
    for rt in kinds.RESOURCES:
        if "status" not in rt.subresources or not rt.has_schema:
            continue
        for obj in c.list(rt.api_version, rt.kind, "demo").items:
            obj["status"] = STATUS.get(rt.kind, obj.get("status") or {})
            c.update_status(obj)
            written += 1
    assert written >= 6
    after_status = run("plan", str(MANIFESTS), "--detailed-exitcode")
    assert after_status.code == 0, after_status.out


def test_apply_without_terminal_and_without_yes_refuses(env: str) -> None:
    result = run("apply", str(MANIFESTS))
    assert result.code == 1
    assert "no terminal to ask on" in result.out and "--yes" in result.out
    assert client(env).list("v1", "Namespace").items == []


def test_invalid_manifests_write_nothing(env: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
                                 "dta:\n  a: b\n")
    for cmd in ("plan", "apply"):
        result = run(cmd, str(bad), "--yes") if cmd == "apply" else run(cmd, str(bad))
        assert result.code == 1
        assert "cm.yaml:5:1" in result.out and "problem" in result.out
        assert "gitkube will perform" not in result.out
    assert client(env).list("v1", "ConfigMap").items == []


def test_unreachable_store_is_one_clear_line_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gitkube.cli.main", "plan", str(MANIFESTS),
         "--store", "etcd://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "GITKUBE_STATE_DIR": str(tmp_path)},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: etcd://127.0.0.1:1")


def test_drift_is_shown_and_apply_restores_git(env: str) -> None:
    assert run("apply", str(MANIFESTS), "--yes").code == 0
    c = client(env)
    c.patch("apps/v1", "Deployment", "demo", "web", {"spec": {"replicas": 5}})
    result = run("plan", str(MANIFESTS))
    assert "~ spec.replicas: 5 -> 2  # drift" in result.out
    assert "Plan: 0 to add, 1 to change, 0 to destroy, 1 drifted." in result.out
    assert run("apply", str(MANIFESTS), "--yes").code == 0
    assert c.get("apps/v1", "Deployment", "demo", "web")["spec"]["replicas"] == 2


def test_json_output_is_stable_and_masks_secrets(env: str) -> None:
    result = run("plan", str(MANIFESTS), "-o", "json")
    data = json.loads(result.out)
    assert data["formatVersion"] == 1
    assert data["summary"] == {"add": 9, "change": 0, "destroy": 0, "drifted": 0,
                               "unchanged": 0}
    assert data["changes"][0]["object"]["kind"] == "Namespace"
    assert "not-a-real-token" not in result.out


def test_saved_plan_applies_exactly_and_is_refused_when_stale(env: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(MANIFESTS, work)
    out = tmp_path / "plan.json"
    made = run("plan", str(work), "--out", str(out))
    assert made.code == 0 and f"gitkube apply {out}" in made.out
    assert "not-a-real-token" not in out.read_text()
    assert base64.b64encode(b"not-a-real-token").decode() not in out.read_text()
    applied = run("apply", str(out), "--yes")
    assert applied.code == 0, applied.out
    secret = client(env).get("v1", "Secret", "demo", "web-secret")
    assert base64.b64decode(secret["data"]["API_TOKEN"]) == b"not-a-real-token"

    # change git, save a plan, then someone edits the live object: stale
    web = work / "web.yaml"
    web.write_text(web.read_text().replace("replicas: 2", "replicas: 3"))
    assert run("plan", str(work), "--out", str(out)).code == 0
    # a status write alone does not make the plan stale ...
    c = client(env)
    dep = c.get("apps/v1", "Deployment", "demo", "web")
    dep["status"] = {"replicas": 2, "observedGeneration": 1}
    c.update_status(dep)
    # ... but a change to what the plan compared does
    c.patch("v1", "ConfigMap", "demo", "web-config", {"data": {"LOG_LEVEL": "debug"}})
    c.patch("apps/v1", "Deployment", "demo", "web", {"spec": {"minReadySeconds": 5}})
    stale = run("apply", str(out), "--yes")
    assert stale.code == 1
    assert "Saved plan is stale" in stale.out
    assert c.get("apps/v1", "Deployment", "demo", "web")["spec"]["replicas"] == 2


def test_saved_plan_survives_status_writes(env: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(MANIFESTS, work)
    assert run("apply", str(work), "--yes").code == 0
    web = work / "web.yaml"
    web.write_text(web.read_text().replace("replicas: 2", "replicas: 3"))
    out = tmp_path / "plan.json"
    assert run("plan", str(work), "--out", str(out)).code == 0
    c = client(env)
    dep = c.get("apps/v1", "Deployment", "demo", "web")
    dep["status"] = {"replicas": 2, "observedGeneration": 1}
    c.update_status(dep)
    result = run("apply", str(out), "--yes")
    assert result.code == 0, result.out
    assert c.get("apps/v1", "Deployment", "demo", "web")["spec"]["replicas"] == 3


def test_prune_flags_and_empty_set_refusal(env: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(MANIFESTS, work)
    assert run("apply", str(work), "--yes").code == 0
    (work / "jobs.yaml").unlink()
    kept = run("apply", str(work), "--yes", "--no-prune")
    assert "Job demo/migrate: gone from git; pruning is disabled" in kept.out
    c = client(env)
    assert c.get("batch/v1", "Job", "demo", "migrate")
    pruned = run("apply", str(work), "--yes")
    assert "- Job demo/migrate  (gone from git)" in pruned.out
    empty = tmp_path / "empty"
    empty.mkdir()
    # a directory with no manifests is a different source: it owns nothing, nothing happens
    assert "No changes" in run("plan", str(empty)).out
    for f in work.glob("*.yaml"):
        f.unlink()
    refused = run("apply", str(work), "--yes")
    assert refused.code == 1 and "--allow-empty" in refused.out
    assert c.list("v1", "Namespace").items
    allowed = run("apply", str(work), "--yes", "--allow-empty")
    assert allowed.code == 0, allowed.out
    # without the agents (no --wait, no daemon) a deleted Namespace stays Terminating, held by
    # spec.finalizers until the namespace controller runs; this source's objects in it are gone
    assert [(n["metadata"]["name"], n["status"]["phase"])
            for n in c.list("v1", "Namespace").items] == [("demo", "Terminating")]
    assert c.list("apps/v1", "Deployment").items == []
    after = run("plan", str(work)).out  # nothing odd about the Terminating Namespace
    assert "No changes" in after and "git holds no objects" not in after, after


def test_git_revision_history_and_rollback(env: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    manifests = tmp_path / "repo" / "manifests"
    v1 = repo.head.commit.hexsha
    assert run("apply", str(manifests), "--yes").code == 0
    web = manifests / "web.yaml"
    web.write_text(web.read_text().replace("replicas: 2", "replicas: 4"))
    (manifests / "jobs.yaml").unlink()
    repo.index.add(["manifests/web.yaml"])
    repo.index.remove(["manifests/jobs.yaml"])
    v2 = repo.index.commit("v2").hexsha
    assert run("apply", str(manifests), "--yes").code == 0

    listed = run("history")
    assert listed.code == 0
    lines = listed.out.splitlines()
    assert v1[:12] in lines[1] and v2[:12] in lines[2] and "tester" in lines[2]
    entries = json.loads(run("history", "-o", "json").out)
    assert [e["result"] for e in entries] == ["applied", "applied"]
    assert entries[1]["summary"]["destroy"] == 1

    at_v1 = run("plan", str(manifests), "--revision", v1, "--detailed-exitcode")
    assert at_v1.code == 2
    assert "~ spec.replicas: 4 -> 2" in at_v1.out and "+ Job demo/migrate" in at_v1.out

    back = run("rollback", "1", "--yes")
    assert back.code == 0, back.out
    assert back.out.index("Rolling back to") < back.out.index("gitkube will perform")
    c = client(env)
    assert c.get("apps/v1", "Deployment", "demo", "web")["spec"]["replicas"] == 2
    assert c.get("batch/v1", "Job", "demo", "migrate")
    last = json.loads(run("history", "-o", "json").out)[-1]
    assert last["kind"] == "rollback" and last["source"]["commit"] == v1
    assert run("plan", str(manifests), "--revision", v1, "--detailed-exitcode").code == 0
    # and forward again with a git revision
    assert run("rollback", v2, str(manifests), "--yes").code == 0
    assert c.get("apps/v1", "Deployment", "demo", "web")["spec"]["replicas"] == 4
    unknown = run("rollback", "99", "--yes")
    assert unknown.code == 1 and "no history entry 99" in unknown.out


def test_objects_of_another_source_are_never_pruned(env: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\ndata:\n  k: v\n"
    (a / "cm.yaml").write_text(cm.format("from-a"))
    (b / "cm.yaml").write_text(cm.format("from-b"))
    assert run("apply", str(a), "--yes").code == 0
    assert run("apply", str(b), "--yes").code == 0
    (b / "cm.yaml").write_text(cm.format("from-b2"))
    result = run("apply", str(b), "--yes")
    assert "- ConfigMap default/from-b" in result.out and "from-a" not in result.out
    names = {o["metadata"]["name"] for o in client(env).list("v1", "ConfigMap").items}
    assert names == {"from-a", "from-b2"}


def test_caches_never_outlive_a_recreated_store(env: str, tmp_path: Path) -> None:
    assert run("apply", str(MANIFESTS), "--yes").code == 0
    assert run("plan", str(MANIFESTS), "--detailed-exitcode").code == 0  # fills the caches
    for f in tmp_path.glob("state.db*"):
        f.unlink()
    c = client(env)  # a new store: its revisions start over and collide with the old ones
    c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
    result = run("plan", str(MANIFESTS), "--detailed-exitcode")
    assert result.code == 2
    assert "~ Namespace demo  (00-namespace.yaml; not applied by gitkube yet" in result.out
    assert "Plan: 8 to add, 1 to change" in result.out

