"""ServiceAccounts: validated, planned, applied before the pods that name them, listed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.api.local import LocalClient
from gitkube.cli.main import app
from gitkube.errors import GitkubeError
from gitkube.store import open_store

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: worker, namespace: default}
spec:
  serviceAccountName: robot
  automountServiceAccountToken: false
  containers:
    - name: main
      image: "localhost/gitkube-example:1"
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: default}
secrets:
  - name: robot-token
"""


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalClient]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("GITKUBE_STORE", url)
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(tmp_path / "state"))
    yield LocalClient(open_store(url))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if isinstance(result.exception, GitkubeError):
        return 1, result.output + "error: " + result.exception.render()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_a_service_account_is_applied_before_the_pod_and_listed(
        client: LocalClient, tmp_path: Path) -> None:
    src = tmp_path / "m"
    src.mkdir()
    (src / "app.yaml").write_text(MANIFEST)
    code, out = run("validate", str(src))
    assert code == 0, out
    code, out = run("apply", str(src), "--yes", "--no-wait")
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.strip().startswith("+")]
    assert [line.split()[1] for line in lines] == ["ServiceAccount", "Pod"]
    assert client.get("v1", "ServiceAccount", "default", "robot")["secrets"] == [
        {"name": "robot-token"}]
    code, out = run("get", "sa", "-n", "default")
    assert code == 0
    assert out.split() == ["NAME", "SECRETS", "AGE", "robot", "1", out.split()[-1]]


def test_asking_for_a_token_is_refused_with_the_reason(tmp_path: Path) -> None:
    src = tmp_path / "m"
    src.mkdir()
    (src / "sa.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n"
                                 "  name: robot\n  namespace: default\n"
                                 "automountServiceAccountToken: true\n")
    code, out = run("validate", str(src))
    assert code == 1
    assert "sa.yaml:6:1" in out
    assert "mounts no service account tokens" in out
