"""Real git repositories and pushes for the GitOps tests: the gitkube command, a deployment
manifest, bounded polling, and a clone that pushes under a minimal environment."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.client import Client
from gitkube.errors import NotFound

GITKUBE = str(Path(sys.executable).parent / "gitkube")
MINIMAL_PATH = "/usr/bin:/bin"


def deployment(name: str = "web", *, image: str = "localhost/web:1", replicas: int | str = 2,
               namespace: str = "default") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: {image}
"""


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.05)


def run(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


class Clone:
    """A work tree cloned from the deploy repository; pushes run under ``env -i`` with only
    PATH set, the way a hook may be run by git on a server."""

    def __init__(self, root: Path):
        self.root = root

    def git(self, *args: str, check: bool = True) -> str:
        return run(["git", "-c", "user.name=Alice Example", "-c", "user.email=alice@example.com",
                    "-c", "commit.gpgsign=false", *args], self.root, check=check).stdout.strip()

    def commit(self, files: dict[str, str], message: str = "change",
               author: str = "Alice Example") -> str:
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        run(["git", "add", "-A"], self.root)
        run(["git", "-c", f"user.name={author}", "-c", "user.email=dev@example.com",
             "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message],
            self.root)
        return self.git("rev-parse", "HEAD")

    def push(self, *refspec: str, force: bool = False) -> subprocess.CompletedProcess[str]:
        """``env -i PATH=/usr/bin:/bin git push origin REFSPEC``; output in stderr."""
        args = ["git", "push", *(["--force"] if force else []), "origin", *refspec]
        return run(args, self.root, env={"PATH": MINIMAL_PATH}, check=False)


def get_or_none(client: Client, kind: str, name: str, namespace: str = "default",
                api_version: str = "apps/v1") -> dict[str, Any] | None:
    try:
        return client.get(api_version, kind, namespace, name)
    except NotFound:
        return None


def store_revision(client: Client) -> str:
    return client.list("v1", "Namespace").resource_version


def no_lock_files(bare: Path) -> list[str]:
    return [str(p.relative_to(bare)) for p in bare.rglob("*.lock")]
