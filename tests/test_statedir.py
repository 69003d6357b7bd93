"""The state directory and the store are private (they hold Secrets): 0700 and 0600 when
gitkube makes them, and made so, with a warning, when an existing one could be read by
others — after `apply`, `up` and `repo init` + `git push`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitkube.statedir import secure_dir, secure_file

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n" \
            "data: {token: not-for-others}\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def gitkube(state: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITKUBE_")}
    env.update(GITKUBE_STATE_DIR=str(state), GITKUBE_NO_DAEMON="1")
    return subprocess.run([sys.executable, "-m", "gitkube.cli.main", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(0o022))  # a common umask


def manifests(tmp_path: Path) -> Path:
    root = tmp_path / "m"
    root.mkdir()
    (root / "c.yaml").write_text(CONFIGMAP)
    return root


def test_apply_makes_a_private_state_directory_and_store(tmp_path: Path) -> None:
    state = tmp_path / "new" / "state"
    result = gitkube(state, "apply", "--yes", "--no-wait", str(manifests(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert mode(state) == 0o700
    db = state / "state.db"
    assert mode(db) == 0o600
    for suffix in ("-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():  # SQLite gives them the database's mode
            assert mode(Path(f"{db}{suffix}")) == 0o600
    assert "warning" not in result.stderr


def test_an_existing_world_readable_state_is_fixed_and_said(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert gitkube(state, "apply", "--yes", "--no-wait",
                   str(manifests(tmp_path))).returncode == 0
    os.chmod(state, 0o755)
    os.chmod(state / "state.db", 0o644)  # what an older gitkube left
    result = gitkube(state, "get", "cm")
    assert result.returncode == 0, result.stderr
    assert mode(state) == 0o700 and mode(state / "state.db") == 0o600
    assert f"warning: {state} could be read by other users (mode 0755); it is 0700 now" \
        in result.stderr
    assert "state.db could be read by other users (mode 0644); it is 0600 now" in result.stderr
    again = gitkube(state, "get", "cm")
    assert "warning" not in again.stderr  # said once


def test_up_keeps_the_daemon_state_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = gitkube(state, "up", "--runtime", "simulated", "--no-kubelet", "--listen", "none")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert mode(state) == 0o700
        for name in ("state.db", "daemon.log", "daemon.json"):
            assert mode(state / name) & 0o077 == 0, name
    finally:
        down = gitkube(state, "down")
        assert down.returncode == 0, down.stderr


def test_a_deploy_repository_keeps_its_state_private(tmp_path: Path) -> None:
    state = tmp_path / "deploy-state"
    bare = tmp_path / "deploy.git"
    assert gitkube(state, "repo", "init", str(bare)).returncode == 0
    assert mode(state) == 0o700
    work = tmp_path / "work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True,
                   capture_output=True)
    (work / "c.yaml").write_text(CONFIGMAP)
    subprocess.run([*git, "add", "."], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=work, check=True)
    push = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work,
                          capture_output=True, text=True, timeout=120)
    assert push.returncode == 0, push.stderr
    assert mode(state / "state.db") == 0o600


@pytest.mark.parametrize("start", [0o755, 0o750, 0o700])
def test_secure_dir(tmp_path: Path, start: int) -> None:
    path = tmp_path / "d"
    path.mkdir()
    os.chmod(path, start)
    notes = secure_dir(path)
    assert mode(path) == 0o700
    assert bool(notes) == (start != 0o700)


def test_secure_file_leaves_a_missing_file_alone(tmp_path: Path) -> None:
    assert secure_file(tmp_path / "absent") == []
    assert not (tmp_path / "absent").exists()
