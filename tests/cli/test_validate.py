"""`gitkube validate`: exit codes, the text and JSON reports, and no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.cliapp import app
from tests.gitrepo import GitRepo

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\n"
TYPO_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      contianers:
        - name: web
          image: localhost/web:1
"""


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["validate", *args])


def gitkube(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitkube.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def bad_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ns.yaml").write_text(NS)
    (root / "web.yaml").write_text(TYPO_DEPLOYMENT)
    (root / "broken.yaml").write_text(CM.format(name="ok") + "---\ndata: [\n")
    return root


def test_the_example_manifests_are_valid() -> None:
    result = invoke(str(REPO / "manifests"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid: ")


def test_problems_are_listed_sorted_with_positions_and_a_summary(tmp_path: Path) -> None:
    root = bad_tree(tmp_path / "m")
    result = invoke(str(root))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    heads = [line for line in lines if not line.startswith(" ")]
    assert heads[0].startswith(f"{root}/broken.yaml:8:")
    typo = next(line for line in heads if "contianers" in line)
    assert typo.startswith(f"{root}/web.yaml:13:7: Deployment/web: ")
    assert any(line.strip().startswith("hint: ") and "containers" in line for line in lines)
    files = [h.split(":")[0] for h in heads[:-1]]
    assert files == sorted(files)
    assert heads[-1].startswith("invalid: ") and "3 files" in heads[-1]


def test_paths_are_shown_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_tree(tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    assert invoke("m").output.startswith("m/broken.yaml:8:")
    monkeypatch.chdir(tmp_path / "m")
    assert invoke().output.startswith("broken.yaml:8:")


def test_json_output_is_the_documented_structure(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bad_tree(tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    result = invoke("m", "--output", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert set(data) == {"valid", "documents", "files", "errors", "warnings", "revision",
                         "diagnostics"}
    assert data["valid"] is False and data["files"] == 3 and data["revision"] is None
    assert data["errors"] == len(data["diagnostics"]) >= 2
    first = data["diagnostics"][0]
    assert set(first) == {"severity", "code", "message", "file", "line", "column", "object",
                          "path", "hint"}
    assert (first["file"], first["line"], first["code"]) == ("m/broken.yaml", 8, "yaml-syntax")
    clean = invoke(str(REPO / "manifests"), "-o", "json")
    assert clean.exit_code == 0 and json.loads(clean.output)["valid"] is True


def test_revision(git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    good = repo.commit(files={"m/ns.yaml": NS, "m/cm.yaml": CM.format(name="a")})
    repo.write({"m/cm.yaml": "data: ["})
    assert invoke(str(repo.root / "m")).exit_code == 1
    result = invoke(str(repo.root / "m"), "--revision", good[:8])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"valid: 2 files, 2 documents at {good[:12]}"
    data = json.loads(invoke(str(repo.root / "m"), "-r", "HEAD", "-o", "json").output)
    assert data["revision"] == good


@pytest.mark.parametrize(("args", "message"), [
    (["validate", "does-not-exist"], "does not exist"),
    (["validate", "ns.yaml"], "is not a directory"),
    (["validate", ".", "--revision", "HEAD"], "needs a git repository"),
    (["validate", "--output", "xml"], "xml"),
])
def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path, args: list[str],
                                                 message: str) -> None:
    (tmp_path / "ns.yaml").write_text(NS)
    proc = gitkube(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_unknown_revision_exits_2(git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    repo.commit(files={"ns.yaml": NS})
    proc = gitkube("validate", ".", "-r", "v9.9.9", cwd=repo.root)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown revision 'v9.9.9'") and "hint:" in proc.stderr


def test_every_bad_input_is_reported_not_raised(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi",
                                                                      strict=True)]
    files: dict[str, bytes] = {
        "syntax.yaml": b"a: [\n",
        "tabs.yaml": b"kind: Pod\nmetadata:\n\tname: x\n",
        "dupes.yaml": b"kind: Pod\nkind: Pod\n",
        "bomb.yaml": ("\n".join(laughs) + "\n").encode(),
        "scalar.yaml": b"just a string\n",
        "binary.yaml": b"\x00\x01\x02",
        "latin1.yaml": "name: \xe9\n".encode("latin-1"),
        "nokind.yaml": b"metadata: {name: x}\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (tmp_path / "secret.yaml").write_text(NS)
    (root / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    proc = gitkube("validate", str(root), "-o", "json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    by_file = {Path(d["file"]).name: d["code"] for d in json.loads(proc.stdout)["diagnostics"]}
    assert by_file == {
        "syntax.yaml": "yaml-syntax", "tabs.yaml": "yaml-syntax",
        "dupes.yaml": "yaml-duplicate-key", "bomb.yaml": "yaml-alias-bomb",
        "scalar.yaml": "not-a-mapping", "binary.yaml": "binary-file",
        "latin1.yaml": "encoding", "nokind.yaml": "missing-type",
        "link.yaml": "symlink-outside",
    }


def test_the_command_keeps_its_cache_in_the_state_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second run of an unchanged tree reuses what the first one parsed and checked (the
    cache under GITKUBE_STATE_DIR/cache), and says the same."""
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(tmp_path / "state"))
    root = bad_tree(tmp_path / "m")
    first = invoke(str(root))
    cached = sorted(p.name.rsplit(".", 2)[-2] for p in (tmp_path / "state" / "cache").iterdir())
    assert cached == ["blobs", "index"]
    assert invoke(str(root)).output == first.output
