"""The runtime and the kubelet read no settings themselves: no environment variable, no
state directory. Their callers (the CLI, the daemon) read them once and pass them in. The
only use of the environment left is handing it, whole, to the podman processes gitkube
starts (a child inherits its parent's environment)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gitkube"
OWNED = sorted([*(PACKAGE / "runtime").glob("*.py"),
                *(PACKAGE / "agents" / "kubelet").glob("*.py")])


def _reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute) and node.attr in ("getenv", "environb"):
            found.append(f"{where}: os.{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "environ":
            parent = parents.get(node)
            if isinstance(parent, ast.Attribute | ast.Subscript | ast.Compare):
                found.append(f"{where}: reads os.environ")  # .get(...), [...], `in`
        elif isinstance(node, ast.Name | ast.Attribute) and \
                (getattr(node, "id", None) or getattr(node, "attr", None)) == "state_dir":
            found.append(f"{where}: state_dir")
        elif isinstance(node, ast.ImportFrom) and node.module == "gitkube.config":
            found.append(f"{where}: imports gitkube.config")
    return found


@pytest.mark.parametrize("path", OWNED, ids=[p.name for p in OWNED])
def test_no_settings_read_here(path: Path) -> None:
    assert _reads(path) == []


def test_the_check_sees_a_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom gitkube.config import state_dir\n"
                      "x = os.environ.get('A')\ny = state_dir()\nz = 'A' in os.environ\n"
                      "env = dict(os.environ)\n", encoding="utf-8")
    assert sorted(_reads(sample)) == [
        "sample.py:2: imports gitkube.config", "sample.py:3: reads os.environ",
        "sample.py:4: state_dir", "sample.py:5: reads os.environ"]
