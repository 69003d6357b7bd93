"""`gitkube repo init` and its hooks, through real `git push`es under `env -i`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.client import Client
from tests.gitops.gitops_env import (
    GITKUBE,
    Clone,
    deployment,
    get_or_none,
    no_lock_files,
    run,
    store_revision,
    wait_for,
)

DeployRepo = Callable[..., tuple[Path, Clone]]


def config(bare: Path, key: str) -> str:
    return subprocess.run(["git", "--git-dir", str(bare), "config", "--get", f"gitkube.{key}"],
                          capture_output=True, text=True).stdout.strip()


def image_of(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.fixture
def agents(client: Client) -> Iterator[None]:
    """The scheduler, controllers and a kubelet on the simulated runtime, in this process,
    on the same store the hooks apply to."""
    import os

    from gitkube.agents.compose import AgentSet
    from gitkube.runtime.simulated import SimulatedRuntime
    from gitkube.settings import Settings

    with AgentSet(client, Settings.from_env(os.environ), SimulatedRuntime()):
        yield


def test_init_writes_config_and_hooks(deploy_repo: DeployRepo, store_url: str) -> None:
    bare, _ = deploy_repo("--branch", "prod", "--path", "k8s/")
    assert config(bare, "branch") == "prod"
    assert config(bare, "path") == "k8s"
    assert config(bare, "store") == store_url
    for name in ("pre-receive", "post-receive"):
        script = (bare / "hooks" / name).read_text()
        assert script.startswith("#!/bin/sh")
        assert f"{GITKUBE} repo hook {name}" in script  # absolute path, captured at init
    # re-configuring keeps what is not given
    run([GITKUBE, "repo", "init", str(bare), "--branch", "main"], bare.parent)
    assert config(bare, "branch") == "main" and config(bare, "path") == "k8s"


def test_init_refuses_foreign_hooks_and_work_trees(tmp_path: Path) -> None:
    bare = tmp_path / "x.git"
    run(["git", "init", "-q", "--bare", str(bare)], tmp_path)
    (bare / "hooks" / "pre-receive").write_text("#!/bin/sh\nexit 0\n")
    proc = run([GITKUBE, "repo", "init", str(bare)], tmp_path, check=False)
    assert proc.returncode == 2 and "was not written by gitkube" in proc.stderr
    run([GITKUBE, "repo", "init", str(bare), "--force"], tmp_path)
    work = tmp_path / "work"
    run(["git", "init", "-q", str(work)], tmp_path)
    proc = run([GITKUBE, "repo", "init", str(work)], tmp_path, check=False)
    assert proc.returncode == 2 and "not a bare git repository" in proc.stderr


def test_push_applies_and_rolls(deploy_repo: DeployRepo, client: Client, agents: None) -> None:
    bare, clone = deploy_repo()
    first = clone.commit({"web.yaml": deployment(replicas=1)}, "web v1")
    push = clone.push("main")
    assert push.returncode == 0, push.stderr
    assert "remote: gitkube: applied" in push.stderr
    assert "create Deployment default/web" in push.stderr
    wait_for(lambda: (get_or_none(client, "Deployment", "web") or {}).get("status", {})
             .get("availableReplicas") == 1, what="v1 available")

    second = clone.commit({"web.yaml": deployment(image="localhost/web:2", replicas=2)},
                          "web v2", author="Bob Builder")
    push = clone.push("main")
    assert push.returncode == 0, push.stderr
    out = push.stderr
    assert f"gitkube: applied {second[:12]}: +0 ~1 -0" in out
    assert 'spec.replicas: 1 -> 2' in out
    assert '"localhost/web:1" -> "localhost/web:2"' in out
    # applied in the store when the push returns
    live = get_or_none(client, "Deployment", "web")
    assert live is not None and image_of(live) == "localhost/web:2"
    assert live["metadata"]["annotations"]["gitkube.io/commit"] == second

    def rolled() -> bool:
        pods = client.list("v1", "Pod", "default").items
        running = [p for p in pods if p["status"].get("phase") == "Running"
                   and p["spec"]["containers"][0]["image"] == "localhost/web:2"
                   and not p["metadata"].get("deletionTimestamp")]
        old = [p for p in pods if p["spec"]["containers"][0]["image"] == "localhost/web:1"]
        return len(running) == 2 and not old

    wait_for(rolled, timeout=30, what="2 pods of web:2 Running and none of web:1")
    history = json.loads(run([GITKUBE, "history", "-o", "json"], bare.parent).stdout)
    assert [(h["source"]["commit"], h["author"]) for h in history] == [
        (first, "Alice Example"), (second, "Bob Builder")]


def test_invalid_push_is_rejected_and_nothing_changes(deploy_repo: DeployRepo,
                                                       client: Client) -> None:
    bare, clone = deploy_repo("--path", "manifests")
    good = clone.commit({"manifests/web.yaml": deployment()})
    assert clone.push("main").returncode == 0
    before = (get_or_none(client, "Deployment", "web") or {})["metadata"]["resourceVersion"]
    clone.commit({"manifests/web.yaml": deployment(replicas="three"),
                  "manifests/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"})
    push = clone.push("main")
    assert push.returncode != 0
    assert "pre-receive hook declined" in push.stderr
    assert "push rejected" in push.stderr
    # every diagnostic, with the path inside the repository, in the pusher's terminal
    assert "manifests/web.yaml:7:" in push.stderr and "manifests/cm.yaml" in push.stderr
    # the objects are untouched (only the rejection is recorded, for `gitkube status`)
    live = get_or_none(client, "Deployment", "web") or {}
    assert live["metadata"]["resourceVersion"] == before
    assert client.list("v1", "ConfigMap", "default").items == []
    assert run(["git", "--git-dir", str(bare), "rev-parse", "main"], bare).stdout.strip() \
        == good
    assert no_lock_files(bare) == []


def test_other_branches_are_validated_only(deploy_repo: DeployRepo, client: Client) -> None:
    _bare, clone = deploy_repo()
    clone.commit({"web.yaml": deployment()})
    assert clone.push("main").returncode == 0
    before = store_revision(client)
    clone.git("checkout", "-q", "-b", "feature")
    clone.commit({"web.yaml": deployment(replicas=5)})
    push = clone.push("feature")
    assert push.returncode == 0, push.stderr
    assert "feature is not deployed (only main is); nothing applied" in push.stderr
    assert store_revision(client) == before
    assert (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"] == 2
    clone.commit({"web.yaml": deployment(replicas="many")})
    push = clone.push("feature")
    assert push.returncode != 0 and "push rejected" in push.stderr  # still validated


def test_force_push_and_revert_are_new_desired_states(deploy_repo: DeployRepo,
                                                       client: Client) -> None:
    bare, clone = deploy_repo()
    clone.commit({"web.yaml": deployment(replicas=1)})
    clone.push("main")
    clone.commit({"web.yaml": deployment(replicas=3)})
    clone.push("main")
    reverted = clone.git("revert", "--no-edit", "HEAD") and clone.git("rev-parse", "HEAD")
    push = clone.push("main")
    assert "spec.replicas: 3 -> 1" in push.stderr
    assert (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"] == 1
    clone.git("reset", "-q", "--hard", "HEAD~2")
    clone.commit({"web.yaml": deployment(replicas=4), "other.yaml": deployment("api")})
    push = clone.push("main", force=True)
    assert push.returncode == 0 and "forced update" in push.stderr
    assert "create Deployment default/api" in push.stderr
    assert (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"] == 4
    commits = [h["source"]["commit"] for h in json.loads(
        run([GITKUBE, "history", "-o", "json"], bare.parent).stdout)]
    assert reverted in commits and len(commits) == 4


def test_failing_apply_leaves_no_lock_and_the_next_push_works(
        deploy_repo: DeployRepo, client: Client, tmp_path: Path, store_url: str) -> None:
    bare, clone = deploy_repo()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    run([GITKUBE, "repo", "init", str(bare), "--store", f"sqlite:///{blocker}/state.db"],
        tmp_path)
    clone.commit({"web.yaml": deployment()})
    push = clone.push("main")
    assert push.returncode == 0  # the ref moved; post-receive cannot undo a push
    assert "main" in push.stderr and "not applied" in push.stderr
    assert no_lock_files(bare) == []
    assert get_or_none(client, "Deployment", "web") is None
    run([GITKUBE, "repo", "init", str(bare), "--store", store_url], tmp_path)
    # `repo sync` retries the branch's tip without a new push
    proc = run([GITKUBE, "repo", "sync", str(bare)], tmp_path)
    assert "gitkube: applied" in proc.stdout
    assert (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"] == 2
    clone.commit({"web.yaml": deployment(replicas=3)})
    push = clone.push("main")
    assert "gitkube: applied" in push.stderr
    assert (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"] == 3


def test_notify_command_gets_json(deploy_repo: DeployRepo, tmp_path: Path) -> None:
    out = tmp_path / "notified.json"
    _bare, clone = deploy_repo("--notify-command", f"cat > {out}; echo notified")
    commit = clone.commit({"web.yaml": deployment()})
    push = clone.push("main")
    assert "remote: notify: notified" in push.stderr
    payload = json.loads(out.read_text())
    assert payload["kind"] == "GitkubeSync" and payload["outcome"] == "applied"
    assert payload["source"]["commit"] == commit and payload["trigger"] == "push"
    assert payload["summary"]["add"] == 1
    assert payload["changes"] == ["create Deployment default/web"]
    assert payload["author"] == "Alice Example"


def test_state_record_and_sync_status(deploy_repo: DeployRepo, client: Client,
                                      tmp_path: Path) -> None:
    bare, clone = deploy_repo()
    commit = clone.commit({"web.yaml": deployment()})
    clone.push("main")
    proc = run([GITKUBE, "sync-status"], tmp_path, check=False)
    assert str(bare) in proc.stdout and commit[:12] in proc.stdout
    assert "out of sync" not in proc.stdout
    client.update_scale("apps/v1", "Deployment", "default", "web", 5)
    proc = run([GITKUBE, "sync-status"], tmp_path, check=False)
    assert proc.returncode == 1
    assert "out of sync" in proc.stdout and "spec.replicas: 5 -> 2 (drift)" in proc.stdout
    status = run([GITKUBE, "status"], tmp_path).stdout  # the daemon's status, and GitOps
    assert "daemon: not running" in status and f"GitOps source {bare}//." in status
    assert "out of sync" in status


def test_a_push_that_would_empty_the_cluster_is_rejected(deploy_repo: DeployRepo,
                                                          client: Client) -> None:
    bare, clone = deploy_repo()
    clone.commit({"web.yaml": deployment()})
    clone.push("main")
    clone.git("rm", "-q", "web.yaml")
    clone.commit({"README.md": "nothing here\n"})
    push = clone.push("main")
    assert push.returncode != 0
    assert "would delete all 1 objects this repository deployed" in push.stderr
    assert get_or_none(client, "Deployment", "web") is not None
    run(["git", "--git-dir", str(bare), "config", "gitkube.allowEmpty", "true"], bare)
    push = clone.push("main")
    assert push.returncode == 0, push.stderr
    assert "delete Deployment default/web" in push.stderr
    assert get_or_none(client, "Deployment", "web") is None


def test_a_rejected_push_is_the_last_error(deploy_repo: DeployRepo, tmp_path: Path) -> None:
    _bare, clone = deploy_repo()
    clone.commit({"web.yaml": deployment()})
    clone.push("main")
    bad = clone.commit({"web.yaml": deployment(replicas="x")})
    assert clone.push("main").returncode != 0
    proc = run([GITKUBE, "sync-status"], tmp_path, check=False)
    assert f"invalid {bad[:12]}: push rejected" in proc.stdout
    assert "web.yaml:7:3" in proc.stdout


def test_rollback_to_a_pushed_commit_and_a_clone_plan_share_ownership(
        deploy_repo: DeployRepo, client: Client) -> None:
    bare, clone = deploy_repo("--path", "k8s")
    clone.commit({"k8s/web.yaml": deployment(replicas=1)})
    clone.push("main")
    clone.commit({"k8s/web.yaml": deployment(replicas=3), "k8s/api.yaml": deployment("api")})
    clone.push("main")
    # the clone's own plan sees the objects as its own: nothing to do, nothing to take over
    plan = json.loads(run([GITKUBE, "plan", "k8s", "-o", "json"], clone.root).stdout)
    assert plan["summary"]["add"] == plan["summary"]["change"] == 0
    assert plan["source"]["name"] == f"{bare}//k8s"
    # `gitkube rollback 1` reads the bare repository at the first commit, same ownership
    proc = run([GITKUBE, "rollback", "1", "--yes"], bare.parent)
    assert "Plan: 0 to add, 1 to change, 1 to destroy" in proc.stdout
    assert get_or_none(client, "Deployment", "api") is None
    assert (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"] == 1


def test_watch_of_a_deploy_repository_heals_its_drift(deploy_repo: DeployRepo, client: Client,
                                                     tmp_path: Path) -> None:
    import signal

    bare, clone = deploy_repo()
    log = tmp_path / "watch.log"
    with log.open("w") as out:  # no --store: the repository's configured store
        watch = subprocess.Popen([GITKUBE, "watch", str(bare), "--agents", "none",
                                  "--interval", "0"], cwd=tmp_path, stdout=out,
                                 stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})
    try:
        wait_for(lambda: "waiting for a push" in log.read_text(), what="watch started")
        clone.commit({"web.yaml": deployment(replicas=2)})
        assert "gitkube: applied" in clone.push("main").stderr
        wait_for(lambda: "[main moved]" in log.read_text(), what="the branch move seen")
        wait_for(lambda: "watching branch main of" in log.read_text(), what="watching")
        client.update_scale("apps/v1", "Deployment", "default", "web", 9)
        wait_for(lambda: "drift: Deployment default/web was changed outside git"
                 in log.read_text(), what="drift reported")
        wait_for(lambda: (get_or_none(client, "Deployment", "web") or {})["spec"]["replicas"]
                 == 2, what="drift healed from the branch's tip")
    finally:
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(15) == 0
    status = run([GITKUBE, "sync-status"], tmp_path, check=False).stdout
    assert "(push: branch main of" in status
    assert "state:         degraded" in status  # matches git; no agents ran the pods


def test_a_branch_without_the_manifest_directory(deploy_repo: DeployRepo) -> None:
    _bare, clone = deploy_repo("--path", "k8s")
    clone.commit({"README.md": "docs only\n"})
    push = clone.push("HEAD:refs/heads/docs")
    assert push.returncode == 0 and "no k8s/ on this branch; nothing to validate" in push.stderr
    push = clone.push("main")  # the deploy branch must hold its manifests
    assert push.returncode != 0 and "k8s does not exist at revision" in push.stderr
